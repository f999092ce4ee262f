"""Scoring: reading events.jsonl, every field rule, matching, event and slot figures, comparing runs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from extract.aliases import Aliases
from extract.errors import InputError
from extract.schema import Event
from extract.tasks.military import TASK

parse_event = TASK.parse_event  # noqa: E305
from extract.documents import Article
from extract.score import (
    SCORES_FORMAT,
    Quote,
    Scores,
    compare,
    compare_fields,
    event_key,
    load_scores,
    make_pair,
    match_events,
    read_events,
    score_run,
)

ALIASES = Aliases(
    {
        "United States": ("US", "U.S.", "Pentagon", "Washington"),
        "Coalition": ("US-led coalition", "international coalition"),
        "Coalition partners": ("US allies",),
        "Iraq": ("Iraqi forces", "Baghdad"),
    }
)


def ev(**fields: Any) -> Event:
    return parse_event(fields)


def troops(
    count: int = 3000, *, force: str = "Coalition", country: str = "Iraq", place: str | None = None, **extra: Any
) -> Event:
    return ev(
        type="troop_level",
        evidence=extra.pop("evidence", "troops are in the country"),
        force=force,
        location={"country": country, "place": place},
        count=count,
        **extra,
    )


def attack(target: str = "a convoy", *, means: str = "drone", **extra: Any) -> Event:
    extra.setdefault("evidence", "the attack")
    return ev(type="attack", target=target, means=means, **extra)


def decision(actor: str = "Iraq", *, kind: str = "legislation", **extra: Any) -> Event:
    extra.setdefault("summary", "bill demanding withdrawal of foreign forces")
    extra.setdefault("evidence", "the decision")
    return ev(type="political_decision", actor=actor, kind=kind, **extra)


GOLD: dict[str, list[Event]] = {
    "a#1": [
        troops(3000, date="2021-01-15"),
        troops(2500, force="United States"),
        attack("Qasem Soleimani", means="airstrike", attacker="United States", date="2020-01"),
        decision("Iraq", date="2020-01-05", parties=["Iraq", "United States"]),
    ],
    "b#1": [
        ev(
            type="casualty_toll",
            evidence="3,000 killed",
            population="people in Lebanon",
            killed=3000,
            qualifier="more_than",
        ),
        ev(
            type="personnel_change",
            evidence="the dismissal of Mark Esper",
            person="Mark Esper",
            role="Defense Secretary",
            kind="dismissed",
        ),
    ],
    "c#1": [],
}


def score(predicted: dict[str, list[Event]], gold: dict[str, list[Event]] | None = None) -> Scores:
    return score_run(predicted, GOLD if gold is None else gold, aliases=ALIASES)


def field(gold: Event, predicted: Event, name: str) -> tuple[bool, float]:
    f = next(f for f in compare_fields(gold, predicted, aliases=ALIASES) if f.field == name)
    return f.strict, f.lenient


def floats(data: Any) -> list[float]:
    if isinstance(data, float):
        return [data]
    if isinstance(data, dict):
        return [x for v in data.values() for x in floats(v)]
    if isinstance(data, list):
        return [x for v in data for x in floats(v)]
    return []


# --- whole runs ----------------------------------------------------------------------------


def test_gold_against_itself_is_perfect_everywhere() -> None:
    data = score(GOLD).to_json()
    for level in ("strict", "lenient", "slots"):
        assert (data[level]["precision"], data[level]["recall"], data[level]["f1"]) == (1.0, 1.0, 1.0)
        assert data[level]["fp"] == data[level]["fn"] == 0
        assert data["macro"][level] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    for part in (*data["by_type"].values(), *data["by_article"].values()):
        assert part["strict"]["f1"] == part["lenient"]["f1"] == part["slots"]["f1"] == 1.0
    assert data["ci95"]["strict_f1"] == data["ci95"]["lenient_f1"] == [1.0, 1.0]
    assert data["counts"]["matched"] == data["counts"]["matched_strict"] == data["counts"]["gold"] == 6
    assert data["counts"]["missed"] == data["counts"]["spurious"] == 0


def test_empty_prediction_has_zero_recall() -> None:
    data = score({}).to_json()
    for level in ("strict", "lenient", "slots"):
        assert data[level]["recall"] == 0.0
        assert data[level]["f1"] == 0.0
        assert data[level]["tp"] == 0
    assert data["counts"]["missed"] == 6
    assert data["counts"]["articles_without_predictions"] == ["a#1", "b#1", "c#1"]
    # An article with nothing to find and nothing found is perfect, not undefined.
    assert data["by_article"]["c#1"]["lenient"]["f1"] == 1.0
    assert len(data["details"]["a#1"]["missed"]) == 4


def test_scores_do_not_depend_on_prediction_order() -> None:
    predicted = {
        "a#1": [
            troops(3000),
            troops(3050),
            troops(2500, force="US"),
            troops(2400, force="United States"),
            attack("Qasem Soleimani", means="airstrike"),
            attack("Soleimani", means="airstrike", attacker="Pentagon"),
            decision("Baghdad", parties=["United States", "Iraq"]),
            decision("Iraq", kind="demand"),
        ],
        "b#1": [ev(type="casualty_toll", evidence="x", population="people in Lebanon", killed=3010)],
    }
    reference = json.dumps(score(predicted).to_json(), sort_keys=True)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = {k: rng.sample(v, len(v)) for k, v in predicted.items()}
        assert json.dumps(score(shuffled).to_json(), sort_keys=True) == reference


def test_a_close_count_loses_only_the_strict_match() -> None:
    gold = {"a#1": [troops(3000)]}
    data = score({"a#1": [troops(3050)]}, gold).to_json()
    assert (data["strict"]["tp"], data["strict"]["fp"], data["strict"]["fn"]) == (0, 1, 1)
    assert (data["lenient"]["tp"], data["lenient"]["fp"], data["lenient"]["fn"]) == (1, 0, 0)
    pair = data["details"]["a#1"]["matched"][0]
    count = next(f for f in pair["fields"] if f["field"] == "count")
    assert (count["strict"], count["lenient"], count["key"]) == (False, 1.0, True)
    # 3200 is 6.7% off: not even lenient; the pair is kept only as a near miss.
    far = score({"a#1": [troops(3200)]}, gold).to_json()
    assert far["lenient"]["tp"] == 0 and far["counts"]["missed"] == far["counts"]["spurious"] == 1
    assert len(far["details"]["a#1"]["near_misses"]) == 1


def test_type_mismatch_never_matches() -> None:
    gold = {"a#1": [troops(3000)]}
    wrong = ev(
        type="operations_tally", evidence="Coalition has 3000 troops", actor="Coalition", kind="operations", count=3000
    )
    data = score({"a#1": [wrong]}, gold).to_json()
    assert data["lenient"]["tp"] == data["strict"]["tp"] == 0
    assert data["details"]["a#1"]["near_misses"] == []
    assert data["by_type"]["operations_tally"]["counts"]["spurious"] == 1
    assert data["by_type"]["troop_level"]["counts"]["missed"] == 1
    with pytest.raises(ValueError):
        compare_fields(troops(), wrong, aliases=ALIASES)


def test_dissimilar_same_type_events_are_not_paired() -> None:
    unrelated = troops(90, force="Hamas", country="Lebanon", qualifier="about")
    pairs = match_events([troops(3000)], [unrelated], aliases=ALIASES)
    assert pairs == ()


def test_the_assignment_prefers_lenient_then_strict_matches() -> None:
    gold = [troops(3000), troops(2000)]
    # The first prediction is close to both golds; only pairing it with 3000 lets the second match too.
    predicted = [troops(2950), troops(2000)]
    pairs = match_events(gold, predicted, aliases=ALIASES)
    found = [(p.gold_index, p.pred_index, p.strict, p.lenient) for p in pairs]
    assert found == [(0, 0, False, True), (1, 1, True, True)]
    # Two equally lenient candidates: the strict one wins.
    pairs = match_events([troops(3000)], [troops(3050), troops(3000)], aliases=ALIASES)
    assert [(p.pred_index, p.strict) for p in pairs] == [(1, True)]


def test_gold_articles_missing_from_the_run_are_missed_and_extra_articles_ignored() -> None:
    data = score({"a#1": GOLD["a#1"], "zzz#1": [troops()]}).to_json()
    assert data["counts"]["articles_not_in_gold"] == ["zzz#1"]
    assert "zzz#1" not in data["by_article"]
    assert data["counts"]["predicted"] == 4
    assert data["by_article"]["b#1"]["counts"]["missed"] == 2
    assert data["lenient"]["fn"] == 2 and data["lenient"]["fp"] == 0


# --- field rules ---------------------------------------------------------------------------


def test_date_precision_mismatch_is_partial_credit() -> None:
    gold = troops(date="2021-01-15")
    assert field(gold, troops(date="2021-01-15"), "date") == (True, 1.0)
    assert field(gold, troops(date="2021-01"), "date") == (False, 0.5)
    assert field(gold, troops(date="2021"), "date") == (False, 0.5)
    assert field(gold, troops(date="2021-02"), "date") == (False, 0.0)
    assert field(gold, troops(date="2020"), "date") == (False, 0.0)
    toll = ev(type="casualty_toll", evidence="x", population="civilians", period_start="2023-10")
    assert field(toll, toll.model_copy(update={"period_start": "2023-10-07"}), "period_start") == (False, 0.5)
    # The half credit shows in slot scores: 4 of 5 predicted slots right, one half right.
    data = score({"a#1": [troops(3000, date="2021-01")]}, {"a#1": [troops(3000, date="2021-01-15")]}).to_json()
    assert data["strict"]["tp"] == 1
    assert data["slots"]["tp"] == 4.5 and data["slots"]["precision"] == 0.9


def test_actor_aliases_are_canonicalized() -> None:
    gold = troops(force="United States")
    assert field(gold, troops(force="Pentagon"), "force") == (True, 1.0)
    assert field(gold, troops(force="pentagon "), "force") == (True, 1.0)
    assert field(gold, troops(force="U.S."), "force") == (True, 1.0)
    assert field(troops(country="Iraq"), troops(country="baghdad"), "location.country") == (True, 1.0)
    data = score({"a#1": [troops(2500, force="Pentagon")]}, {"a#1": [troops(2500, force="United States")]}).to_json()
    assert data["strict"]["f1"] == 1.0


def test_two_known_actors_never_match_fuzzily() -> None:
    assert field(troops(force="Coalition"), troops(force="Coalition partners"), "force") == (False, 0.0)
    assert field(troops(force="Coalition"), troops(force="US allies"), "force") == (False, 0.0)


def test_unknown_actor_names_match_fuzzily_in_lenient_mode() -> None:
    gold = decision("Muqtada al-Sadr")
    assert field(gold, decision("Muqtada al Sadr"), "actor") == (False, 1.0)
    assert field(gold, decision("Sadrist movement"), "actor") == (False, 0.0)


def test_actor_lists_compare_as_sets() -> None:
    gold = decision(parties=["Iraq", "United States"])
    assert field(gold, decision(parties=["US", "Baghdad", "Iraq"]), "parties") == (True, 1.0)
    assert field(gold, decision(parties=["Iraq"]), "parties") == (False, 0.5)
    assert field(gold, decision(parties=["Hamas", "Israel"]), "parties") == (False, 0.0)


def test_integers_within_five_percent_are_lenient() -> None:
    gold = troops(3000)
    assert field(gold, troops(3000), "count") == (True, 1.0)
    assert field(gold, troops(3150), "count") == (False, 1.0)
    assert field(gold, troops(2850), "count") == (False, 1.0)
    assert field(gold, troops(3151), "count") == (False, 0.0)


def test_free_text_is_normalized_then_fuzzy() -> None:
    gold = attack("Qasem Soleimani")
    assert field(gold, attack("  qasem   SOLEIMANI "), "target") == (True, 1.0)
    assert field(gold, attack("Iranian General Qasem Soleimani"), "target") == (False, 1.0)
    assert field(gold, attack("a checkpoint"), "target") == (False, 0.0)
    role = ev(type="personnel_change", evidence="x", person="Mark Esper", role="Defense Secretary", kind="dismissed")
    assert field(role, role.model_copy(update={"role": "defence secretary"}), "role") == (False, 1.0)


def test_enums_are_exact() -> None:
    assert field(attack(means="drone"), attack(means="drone"), "means") == (True, 1.0)
    assert field(attack(means="drone"), attack(means="missile"), "means") == (False, 0.0)
    pair = make_pair(attack(means="drone"), attack(means="missile"), aliases=ALIASES)
    assert not pair.strict and not pair.lenient


def test_absent_optional_fields_are_not_penalized() -> None:
    gold = {"a#1": [troops(3000)]}
    same = score({"a#1": [troops(3000)]}, gold).to_json()
    # force, country, count, qualifier: place and date are absent on both sides and not counted.
    assert (same["slots"]["tp"], same["slots"]["fp"], same["slots"]["fn"]) == (4, 0, 0)
    extra = score({"a#1": [troops(3000, date="2021")]}, gold).to_json()
    assert (extra["slots"]["tp"], extra["slots"]["fp"], extra["slots"]["fn"]) == (4, 1, 0)
    assert extra["strict"]["f1"] == 1.0
    assert field(troops(), troops(), "location.place") == (True, 1.0)
    assert field(troops(), troops(place="Anbar"), "location.place") == (False, 0.0)


def test_evidence_is_not_a_slot() -> None:
    other = troops(3000).model_copy(update={"evidence": "Troops are in the country, officials say"})
    data = score({"a#1": [other]}, {"a#1": [troops(3000)]}).to_json()
    assert data["strict"]["f1"] == data["slots"]["f1"] == 1.0


# --- evidence ------------------------------------------------------------------------------

TWO_DEMANDS = (
    "Iraqi lawmaker Ahmed Hassan called for full withdrawal of US forces. "
    "Separately, Foreign Minister Ali Kareem called on the US to dispatch a delegation to Baghdad."
)


def article(text: str, id: str = "a#1") -> Article:
    return Article(id=id, title=text.split(".")[0], text=text, source="a.txt", runs=((0, 0, len(text)),))


def demand(evidence: str) -> Event:
    return decision("Iraq", kind="demand", evidence=evidence, summary="a demand of the United States")


def test_same_key_fields_with_quotes_of_different_facts_do_not_match() -> None:
    gold = {"a#1": [demand("called for full withdrawal of US forces")]}
    predicted = {"a#1": [demand("called on the US to dispatch a delegation to Baghdad")]}
    for articles in (None, [article(TWO_DEMANDS)]):  # located in the text, and by the quotes alone
        data = score_run(predicted, gold, aliases=ALIASES, articles=articles).to_json()
        assert data["lenient"]["tp"] == data["strict"]["tp"] == 0
        (near,) = data["details"]["a#1"]["near_misses"]
        assert near["evidence"] == "different"


def test_a_fact_restated_in_another_sentence_still_matches() -> None:
    text = "US to cut its troops in Iraq to 3,000. The Pentagon said it would cut the number of its troops in Iraq to 3,000 by September."
    level = dict(type="troop_level", force="United States", location={"country": "Iraq"}, count=3000)
    gold = {"a#1": [ev(**level, evidence="The Pentagon said it would cut the number of its troops in Iraq to 3,000 by September.")]}
    headline = {"a#1": [ev(**level, evidence="US to cut its troops in Iraq to 3,000.")]}
    data = score_run(headline, gold, aliases=ALIASES, articles=[article(text)]).to_json()
    assert data["strict"]["tp"] == 1
    assert data["details"]["a#1"]["matched"][0]["evidence"] == "restated"
    assert data["evidence"] == {"matched": 1, "overlap": 0, "restated": 1, "overlap_share": 0.0}
    # Another number is another fact, even in a sentence of the same words.
    body = Quote.of("Officials said the US will cut its troops in Iraq to 3,000.")
    assert body.restates(Quote.of("US cuts troops in Iraq to 3,000"))
    assert not body.restates(Quote.of("US cuts troops in Iraq to 2,500"))


def test_the_assignment_prefers_the_prediction_whose_quote_overlaps() -> None:
    gold = [demand("called for full withdrawal of US forces")]
    headline = demand("Iraq demands full withdrawal of US forces")  # restates the fact, does not overlap
    same = demand("lawmaker Ahmed Hassan called for full withdrawal")
    text = "Iraq demands full withdrawal of US forces. " + TWO_DEMANDS
    (pair,) = match_events(gold, [headline, same], aliases=ALIASES, article=article(text))
    assert (pair.pred_index, pair.evidence, pair.strict) == (1, "overlap", True)


def test_gold_against_itself_with_its_article_overlaps_everywhere() -> None:
    text = "Iraqi lawmaker Ahmed Hassan called for full withdrawal of US forces. Troops are in the country."
    gold = {"a#1": [demand("called for full withdrawal of US forces"), troops(3000)]}
    data = score_run(gold, gold, aliases=ALIASES, articles=[article(text)]).to_json()
    assert data["strict"]["f1"] == data["lenient"]["f1"] == data["slots"]["f1"] == 1.0
    assert data["evidence"]["overlap_share"] == 1.0


def test_gold_is_scoped_to_the_input() -> None:
    one = [article("Troops are in the country.", id="a#1"), article("An unlabeled article.", id="new#1")]
    data = score_run({"a#1": GOLD["a#1"]}, GOLD, aliases=ALIASES, articles=one).to_json()
    assert data["counts"]["gold_not_in_input"] == ["b#1", "c#1"]
    assert data["counts"]["articles_not_in_gold"] == ["new#1"]
    assert sorted(data["by_article"]) == ["a#1"]
    assert data["lenient"]["fn"] == 0 and data["counts"]["gold"] == len(GOLD["a#1"])


def test_the_confusion_table_pairs_types_that_share_evidence() -> None:
    quote = "Coalition has 3000 troops"
    gold = {"a#1": [troops(3000, evidence=quote), attack()]}
    tally = ev(type="operations_tally", evidence=quote, actor="Coalition", kind="operations", count=3000)
    data = score({"a#1": [tally]}, gold).to_json()
    assert data["confusion"] == {"attack": {"none": 1}, "troop_level": {"operations_tally": 1}}


def test_slot_denominators_count_spurious_and_missed_events() -> None:
    gold = {"a#1": [troops(3000), attack("a convoy")]}  # 4 + 2 filled slots
    predicted = {"a#1": [troops(3000), decision("Iraq")]}  # 4 matched + 3 spurious (actor, kind, summary)
    data = score(predicted, gold).to_json()
    assert (data["slots"]["tp"], data["slots"]["fp"], data["slots"]["fn"]) == (4, 3, 2)
    assert data["slots"]["precision"] == round(4 / 7, 4)
    assert data["slots"]["recall"] == round(4 / 6, 4)


# --- output --------------------------------------------------------------------------------


def test_to_json_is_rounded_deterministic_and_complete() -> None:
    predicted = {"a#1": [troops(3050), attack("Soleimani", means="airstrike")], "b#1": GOLD["b#1"][:1]}
    first, second = score(predicted).to_json(), score(predicted).to_json()
    assert first == second
    assert first["format"] == SCORES_FORMAT
    assert {"strict", "lenient", "slots", "by_type", "by_article", "counts", "macro", "ci95", "details"} <= set(first)
    assert set(first["strict"]) == {"precision", "recall", "f1", "tp", "fp", "fn"}
    assert all(round(x, 4) == x for x in floats(first))
    low, high = first["ci95"]["lenient_f1"]
    assert 0.0 <= low <= first["lenient"]["f1"] <= high <= 1.0
    details = first["details"]["a#1"]
    assert {"matched", "near_misses", "missed", "spurious", "in_run"} <= set(details)
    assert details["matched"][0]["key"] == event_key(troops(3000))
    json.dumps(first)


def test_load_scores_checks_the_format(tmp_path: Path) -> None:
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(score(GOLD).to_json()), encoding="utf-8")
    assert load_scores(path)["strict"]["f1"] == 1.0
    path.write_text('{"strict": {}}', encoding="utf-8")
    with pytest.raises(InputError):
        load_scores(path)


# --- reading events.jsonl ------------------------------------------------------------------


def _line(article_id: str, event: dict[str, Any]) -> str:
    record = {
        "article_id": article_id,
        "event": event,
        "format": "extract.events/1",
        "span": {"status": "exact", "score": 100.0, "start": 0, "end": 5},
        "source": "seeds/a.txt",
    }
    return json.dumps(record, sort_keys=True)


GOOD = troops(3000).model_dump(mode="json")


def test_read_events_groups_by_article(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [_line("a#1", GOOD), "", _line("b#1", GOOD), _line("a#1", GOOD)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events = read_events(path, task=TASK)
    assert {k: len(v) for k, v in events.items()} == {"a#1": 2, "b#1": 1}
    assert events["a#1"][0] == troops(3000)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"article_id": "a#1", ', "corrupt JSON line"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"article_id": "a#1", "format": "extract.events/1"}), "missing key(s): event"),
        (json.dumps({"article_id": "a#1", "event": GOOD, "format": "other/9"}), "format"),
        (_line("a#1", {**GOOD, "count": "many"}), "count"),
        (_line("a#1", {**GOOD, "type": "parade"}), "invalid event"),
        (_line("", GOOD), "article_id"),
    ],
)
def test_malformed_line_names_its_number(tmp_path: Path, bad: str, message: str) -> None:
    path = tmp_path / "events.jsonl"
    lines = [_line("a#1", GOOD), _line("a#1", GOOD), bad, _line("a#1", GOOD)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_events(path, task=TASK)
    assert info.value.line == 3
    assert f"{path}:3:" in str(info.value)
    assert message in str(info.value)


def test_missing_events_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_events(tmp_path / "nope.jsonl", task=TASK)


# --- comparing runs ------------------------------------------------------------------------


def test_compare_reports_gains_losses_and_regressions() -> None:
    a = score({"a#1": [troops(3000), troops(2500, force="US")]}).to_json()
    b = score({"a#1": [troops(3050), attack("Qasem Soleimani", means="airstrike", attacker="Pentagon")]}).to_json()
    comparison = compare(a, b)
    (change,) = comparison.changes
    assert change.article_id == "a#1"
    assert change.gained == (event_key(GOLD["a#1"][2]),)
    assert change.lost == (event_key(GOLD["a#1"][1]),)
    assert set(change.lost_strict) == {event_key(GOLD["a#1"][0]), event_key(GOLD["a#1"][1])}
    assert change.gained_strict == (event_key(GOLD["a#1"][2]),)
    strict = comparison.metric("strict.f1")
    assert strict.a == a["strict"]["f1"] and strict.b == b["strict"]["f1"]
    assert strict.delta == round(b["strict"]["f1"] - a["strict"]["f1"], 4) < 0
    assert comparison.metric("lenient.f1").delta == 0.0
    assert comparison.is_regression(0.01)
    assert not comparison.is_regression(abs(strict.delta))
    assert not compare(b, a).is_regression(0.0)
    assert not compare(a, a).is_regression(0.0) and compare(a, a).changes == ()
    assert {"attack", "troop_level"} <= set(comparison.by_type)
    attack_f1 = next(m for m in comparison.by_type["attack"] if m.name == "lenient.f1")
    assert attack_f1.a == 0.0 and attack_f1.b == 1.0
    json.dumps(comparison.to_json())


def test_compare_rejects_other_documents() -> None:
    with pytest.raises(InputError):
        compare({"strict": {}}, score(GOLD).to_json())
