from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from extract.config import GenerationParams
from extract.errors import CacheMissError, InvalidOutputError, LLMError, ServerUnreachableError
from extract.llm import LLMClient
from extract.schema import Extraction
from tests.fakes import FakeServer, fake_client

MESSAGES = [
    {"role": "system", "content": "Extract events."},
    {"role": "user", "content": "The US has about 2,500 troops in Iraq."},
    {"role": "user", "content": "List every event."},
]
VALID = json.dumps(
    {
        "events": [
            {
                "type": "troop_level",
                "evidence": "The US has about 2,500 troops in Iraq.",
                "force": "United States",
                "count": 2500,
                "qualifier": "about",
            }
        ]
    }
)




def extract(client: LLMClient, messages: list[dict[str, str]] = MESSAGES):
    return client.extract(Extraction, messages=messages, article_id="a#1", prompt_hash="p1")


def test_miss_calls_the_server_then_hit_is_served_from_cache(tmp_path: Path) -> None:
    server = FakeServer([VALID])
    first = extract(fake_client(tmp_path, server))
    second = extract(fake_client(tmp_path, server))
    assert len(server.requests) == 1
    assert first.value == second.value
    assert first.value.events[0].count == 2500
    assert (first.usage.calls, first.usage.cache_hits, first.usage.prompt_tokens) == (1, 0, 100)
    assert (second.usage.calls, second.usage.cache_hits, second.usage.cached_prompt_tokens) == (0, 1, 100)


def test_request_carries_schema_for_llama_cpp_and_pinned_sampling(tmp_path: Path) -> None:
    server = FakeServer([VALID])
    extract(fake_client(tmp_path, server))
    body = server.requests[0]
    assert body["response_format"]["type"] == "json_object"
    assert "TroopLevel" in body["response_format"]["schema"]["$defs"]
    assert (body["temperature"], body["seed"]) == (0.0, GenerationParams().seed)
    assert "json_schema" in body["messages"][0]["content"]  # instructor put the schema in the system prompt
    assert [m["role"] for m in body["messages"]] == ["system", "user", "user"]


def test_openai_endpoint_gets_json_schema_response_format(tmp_path: Path) -> None:
    server = FakeServer([VALID])
    extract(fake_client(tmp_path, server, base_url="http://remote/v1"))
    assert server.requests[0]["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize(
    "change",
    [
        {"params": GenerationParams(seed=7)},
        {"params": GenerationParams(temperature=0.5)},
        {"params": GenerationParams(max_tokens=100)},
        {"mode": "markdown_json_mode"},
    ],
)
def test_cache_key_changes_with_generation_parameters_and_mode(tmp_path: Path, change: dict) -> None:
    server = FakeServer([VALID])
    extract(fake_client(tmp_path, server))
    extract(fake_client(tmp_path, server, **change))
    assert len(server.requests) == 2


def test_cache_key_changes_with_messages_prompt_hash_and_model(tmp_path: Path) -> None:
    server = FakeServer([VALID])
    client = fake_client(tmp_path, server)
    extract(client)
    extract(client, [*MESSAGES[:2], {"role": "user", "content": "Other question."}])
    client.extract(Extraction, messages=MESSAGES, article_id="a#1", prompt_hash="p2")
    client.model_identity = "other-model"
    extract(client)
    assert len(server.requests) == 4


def test_offline_miss_names_article_prompt_and_how_to_record(tmp_path: Path) -> None:
    server = FakeServer([VALID])
    with pytest.raises(CacheMissError) as e:
        extract(fake_client(tmp_path, server, cache_policy="offline"))
    assert server.requests == []
    assert "a#1" in str(e.value) and "p1" in str(e.value) and "without --offline" in str(e.value)


def test_refresh_calls_again_and_overwrites(tmp_path: Path) -> None:
    server = FakeServer([VALID, VALID.replace("2500", "2600").replace("2,500", "2,600")])
    extract(fake_client(tmp_path, server))
    refreshed = extract(fake_client(tmp_path, server, cache_policy="refresh"))
    again = extract(fake_client(tmp_path, server))
    assert len(server.requests) == 2
    assert refreshed.value.events[0].count == 2600 == again.value.events[0].count


def test_invalid_output_is_reasked_and_the_failure_is_stored(tmp_path: Path) -> None:
    server = FakeServer(['{"events": [{"type": "troop_level"}]}', VALID])
    client = fake_client(tmp_path, server)
    result = extract(client)
    assert result.value.events[0].count == 2500
    assert len(server.requests) == 2
    assert "Correct your JSON" in server.requests[1]["messages"][-1]["content"]
    records = list(client.cache.records())
    assert sorted(r["validation"]["ok"] for r in records) == [False, True]
    failed = next(r for r in records if not r["validation"]["ok"])
    assert "validation error" in failed["validation"]["error"]


def test_never_valid_raises_with_attempts_and_usage(tmp_path: Path) -> None:
    server = FakeServer(["not json at all"])
    with pytest.raises(InvalidOutputError) as e:
        extract(fake_client(tmp_path, server, max_reasks=2))
    assert e.value.attempts == 3 and e.value.article_id == "a#1"
    assert e.value.usage["calls"] == 3


def test_server_errors_are_retried_then_reported(tmp_path: Path) -> None:
    server = FakeServer([httpx.Response(503, json={"error": "busy"}), VALID])
    result = extract(fake_client(tmp_path, server, max_retries=1))
    assert result.value.events and len(server.requests) == 2
    server = FakeServer([httpx.Response(500, json={"error": "boom"})])
    with pytest.raises(LLMError, match="HTTP 500"):
        extract(fake_client(tmp_path / "b", server))


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    def refuse(body: dict) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(ServerUnreachableError, match="cannot reach the model server"):
        extract(fake_client(tmp_path, FakeServer([refuse])))


def test_api_key_never_reaches_the_cache_or_its_export(tmp_path: Path) -> None:
    secret = "sk-test-SECRET-0123456789"
    server = FakeServer([VALID])
    client = fake_client(tmp_path, server, api_key=secret, base_url="http://remote/v1")
    extract(client)
    assert server.headers[0]["authorization"] == f"Bearer {secret}"
    client.cache.export(tmp_path / "snapshot.jsonl")
    assert secret not in (tmp_path / "snapshot.jsonl").read_text()
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()


def test_a_timeout_fails_the_call_not_the_run(tmp_path: Path) -> None:
    def slow(body: dict) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(LLMError, match="no answer within") as e:
        extract(fake_client(tmp_path, FakeServer([slow])))
    assert not isinstance(e.value, ServerUnreachableError)
