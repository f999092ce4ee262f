from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from extract.config import GenerationParams
from extract.errors import CacheMissError
from extract.gold import Aliases
from extract.llm import LLMClient
from extract.normalize import canonicalize
from extract.pipeline import WINDOW_CHARS, WINDOW_MAX_TOKENS, extract_article, ground, run_articles, salvage_events, write_events
from extract.prompts import PromptSet
from extract.schema import parse_event
from extract.seeds import load_documents
from extract.text import windows
from tests.fakes import FakeServer, completion_cut, fake_client

REPO = Path(__file__).resolve().parent.parent
ALIASES = Aliases.load(REPO / "gold" / "aliases.yaml")
ARTICLE = next(a for a in load_documents(REPO / "seeds") if a.id == "004_7f677d72774e52bd#1")
SENTENCE = "The United States has reduced the number of its troops in Iraq to 2,500"


def troop(evidence: str, force: str = "US forces") -> object:
    return parse_event(
        {"type": "troop_level", "evidence": evidence, "force": force, "count": 2500, "location": {"country": "iraq"}}
    )


def test_canonicalize_actor_names_and_country() -> None:
    event = canonicalize(troop(SENTENCE, force="4th Infantry Division"), ALIASES)
    assert event.force == "4th Infantry Division"  # an unknown name stays as written
    event = canonicalize(troop(SENTENCE, force="Pentagon"), ALIASES)
    assert (event.force, event.location.country) == ("United States", "Iraq")
    decision = parse_event(
        {"type": "political_decision", "evidence": "x", "actor": "Baghdad", "kind": "agreement", "summary": "s",
         "parties": ["Washington", "Iraqi government"]}
    )
    assert canonicalize(decision, ALIASES).parties == ["United States", "Iraq"]


def test_ground_keeps_exact_repairs_approximate_and_rejects_invented_quotes() -> None:
    exact = troop(SENTENCE)
    approximate = troop("the united states has  reduced the number of its troops in iraq to 2,500", force="US")
    invented = troop("The United States sent 40,000 troops to Canada yesterday.")
    kept, rejected = ground(ARTICLE, [exact, approximate, invented], aliases=ALIASES)
    assert [r.span.status for r in kept] == ["exact"]  # the repaired copy became an exact duplicate
    assert kept[0].event.force == "United States"
    assert [r.event.evidence for r in rejected] == [invented.evidence]
    original = Path(ARTICLE.source).read_text(encoding="utf-8")
    span = kept[0].span
    assert original[span.source_start : span.source_end] == SENTENCE


def test_ground_keeps_one_event_per_fact() -> None:
    title = "US reduces troop numbers in Iraq to 2,500: Pentagon"
    body, headline = troop(SENTENCE, force="US"), troop(title, force="Pentagon")
    other_country = parse_event(
        {"type": "troop_level", "evidence": SENTENCE, "force": "US", "count": 2500, "location": {"country": "Syria"}}
    )
    kept, _ = ground(ARTICLE, [body, headline, other_country], aliases=ALIASES)
    # The headline repeats the body's key fields; a level stated for another country is another fact.
    assert [(r.event.evidence, r.event.location.country) for r in kept] == [(SENTENCE, "Iraq"), (SENTENCE, "Syria")]
    reduce = {"type": "force_change", "evidence": SENTENCE, "kind": "reduce", "resulting_level": 2500}
    first = parse_event({**reduce, "force": "US", "status": "completed"})
    vaguer = parse_event({**reduce, "evidence": SENTENCE[4:], "force": "the Americans", "status": "completed"})
    kept, _ = ground(ARTICLE, [first, vaguer, body], aliases=ALIASES)
    # Overlapping quotes of one type with the same numbers state one fact; another type is another fact.
    assert [(r.event.type, r.event.force) for r in kept] == [("force_change", "United States"), ("troop_level", "United States")]


def test_ground_repairs_a_paraphrased_quote_with_the_articles_words() -> None:
    paraphrase = troop("The United States has reduced the number of its soldiers in Iraq to 2,500")
    kept, _ = ground(ARTICLE, [paraphrase])
    assert kept[0].span.status == "fuzzy"
    assert kept[0].event.evidence in ARTICLE.text and "troops" in kept[0].event.evidence


def answer_per_window(body: dict) -> str | httpx.Response:
    question = body["messages"][-1]["content"]
    if "part 1 of" in question:
        # A window that repeats itself until max_tokens: its complete events are kept.
        event = json.dumps({"type": "troop_level", "evidence": SENTENCE, "force": "Pentagon", "count": 2500})
        return httpx.Response(200, json=completion_cut("{\"events\": [" + ", ".join([event] * 3) + ", {\"type\": \"troop"))
    if "part 2 of" in question:
        return "not json"
    if "part 3 of" in question:
        return json.dumps({"events": [{"type": "troop_level", "evidence": SENTENCE, "force": "US", "count": 2500}]})
    return json.dumps({"events": []})


def make_client(tmp_path: Path, server: FakeServer, **changes: object) -> LLMClient:
    return fake_client(tmp_path, server, **{"max_reasks": 0, **changes})


def test_one_call_per_window_after_a_shared_prefix(tmp_path: Path) -> None:
    server = FakeServer([answer_per_window])
    passes: list[str] = []
    outcome = extract_article(
        ARTICLE, client=make_client(tmp_path, server), prompts=PromptSet.load(REPO / "prompts"),
        aliases=ALIASES, on_pass=passes.append,
    )
    spans = windows(ARTICLE.text, max_chars=WINDOW_CHARS)
    assert len(spans) > 3 and all(e - s <= WINDOW_CHARS for s, e in spans)
    assert passes == [f"window {i}/{len(spans)}" for i in range(1, len(spans) + 1)]
    assert len({json.dumps(r["messages"][:-1]) for r in server.requests}) == 1, "windows share rules + examples"
    assert any(m["role"] == "assistant" for m in server.requests[0]["messages"])  # few-shot answers
    assert all("TroopLevel" in json.dumps(r["response_format"]) for r in server.requests)  # the whole union
    assert {r["max_tokens"] for r in server.requests} == {WINDOW_MAX_TOKENS}
    assert outcome.status == "partial" and outcome.planned == len(spans)
    assert outcome.notes[0].startswith("window 1/") and "(3 complete events kept)" in outcome.notes[0]
    assert len(outcome.errors) == 1 and outcome.errors[0].startswith("window 2/")
    # The cut window's copies and window 3's event are one event after canonical names.
    assert [r.event.force for r in outcome.events] == ["United States"]
    assert len(outcome.keys) == len(server.requests)  # the failed calls' responses can be exported too


def test_a_lower_configured_limit_wins_over_the_window_limit(tmp_path: Path) -> None:
    server = FakeServer([answer_per_window])
    client = make_client(tmp_path, server, params=GenerationParams(max_tokens=100))
    extract_article(ARTICLE, client=client, prompts=PromptSet.load(REPO / "prompts"))
    assert {r["max_tokens"] for r in server.requests} == {100}


def test_salvage_keeps_the_complete_valid_events_of_a_cut_answer() -> None:
    event = {"type": "troop_level", "evidence": "x", "force": "US", "count": 1}
    content = json.dumps({"events": [event, {"type": "troop_level"}, event]})[:-3] + ', {"type": "tro'
    assert len(salvage_events(content)) == 1  # the second is invalid, the third cut
    assert salvage_events("") == [] and salvage_events('{"events": [{"type": "troop_le') == []


def test_run_articles_keeps_article_order_and_writes_sorted_events(tmp_path: Path) -> None:
    server = FakeServer([answer_per_window])
    articles = [a for a in load_documents(REPO / "seeds") if a.id.startswith("004")]
    outcomes = run_articles(
        articles, client=make_client(tmp_path, server), prompts=PromptSet.load(REPO / "prompts"),
        aliases=ALIASES, concurrency=2,
    )
    assert [o.article_id for o in outcomes] == [a.id for a in articles]
    assert write_events(tmp_path / "events.jsonl", outcomes) == 1
    record = json.loads((tmp_path / "events.jsonl").read_text())
    assert record["format"] == "extract.events/1" and record["span"]["status"] == "exact"


def test_offline_miss_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(CacheMissError):
        extract_article(
            ARTICLE, client=make_client(tmp_path, FakeServer([]), cache_policy="offline"),
            prompts=PromptSet.load(REPO / "prompts"),
        )
