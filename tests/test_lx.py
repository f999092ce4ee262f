from __future__ import annotations

import json
from pathlib import Path

import httpx
import langextract as lx
import pytest

from extract.bench import source_article
from extract.cache import ResponseCache
from extract.config import Config
from extract.errors import CacheMissError, LLMError
from extract.llm import RECORDED_BASE_URL, RecordingTransport
from extract.lx import LangExtract, to_event, to_example
from extract.prompts import PromptSet
from extract.tasks.military import TASK

EVENT_TYPES = TASK.event_types  # noqa: E305
from extract.documents import Article
from tests.fakes import FakeServer

PROMPTS = PromptSet.load(TASK, Path("prompts"))
TEXT = "Germany has about 1,100 soldiers in Lithuania. A drone strike on a depot killed four workers."
ARTICLE = Article(id="a#1", title="t", text=TEXT, source="a.txt", runs=((0, 0, len(TEXT)),))
ANSWER = json.dumps(
    {
        "extractions": [
            {
                "troop_level": "Germany has about 1,100 soldiers in Lithuania",
                "troop_level_attributes": {"force": "Germany", "count": "1,100", "qualifier": "about", "country": "Lithuania"},
            },
            {
                "attack": "A drone strike on a depot killed four workers",
                "attack_attributes": {"target": "depot", "means": "drones", "killed": "4", "injured": "unknown"},
            },
            {"troop_level": "a depot", "troop_level_attributes": {"force": "Germany", "count": "unknown"}},
        ]
    }
)


def extraction(cls: str, attributes: dict[str, str]) -> lx.data.Extraction:
    return lx.data.Extraction(extraction_class=cls, extraction_text="quote", attributes=attributes)


def test_examples_become_langextract_examples_with_string_attributes() -> None:
    examples = [to_example(e) for e in PROMPTS.examples()]
    first = examples[0].extractions[0]
    assert (first.extraction_class, first.attributes) == (
        "troop_level",
        {"force": "Germany", "count": "1100", "qualifier": "about", "country": "Lithuania"},
    )
    assert all(x.extraction_text in e.text for e in examples for x in e.extractions)
    assert {x.extraction_class for e in examples for x in e.extractions} == set(EVENT_TYPES)


def test_examples_round_trip_to_the_same_events() -> None:
    for example in PROMPTS.examples():
        for event, converted in zip(example.events, to_example(example).extractions):
            assert to_event(converted, task=TASK) == event


@pytest.mark.parametrize(
    ("cls", "attributes", "expected"),
    [
        ("attack", {"target": "convoy", "means": "rockets", "killed": "unknown"}, {"means": "rocket", "killed": None}),
        ("attack", {"target": "convoy", "means": "ground invasion"}, {"means": "other"}),
        ("troop_level", {"force": "Germany", "count": "1,100", "country": "Lithuania"}, {"count": 1100}),
        ("operations_tally", {"actor": "Israel", "kind": "strikes", "count": "40", "period_start": "Sept. 23"}, {"period_start": None}),
        ("political_decision", {"actor": "Iraq", "kind": "agreement", "summary": "s", "parties": "Iraq, United States"}, {"parties": ["Iraq", "United States"]}),
    ],
)
def test_attributes_map_onto_fields(cls: str, attributes: dict[str, str], expected: dict[str, object]) -> None:
    event = to_event(extraction(cls, attributes), task=TASK)
    assert event is not None
    assert {k: getattr(event, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("cls", "attributes"),
    [
        ("troop_level", {"force": "Germany", "count": "unknown"}),  # a required field with no value
        ("attack", {"target": "x", "means": "unknown"}),
        ("not_a_type", {}),
    ],
)
def test_unusable_extractions_are_none(cls: str, attributes: dict[str, str]) -> None:
    assert to_event(extraction(cls, attributes), task=TASK) is None


def transport(tmp_path: Path, server: FakeServer, **changes: object) -> RecordingTransport:
    config = Config(cache_dir=tmp_path / "cache").with_(**changes)
    return RecordingTransport(
        config,
        cache=ResponseCache(config.cache_dir),
        endpoint=lambda: "http://server.invalid/v1",
        model_identity="test-model",
        label="langextract",
        prompt_hash=PROMPTS.hash_of("langextract"),
        inner=httpx.MockTransport(server.handler),
    )


def test_langextract_runs_through_the_recording_transport_and_replays(tmp_path: Path) -> None:
    article = ARTICLE
    server = FakeServer([ANSWER])
    first = transport(tmp_path, server)
    outcome = source_article(article, source=LangExtract(first.config, prompts=PROMPTS, transport=first), keys=first.keys)
    events = [r.event for r in outcome.events]
    assert [e.type for e in events] == ["troop_level", "attack"]
    assert (events[0].count, events[1].means) == (1100, "drone")
    assert outcome.errors == ["1 extraction(s) did not map onto the schema"]
    assert (outcome.usage.calls, outcome.keys) == (1, first.keys)
    body = server.requests[0]
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 1234, 2048)
    assert "Germany has about 1,100 soldiers in Lithuania" in body["messages"][-1]["content"]  # our few-shot example
    assert (first.usage.calls, len(first.keys)) == (1, 1)
    record = first.cache.get(first.keys[0])
    assert record["request"]["article_id"] == "a#1" and record["response"]["seconds"] >= 0

    offline = transport(tmp_path, FakeServer([]), cache_policy="offline")
    again, _ = LangExtract(offline.config, prompts=PROMPTS, transport=offline).extract(article)
    assert again == events
    assert (offline.usage.calls, offline.usage.cache_hits, offline.usage.cached_prompt_tokens) == (0, 1, 100)


def test_offline_miss_surfaces_as_the_cache_miss_error(tmp_path: Path) -> None:
    article = ARTICLE
    offline = transport(tmp_path, FakeServer([]), cache_policy="offline")
    with pytest.raises(CacheMissError, match="offline and no cached response for article a#1"):
        LangExtract(offline.config, prompts=PROMPTS, transport=offline).extract(article)


def test_server_errors_are_not_recorded(tmp_path: Path) -> None:
    article = ARTICLE
    server = FakeServer([httpx.Response(500, json={"error": "boom"}), ANSWER])
    first = transport(tmp_path, server)
    with pytest.raises(LLMError, match="HTTP 500|langextract failed"):
        LangExtract(first.config, prompts=PROMPTS, transport=first).extract(article)
    assert first.usage.calls == 0 and len(first.cache.store) == 0


def test_the_endpoint_is_resolved_once_however_many_misses(tmp_path: Path) -> None:
    started: list[str] = []

    def endpoint() -> str:
        started.append("server")  # the embedded endpoint starts a server on each call
        return "http://server.invalid/v1"

    server = FakeServer([ANSWER, ANSWER])
    recording = RecordingTransport(
        Config(cache_dir=tmp_path / "cache"),
        cache=ResponseCache(tmp_path / "cache"),
        endpoint=endpoint,
        model_identity="test-model",
        label="langextract",
        prompt_hash="p",
        inner=httpx.MockTransport(server.handler),
    )
    client = httpx.Client(transport=recording)
    for content in ("one", "two"):
        client.post(f"{RECORDED_BASE_URL}/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": content}]})
    assert (len(server.requests), started, recording.usage.calls) == (2, ["server"], 2)
