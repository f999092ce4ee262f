"""The gold file: loading with line numbers, every kind of checker problem, aliases, round-trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from extract.errors import InputError
from extract.gold import (
    GOLD_FORMAT,
    Aliases,
    GoldArticle,
    Problem,
    check_gold,
    dump_gold,
    load_gold,
)
from extract.schema import Event
from extract.tasks.military import TASK

parse_event = TASK.parse_event  # noqa: E305
from extract.documents import Article, load_documents

REPO = Path(__file__).resolve().parents[1]

ARTICLES = [
    Article(
        id="a#1",
        title="Troops leave",
        text="Troops leave\n\nThe US-led coalition has 3,000 troops in Iraq. Washington said it would “stay”.",
        source="seeds/a.txt",
    ),
    Article(id="b#1", title="Quiet day", text="Quiet day\n\nNothing happened.", source="seeds/b.txt"),
]

ALIASES = Aliases(
    {
        "United States": ("US", "U.S.", "Washington"),
        "Coalition": ("US-led coalition",),
        "Iraq": ("Iraqi forces",),
    }
)

CLEAN = """\
format: extract.gold/1
schema_version: '1'
articles:
- id: a#1
  events:
  - type: troop_level
    evidence: The US-led coalition has 3,000 troops in Iraq.
    date: 2021-01-15
    location:
      country: Iraq
      place: null
    force: Coalition
    count: 3000
    qualifier: exact
  - type: political_decision
    evidence: Washington said it would “stay”.
    actor: United States
    kind: declaration
    summary: stay
    parties: [United States, Iraq]
- id: b#1
  events: []
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "events.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _line(path: Path, needle: str, *, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line of ``path`` that contains ``needle``."""
    hits = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def _check(path: Path) -> list[Problem]:
    return check_gold(path, articles=ARTICLES, aliases=ALIASES, task=TASK)


def _one(problems: list[Problem], fragment: str) -> Problem:
    matching = [p for p in problems if fragment in p.message]
    assert len(matching) == 1, problems
    return matching[0]


# --- loading -------------------------------------------------------------------------------


def test_clean_file_has_no_problems(tmp_path: Path) -> None:
    assert _check(_write(tmp_path, CLEAN)) == []


def test_load_gold_gives_events_and_their_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN)
    gold = load_gold(path, task=TASK)
    assert list(gold) == ["a#1", "b#1"]
    assert gold["b#1"] == GoldArticle(id="b#1", events=(), lines=())
    first, second = gold["a#1"].events
    assert first.type == "troop_level" and first.date == "2021-01-15"  # unquoted dates stay strings
    assert second.parties == ["United States", "Iraq"]
    assert gold["a#1"].lines == (_line(path, "type: troop_level"), _line(path, "type: political_decision"))


def test_load_gold_orders_articles_by_id(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("a#1", "c#1"))
    assert list(load_gold(path, task=TASK)) == ["b#1", "c#1"]


def test_load_gold_rejects_malformed_yaml_with_line(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("    summary: stay", "    summary: [stay"))
    with pytest.raises(InputError) as info:
        load_gold(path, task=TASK)
    assert info.value.path == str(path)
    assert info.value.line is not None and info.value.line >= _line(path, "summary: [stay")


def test_load_gold_rejects_wrong_format(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace(GOLD_FORMAT, "extract.gold/0"))
    with pytest.raises(InputError, match="extract.gold/1") as info:
        load_gold(path, task=TASK)
    assert (info.value.path, info.value.line) == (str(path), 1)


def test_load_gold_rejects_invalid_event_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("count: 3000", "count: many"))
    with pytest.raises(InputError, match="count") as info:
        load_gold(path, task=TASK)
    assert info.value.line == _line(path, "count: many")
    assert str(info.value).startswith(f"{path}:{info.value.line}: ")


def test_load_gold_reports_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_gold(tmp_path / "missing.yaml", task=TASK)


# --- every kind of problem -----------------------------------------------------------------


def test_problem_str_is_path_line_message() -> None:
    assert str(Problem("gold/events.yaml", 7, "bad")) == "gold/events.yaml:7: bad"


def test_malformed_yaml_is_one_problem(tmp_path: Path) -> None:
    path = _write(tmp_path, "format: extract.gold/1\narticles: [\n")
    problems = _check(path)
    assert len(problems) == 1 and "malformed YAML" in problems[0].message


def test_wrong_format_and_schema_version(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace(GOLD_FORMAT, "other/1").replace("'1'", "'2'"))
    problems = _check(path)
    assert _one(problems, "format is").line == 1
    assert _one(problems, "schema_version").line == 2


def test_every_invalid_event_is_reported_on_its_line(tmp_path: Path) -> None:
    text = CLEAN.replace("count: 3000", "count: many").replace("    kind: declaration\n", "    kind: declaration\n    mood: calm\n")
    text += "- id: a#2\n  events:\n  - type: parade\n    evidence: x\n  - evidence: no type\n"
    path = _write(tmp_path, text)
    problems = _check(path)
    assert _one(problems, "count:").line == _line(path, "count: many")
    assert _one(problems, "mood:").line == _line(path, "mood: calm")
    assert _one(problems, "'parade'").line == _line(path, "type: parade")
    assert _one(problems, "discriminator").line == _line(path, "evidence: no type")


def test_missing_required_field_points_at_the_event(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("    force: Coalition\n", ""))
    assert _one(_check(path), "force").line == _line(path, "type: troop_level")


def test_unknown_article_id(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("- id: b#1", "- id: b#1\n  events: []\n- id: z#9"))
    assert _one(_check(path), "unknown article id 'z#9'").line == _line(path, "id: z#9")


def test_seed_article_missing_from_gold(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("- id: b#1\n  events: []\n", ""))
    problem = _one(_check(path), "'b#1'")
    assert "missing" in problem.message and problem.line == _line(path, "articles:")


def test_evidence_not_verbatim(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("has 3,000 troops", "has 3000 troops"))
    assert _one(_check(path), "not found verbatim").line == _line(path, "evidence: The US-led")


def test_evidence_with_straight_quotes_gets_a_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("“stay”", '"stay"'))
    assert "quotes" in _one(_check(path), "not found verbatim").message


@pytest.mark.parametrize("bad", ["2021-02-30", "2021-13", "0000", "2021-00-10"])
def test_impossible_calendar_dates(tmp_path: Path, bad: str) -> None:
    path = _write(tmp_path, CLEAN.replace("date: 2021-01-15", f"date: '{bad}'"))
    assert _one(_check(path), "real date").line == _line(path, "date:")


@pytest.mark.parametrize("bad", ["2021-1-5", "15/01/2021", "2021-01-15T10:00"])
def test_malformed_dates_fail_the_schema_pattern(tmp_path: Path, bad: str) -> None:
    path = _write(tmp_path, CLEAN.replace("date: 2021-01-15", f"date: '{bad}'"))
    assert _one(_check(path), "not an ISO date").line == _line(path, "date:")


def test_period_fields_are_checked(tmp_path: Path) -> None:
    event = (
        "  - type: operations_tally\n    evidence: The US-led coalition has 3,000 troops in Iraq.\n"
        "    actor: Coalition\n    kind: sorties\n    count: 3\n    period_start: '2020-02-30'\n    period_end: '2021'\n"
    )
    path = _write(tmp_path, CLEAN.replace("- id: b#1", event + "- id: b#1"))
    problem = _one(_check(path), "period_start")
    assert problem.line == _line(path, "period_start:")


def test_actor_names_must_be_canonical(tmp_path: Path) -> None:
    text = (
        CLEAN.replace("force: Coalition", "force: us-led  COALITION")
        .replace("actor: United States", "actor: U.S.")
        .replace("[United States, Iraq]", "[United States, Iraqi forces]")
        .replace("country: Iraq", "country: iraq")
    )
    path = _write(tmp_path, text)
    problems = _check(path)
    assert _one(problems, "force:").line == _line(path, "force:")
    assert "'Coalition'" in _one(problems, "force:").message
    assert _one(problems, "actor: 'U.S.'").line == _line(path, "actor:")
    assert _one(problems, "parties.1").line == _line(path, "parties:")
    assert _one(problems, "location.country").line == _line(path, "country: iraq")
    assert len(problems) == 4


def test_parties_in_block_style_point_at_the_item(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("parties: [United States, Iraq]", "parties:\n    - United States\n    - Washington"))
    assert _one(_check(path), "parties.1").line == _line(path, "- Washington")


def test_unknown_actor_names_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("actor: United States", "actor: Muqtada al-Sadr"))
    assert _check(path) == []


def test_exact_duplicate_event(tmp_path: Path) -> None:
    event = "  - type: political_decision\n    evidence: Washington said it would “stay”.\n"
    rest = "    actor: United States\n    kind: declaration\n    summary: stay\n    parties: [United States, Iraq]\n"
    path = _write(tmp_path, CLEAN.replace("- id: b#1", event + rest + "- id: b#1"))
    problem = _one(_check(path), "duplicate of the event")
    assert problem.line == _line(path, "type: political_decision", occurrence=2)
    assert str(_line(path, "type: political_decision")) in problem.message


def test_articles_not_sorted(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("- id: b#1\n  events: []\n", "").replace("articles:\n", "articles:\n- id: b#1\n  events: []\n"))
    assert _one(_check(path), "not sorted").line == _line(path, "id: a#1")


def test_article_listed_twice(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN + "- id: b#1\n  events: []\n")
    assert _one(_check(path), "listed twice").line == _line(path, "id: b#1", occurrence=2)
    with pytest.raises(InputError, match="listed twice"):
        load_gold(path, task=TASK)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("    count: 3000\n", "    count: 3000\n    count: 3000\n"))
    assert _one(_check(path), "duplicate key 'count'").line == _line(path, "count:", occurrence=2)


def test_all_problems_are_collected_in_line_order(tmp_path: Path) -> None:
    text = CLEAN.replace("count: 3000", "count: many").replace("actor: United States", "actor: US")
    text = text.replace("- id: b#1\n  events: []\n", "- id: z#1\n  events: []\n")
    problems = _check(_write(tmp_path, text))
    assert len(problems) == 4  # bad count, alias, unknown z#1, missing b#1
    assert [p.line for p in problems] == sorted(p.line for p in problems)


# --- aliases -------------------------------------------------------------------------------


def test_aliases_canonicalize_case_and_whitespace_insensitively() -> None:
    assert ALIASES.canonical("us") == "United States"
    assert ALIASES.canonical("  WASHINGTON ") == "United States"
    assert ALIASES.canonical("US-led\tcoalition") == "Coalition"
    assert ALIASES.canonical("united states") == "United States"
    assert ALIASES.canonical("  Hamas ") == "Hamas"


def test_is_canonical() -> None:
    assert ALIASES.is_canonical("United States")
    assert ALIASES.is_canonical("Hamas")  # unknown names are not flagged
    assert not ALIASES.is_canonical("US")
    assert not ALIASES.is_canonical("united states")
    assert not ALIASES.is_canonical("United  States")


def test_aliases_load(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text("format: extract.aliases/1\ncanonical:\n  Hamas: []\n  ISIS:\n    - Daesh\n    - IS\n")
    aliases = Aliases.load(path)
    assert aliases.canonical("daesh") == "ISIS"
    assert aliases.canonical("is") == "ISIS"
    assert aliases.table["Hamas"] == ()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("format: extract.aliases/1\ncanonical:\n  Iraq: [Baghdad]\n  Iran: [baghdad]\n", "both"),
        ("format: other/1\ncanonical: {}\n", "format"),
        ("format: extract.aliases/1\ncanonical: {}\nofficeholders:\n  Iraq: [A B]\n  Iran: [a b]\n", "both"),
        ("format: extract.aliases/1\ncanonical: {}\nofficeholders: [A B]\n", "'officeholders' must map"),
    ],
)
def test_aliases_load_rejects_conflicts_and_wrong_format(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        Aliases.load(path)


def test_officeholders_are_found_after_titles_and_by_surname() -> None:
    aliases = Aliases(
        {"United States": ("US",)},
        {"United States": ("Joe Biden", "Pete Hegseth"), "Iraq": ("Mustafa al-Kadhimi",), "Mali": ("Assimi Goïta",)},
    )
    assert aliases.office_of("President Joe Biden") == "United States"
    assert aliases.office_of("Defense Secretary Pete Hegseth") == "United States"
    assert aliases.office_of("Biden") == "United States"
    assert aliases.office_of("Kadhimi") == aliases.office_of("Mustafa Al-Kadhimi") == "Iraq"
    assert aliases.office_of("Col. Assimi Goita") == "Mali"  # accents are not needed
    assert aliases.office_of("Jill Biden Fan Club") is None
    assert aliases.canonical("Joe Biden") == "Joe Biden"  # the scorer does not use officeholders


def test_a_surname_two_states_share_needs_the_full_name() -> None:
    aliases = Aliases({}, {"United Kingdom": ("Boris Johnson",), "United States": ("Mike Johnson",)})
    assert aliases.office_of("Johnson") is None
    assert aliases.office_of("Prime Minister Boris Johnson") == "United Kingdom"


def test_aliases_load_officeholders(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text("format: extract.aliases/1\ncanonical:\n  Iraq: []\nofficeholders:\n  Iraq: [Haider al-Abadi]\n")
    assert Aliases.load(path).office_of("Abadi") == "Iraq"


def test_gold_names_the_state_not_its_officeholder(tmp_path: Path) -> None:
    aliases = Aliases(dict(ALIASES.table), {"United States": ("Joe Biden",)})
    text = CLEAN.replace("force: Coalition", "force: Joe Biden")
    problems = check_gold(_write(tmp_path, text), articles=ARTICLES, aliases=aliases, task=TASK)
    assert "force: 'Joe Biden' acts in office, write 'United States'" in [p.message for p in problems]


def test_repository_aliases_load() -> None:
    aliases = Aliases.load(REPO / "gold" / "aliases.yaml")
    assert aliases.canonical("Pentagon") == "United States"
    assert aliases.canonical("hashd al-shaabi") == "PMF"


# --- writing -------------------------------------------------------------------------------


def _one_of_each() -> list[Event]:
    base = {"evidence": "quote", "date": None, "location": None}
    rows = [
        {"type": "troop_level", "force": "Coalition", "count": 3000, "location": {"country": "Iraq"}, "date": "2021"},
        {"type": "force_change", "kind": "reduce", "force": "United States", "resulting_level": 2500, "status": "completed"},
        {"type": "base_transfer", "kind": "handover", "from_party": "Coalition", "to_party": "Iraq"},
        {"type": "mission_change", "force": "Coalition", "new_role": "advise and assist", "status": "planned"},
        {"type": "attack", "attacker": "United States", "target": "Qasem Soleimani", "means": "airstrike", "date": "2020-01"},
        {"type": "casualty_toll", "population": "people in Lebanon", "killed": 3000, "qualifier": "more_than"},
        {"type": "operations_tally", "actor": "Coalition", "kind": "sorties", "count": 37000, "period_end": "2021-01-15"},
        {"type": "political_decision", "actor": "Iraq", "kind": "agreement", "summary": "yes", "parties": ["Iraq", "Iran"]},
        {"type": "personnel_change", "person": "Mark Esper", "role": "Defense Secretary", "kind": "dismissed"},
    ]
    events = [parse_event(base | row) for row in rows]
    tricky = ["Washington’s “assassination”: #1 - null", "'quoted' and \"double\"", "2021-01-15", "no", "  padded  "]
    return events + [parse_event(base | {"type": "attack", "target": t, "means": "other", "evidence": t}) for t in tricky]


def test_dump_then_load_round_trips(tmp_path: Path) -> None:
    events = _one_of_each()
    path = tmp_path / "events.yaml"
    path.write_text(dump_gold({"z#1": events, "a#1": []}, task=TASK), encoding="utf-8")
    gold = load_gold(path, task=TASK)
    assert list(gold) == ["a#1", "z#1"]
    assert gold["a#1"].events == ()
    assert list(gold["z#1"].events) == events


def test_dump_is_stable_and_diff_friendly() -> None:
    events = _one_of_each()
    text = dump_gold({"b#1": events[:2], "a#1": []}, task=TASK)
    assert text.index("id: a#1") < text.index("id: b#1")
    assert "format: extract.gold/1\n" in text and "events: []" in text
    assert "place: null" in text and "units: null" in text  # every field is written
    lines = text.splitlines()
    first = lines.index("  - type: troop_level")
    assert [line.split(":")[0].strip() for line in lines[first : first + 4]] == ["- type", "evidence", "date", "location"]
    long_quote = "A " * 200 + "“end”"
    event = parse_event({"type": "attack", "target": "x", "means": "other", "evidence": long_quote})
    dumped = dump_gold({"a#1": [event]}, task=TASK)
    assert sum("evidence:" in line and "“end”" in line for line in dumped.splitlines()) == 1
    assert dump_gold({"b#1": events[:2], "a#1": []}, task=TASK) == text


def test_dump_of_nothing_loads_as_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text(dump_gold({}, task=TASK), encoding="utf-8")
    assert load_gold(path, task=TASK) == {}


def test_dumped_gold_passes_the_checker(tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text(dump_gold({"a#1": load_gold(_write(tmp_path, CLEAN), task=TASK)["a#1"].events, "b#1": []}, task=TASK), encoding="utf-8")
    assert _check(path) == []


# --- the repository's gold -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "articles"),
    [("gold/events.yaml", "seeds"), ("gold/dev/events.yaml", "gold/dev/articles"),
     ("gold/heldout/events.yaml", "gold/heldout/articles")],
)  # fmt: skip
def test_repository_gold_is_clean(gold: str, articles: str) -> None:
    """The seeds, the development set and the held-out set pass the gold checker."""
    problems = check_gold(
        REPO / gold, articles=load_documents(REPO / articles), aliases=Aliases.load(REPO / "gold" / "aliases.yaml"), task=TASK
    )
    assert [str(p) for p in problems] == []


# --- drafts from a run ---------------------------------------------------------------------


def _draft(tmp_path: Path) -> tuple[Path, list[Article]]:
    from extract.export import write_gold_draft
    from tests.test_export import make_run

    path, count = write_gold_draft(make_run(tmp_path), task=TASK)
    assert path == tmp_path / "run1" / "gold-draft.yaml" and count == 2  # kept events only
    return path, load_documents(tmp_path / "docs.jsonl")


def test_draft_loads_but_the_checker_refuses_its_unreviewed_events(tmp_path: Path) -> None:
    path, articles = _draft(tmp_path)
    gold = load_gold(path, task=TASK)
    assert [e.type for e in gold["a#1"].events] == ["troop_level"] and gold["b#1"].events[0].means == "drone"
    assert gold["a#1"].unreviewed == gold["b#1"].unreviewed == 1
    problems = check_gold(path, articles=articles, aliases=ALIASES, task=TASK)
    assert [(p.line, p.message) for p in problems] == [
        (_line(path, "    reviewed: false", occurrence=n), "unreviewed draft event: review it, then remove `reviewed: false`")
        for n in (1, 2)
    ]


def test_reviewed_draft_checks_clean(tmp_path: Path) -> None:
    path, articles = _draft(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("    reviewed: false\n", ""), encoding="utf-8")
    assert check_gold(path, articles=articles, aliases=ALIASES, task=TASK) == []
    assert _check(_write(tmp_path, CLEAN.replace("  - type: troop_level\n", "  - type: troop_level\n    reviewed: true\n"))) == []


def test_reviewed_must_be_a_boolean(tmp_path: Path) -> None:
    path = _write(tmp_path, CLEAN.replace("  - type: troop_level\n", "  - type: troop_level\n    reviewed: later\n"))
    assert _one(_check(path), "reviewed: expected true or false").line == _line(path, "reviewed: later")


def test_draft_never_overwrites_without_force(tmp_path: Path) -> None:
    from extract.errors import ConfigError
    from extract.export import write_gold_draft

    path, _ = _draft(tmp_path)
    path.write_text("edited\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="exists; pass --force"):
        write_gold_draft(tmp_path / "run1", task=TASK)
    assert path.read_text(encoding="utf-8") == "edited\n"
    write_gold_draft(tmp_path / "run1", force=True, task=TASK)
    assert "reviewed: false" in path.read_text(encoding="utf-8")


def test_repository_gold_round_trips_byte_for_byte() -> None:
    path = REPO / "gold" / "events.yaml"
    assert "reviewed" not in path.read_text(encoding="utf-8")
    gold = load_gold(path, task=TASK)
    assert dump_gold({k: v.events for k, v in gold.items()}, task=TASK) == path.read_text(encoding="utf-8")
