from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import instructor
import pytest
from instructor.core.exceptions import IncompleteOutputException
from instructor.core.exceptions import ValidationError as InstructorValidationError

from extract.cache import ResponseCache, cache_key
from extract.config import (
    DEFAULT_TIMEOUT_S,
    ENV_TIMEOUT,
    ENVIRONMENT,
    Config,
    GenerationParams,
    load_config,
    redact_url,
)
from extract.errors import (
    CacheMissError,
    ConfigError,
    EndpointDownError,
    InvalidOutputError,
    LLMError,
    ServerUnreachableError,
)
from extract.llm import RESUME_HINT, TEMPLATE_FORMAT, LLMClient, _completion, request_key
from extract.schema import AnyEvents
from extract.tasks.military import TASK

Extraction = TASK.extraction_model  # noqa: E305
from tests.fakes import FakeServer, detecting_nothing, fake_client, loopback, run_cli

RECORDINGS = Path(__file__).resolve().parent / "recordings"

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


# --- The call path: templates built once, the cache first, the SDKs imported on demand -------------

FEW_SHOT = [
    {"role": "system", "content": "Rules."},
    {"role": "user", "content": "Example text."},
    {"role": "assistant", "content": '{"events": []}'},
    {"role": "user", "content": "The US has about 2,500 troops in Iraq."},
]


@pytest.mark.parametrize("mode", ["json_schema_mode", "json_mode", "markdown_json_mode", "tool_call"])
@pytest.mark.parametrize("prompt_model", [None, AnyEvents])
@pytest.mark.parametrize("messages", [MESSAGES, FEW_SHOT, MESSAGES[1:]])
def test_the_template_gives_exactly_what_instructor_gives(tmp_path: Path, mode: str, prompt_model, messages) -> None:
    client = fake_client(tmp_path, FakeServer([VALID]), mode=mode)
    for text in ("first", "other text with \\1 and \x00 in it", "€ ünïcode"):
        changed = copy.deepcopy(messages)
        changed[-1]["content"] = text
        direct = client._instruct(Extraction, prompt_model, changed)[1]
        assert client._prepare(Extraction, prompt_model, changed)[0] == direct
        # A new client over the same cache folder fills the template kept there.
        assert fake_client(tmp_path, FakeServer([VALID]), mode=mode)._prepare(Extraction, prompt_model, changed)[0] == direct


@pytest.mark.parametrize("mode", ["json_schema_mode", "json_mode", "markdown_json_mode"])  # the JSON modes: a stored answer is its text
def test_the_reask_template_gives_exactly_what_instructor_gives(tmp_path: Path, mode: str) -> None:
    client = fake_client(tmp_path, FakeServer([VALID]), mode=mode)
    kwargs = client._prepare(Extraction, None, FEW_SHOT)[0]
    for content, error in (("not json", "bad"), ('{"a": "\\1 \u0000"}', "1 validation error\nevents.0.count"), ("€", "ü")):
        reask = client._reask(kwargs, {}, content=content, error=error)[0]
        assert reask == client._instructor_reask(copy.deepcopy(kwargs), content=content, error=error)
        assert kwargs["messages"] == client._prepare(Extraction, None, FEW_SHOT)[0]["messages"]  # not changed in place


@pytest.mark.parametrize("llama_cpp", [True, False])
def test_the_key_of_one_encoding_is_that_of_the_whole_body(tmp_path: Path, llama_cpp: bool) -> None:
    """The key and the record's messages hash come from one encoding of the body (the schema encoded
    once per template): the same key as ``request_key`` of the body the server got."""
    server = FakeServer(['{"events": [{"type": "troop_level"}]}', VALID])
    client = fake_client(tmp_path, server, llama_cpp=llama_cpp)
    result = extract(client, FEW_SHOT)  # a first attempt, then instructor's reask
    records = {r["key"]: r for r in client.cache.records()}
    assert len(server.requests) == 2 and list(records) == sorted(result.keys)
    for body, key in zip(server.requests, result.keys):
        assert key == request_key(body, model_identity="test-model", prompt_hash="p1", mode=client.config.mode)
        assert records[key]["request"]["messages_sha256"] == cache_key({"m": body["messages"]})


@pytest.mark.parametrize("llama_cpp", [True, False])
def test_the_schema_is_posted_in_the_models_field_order(tmp_path: Path, llama_cpp: bool) -> None:
    """llama.cpp writes its grammar in the order of the schema's properties. Posted with sorted keys,
    "evidence" came before "type" and the embedded model chose nearly every type wrong (a whole
    recording was lost to it): the discriminator must come first, as the models declare it."""
    server = FakeServer([VALID])
    extract(fake_client(tmp_path, server, llama_cpp=llama_cpp))  # builds the template
    extract(fake_client(tmp_path, server, llama_cpp=llama_cpp, cache_policy="refresh"))  # reads it from the cache folder
    assert len(server.raw) == 2
    for raw in server.raw:
        posted = json.loads(raw)  # json keeps the order of the bytes
        fmt = posted["response_format"]
        schema = fmt["schema"] if llama_cpp else fmt["json_schema"]["schema"]
        for name, cls in TASK.by_type.items():
            definition = schema["$defs"][cls.__name__]
            assert list(definition["properties"]) == list(cls.model_fields), name
            assert list(definition["properties"])[0] == "type"
    assert server.headers[0]["content-type"] == "application/json"


def test_instructor_builds_the_request_once_per_client_and_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    original = instructor.handle_response_model
    monkeypatch.setattr(instructor, "handle_response_model", lambda *a, **k: built.append(a[0]) or original(*a, **k))
    server = FakeServer([VALID])
    client = fake_client(tmp_path, server)
    for n in range(5):
        messages = [*MESSAGES[:2], {"role": "user", "content": f"Question {n}."}]
        client.extract(Extraction, messages=messages, article_id="a", prompt_hash="p", prompt_model=AnyEvents)
    assert built == [Extraction, AnyEvents] and len(server.requests) == 5
    fresh = fake_client(tmp_path, server)  # cache hits: no request, and the template kept in the cache folder
    for n in range(5):
        messages = [*MESSAGES[:2], {"role": "user", "content": f"Question {n}."}]
        fresh.extract(Extraction, messages=messages, article_id="a", prompt_hash="p", prompt_model=AnyEvents)
    assert built == [Extraction, AnyEvents] and len(server.requests) == 5
    other = fake_client(tmp_path, server, mode="json_mode")  # another mode: another template
    other.extract(Extraction, messages=MESSAGES, article_id="a", prompt_hash="p", prompt_model=AnyEvents)
    assert built == [Extraction, AnyEvents] * 2


def test_importing_the_client_loads_no_sdk() -> None:
    probe = "import sys, extract.llm; print(sorted(m for m in ('openai', 'instructor', 'httpx') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


REPLAY_PROBE = """
import json, sys
from pathlib import Path
from extract.cache import ResponseCache
from extract.config import Config
from extract.llm import LLMClient
from extract.tasks.military import TASK
config = Config(cache_dir=Path(sys.argv[1]), cache_policy="offline")
client = LLMClient(config, cache=ResponseCache(config.cache_dir), endpoint=lambda: "", model_identity="test-model")
result = client.extract(TASK.extraction_model, messages=json.loads(sys.argv[2]), article_id="a#1", prompt_hash="p1")
print(result.value.events[0].count, sorted(m for m in ("openai", "instructor") if m in sys.modules))
"""


def test_a_call_the_cache_answers_loads_no_sdk(tmp_path: Path) -> None:
    """The request and reask templates are kept in the cache folder and a valid answer is read by
    pydantic: a replay, reask included, never imports instructor or openai (about a second)."""
    extract(fake_client(tmp_path, FakeServer(['{"events": [{"type": "troop_level"}]}', VALID])))
    probe = [sys.executable, "-c", REPLAY_PROBE, str(tmp_path / "cache"), json.dumps(MESSAGES)]
    result = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2500 []"


@pytest.mark.parametrize("damage", ["{not json", '{"format": "extract.template/2"}', '{"format": "extract.template/2", "kwargs": {}, "holed": ["messages"]}', "[]"])
def test_a_damaged_template_file_is_built_again(tmp_path: Path, damage: str) -> None:
    first = extract(fake_client(tmp_path, FakeServer([VALID])))
    for path in (tmp_path / "cache" / "templates").glob("*.json"):
        path.write_text(damage, encoding="utf-8")
    server = FakeServer([VALID])
    result = extract(fake_client(tmp_path, server, cache_policy="refresh"))
    assert result.value.events[0].count == 2500 and len(server.requests) == 1 and result.keys == first.keys
    assert all(json.loads(p.read_text())["format"] == TEMPLATE_FORMAT for p in (tmp_path / "cache" / "templates").glob("*.json"))


def test_a_replayed_invalid_answer_keeps_the_reason_it_was_stored_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(['{"events": [{"type": "troop_level"}]}', VALID])
    live = extract(fake_client(tmp_path, server))
    parsed: list[str] = []
    original = LLMClient._parse
    monkeypatch.setattr(LLMClient, "_parse", lambda self, model, response, **kw: parsed.append(response["content"]) or original(self, model, response, **kw))
    replayed = extract(fake_client(tmp_path, server, cache_policy="offline"))
    # Only the valid answer is parsed again; the reask is the recorded one (same keys, no request).
    assert parsed == [VALID] and replayed.keys == live.keys and len(server.requests) == 2
    assert replayed.value == live.value


def test_pydantic_reads_every_recorded_answer_as_instructor_does(tmp_path: Path) -> None:
    """Every answer of the committed recordings (windows, detect and fill calls): a valid one gives the
    same events read by pydantic alone as through instructor, and an invalid one is invalid to both."""
    client = fake_client(tmp_path, FakeServer([]))
    models = {"window": Extraction, "detect": TASK.detection_model, **{f"fill {t}": m for t, m in TASK.fill_models.items()}}
    checked = 0
    for snapshot in ("responses.jsonl", "dev.responses.jsonl"):
        for record in ResponseCache(tmp_path / "none", snapshots=[RECORDINGS / snapshot]).records():
            label = record["request"]["label"].rsplit(" ", 1)[0]
            if label not in models:
                continue
            model, response = models[label], record["response"]
            instructed = client._instructor_model(model)
            try:
                slow = model.model_validate(instructed.from_response(_completion(response, model="m"), mode=client.mode).model_dump())
            except (IncompleteOutputException, InstructorValidationError, ValueError):  # pydantic's is a ValueError
                slow = None
            fast, error = client._parse(model, response, max_tokens=1)
            assert record["validation"]["ok"] == (slow is not None) == (fast is not None), (record["key"], error)
            assert fast == slow
            checked += 1
    assert checked > 550  # the windows, detect and fill answers of both sets


def test_pending_builds_the_request_extract_sends_and_sends_nothing(tmp_path: Path) -> None:
    server = FakeServer(['{"events": [{"type": "troop_level"}]}', VALID])
    client = fake_client(tmp_path, server)
    first = client.pending(Extraction, messages=MESSAGES, article_id="a#1", prompt_hash="p1")
    assert first is not None and server.requests == [] and list(client.cache.records()) == []
    extract(client)
    assert server.requests[0] == first.body  # the first attempt, byte for byte
    assert client.cache.get(first.key)["request"] == first.info
    assert client.pending(Extraction, messages=MESSAGES, article_id="a#1", prompt_hash="p1") is None
    client.cache.clear()
    client.cache.put(first.key, {"request": first.info, "response": {"content": "bad", "finish_reason": "stop",
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1}}, "validation": {"ok": False, "error": "x"}})
    reask = client.pending(Extraction, messages=MESSAGES, article_id="a#1", prompt_hash="p1")
    assert reask is not None and reask.info["attempt"] == 2 and reask.body["messages"][-2]["content"] == "bad"


# --- Bounded attempts, and a run that stops when the endpoint is down --------------------------------


@pytest.fixture
def hung_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def loopback_client(tmp_path: Path, url: str, **changes: object) -> LLMClient:
    config = Config(cache_dir=tmp_path / "cache", base_url=url, retry_backoff_s=0.0).with_(**changes)
    identity = config.endpoint_identity
    return LLMClient(config, cache=ResponseCache(config.cache_dir), endpoint=lambda: url, model_identity=identity)


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_hung_server_stops_the_run_after_consecutive_timeouts(tmp_path: Path, hung_server: str) -> None:
    client = loopback_client(tmp_path, hung_server, timeout_s=0.5, max_retries=4)
    started = time.monotonic()
    with pytest.raises(EndpointDownError) as e:
        extract(client)
    assert time.monotonic() - started < 5
    assert (e.value.attempts, e.value.failures, e.value.article_id) == (3, 3, "a#1")
    assert e.value.endpoint == hung_server and isinstance(e.value, ServerUnreachableError)
    assert str(e.value).endswith(RESUME_HINT) and "no answer within 0.5s" in str(e.value)


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_timeouts_in_a_row_are_counted_over_calls_and_an_answer_resets_them(tmp_path: Path, hung_server: str) -> None:
    client = loopback_client(tmp_path, hung_server, timeout_s=0.3, max_retries=0)
    for n in range(2):
        with pytest.raises(LLMError, match="no answer within") as e:
            client.extract(Extraction, messages=MESSAGES, article_id=f"a#{n}", prompt_hash="p")
        assert not isinstance(e.value, ServerUnreachableError) and e.value.attempts == 1
    client._up()  # as any HTTP answer does
    for n in range(2):
        with pytest.raises(LLMError, match="no answer within"):
            client.extract(Extraction, messages=MESSAGES, article_id=f"b#{n}", prompt_hash="p")
    with pytest.raises(EndpointDownError, match="3 timeouts or connection failures in a row, the last at article c"):
        client.extract(Extraction, messages=MESSAGES, article_id="c", prompt_hash="p")


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.parametrize(("status", "retries", "attempts"), [(500, 2, 3), (503, 0, 1), (429, 3, 4), (400, 3, 1)])
def test_attempts_are_bounded_by_retries_alone(tmp_path: Path, status: int, retries: int, attempts: int) -> None:
    with loopback(lambda body: status) as (url, received):
        with pytest.raises(LLMError, match=f"HTTP {status}") as e:
            extract(loopback_client(tmp_path, url, max_retries=retries))
    assert len(received) == attempts == e.value.attempts  # the SDK's own retries are off: nothing multiplies


@pytest.fixture
def prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A folder holding one short article (doc.txt) and a private cache; gives the repository's prompts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    (tmp_path / "doc.txt").write_text("Headline\n\nThe US has about 2,500 troops in Iraq, officials said.\n")
    return str(Path(__file__).parent.parent / "prompts")


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_run_against_a_hung_server_fails_within_seconds_with_a_resume_hint(
    prompts: str, hung_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code, _, err = run_cli(capsys, "run", "doc.txt", "--base-url", hung_server, "--timeout", "0.5", "--prompts",
                           prompts, "--out", "r")  # fmt: skip
    assert code == 1 and time.monotonic() - started < 15
    line = [x for x in err.splitlines() if x.strip()][-1]
    assert line.startswith("error: no answer within 0.5s") and line.endswith(RESUME_HINT), err


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_run_against_an_always_500_server_makes_one_plus_retries_attempts_per_call(
    prompts: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with loopback(lambda body: 500) as (url, received):
        args = ["run", "doc.txt", "--base-url", url, "--retries", "1", "--prompts", prompts, "--out", "r"]
        code, _, err = run_cli(capsys, *args)
    assert code == 3, err  # the run ends, its failed call listed in run.json
    manifest = json.loads((tmp_path / "r" / "run.json").read_text())
    windows = len(next(iter(manifest["articles"].values()))["errors"])
    assert windows >= 1 and len(received) == 2 * windows


def test_the_timeout_comes_from_the_environment_or_the_default() -> None:
    assert Config().timeout_s == DEFAULT_TIMEOUT_S == 180.0
    assert load_config({ENV_TIMEOUT: "2.5"}).timeout_s == 2.5
    assert load_config({ENV_TIMEOUT: "2.5"}, timeout_s=7.0).timeout_s == 7.0  # --timeout wins
    assert ENV_TIMEOUT in ENVIRONMENT
    for bad in ("soon", "0", "-1"):
        with pytest.raises(ConfigError, match=ENV_TIMEOUT):
            load_config({ENV_TIMEOUT: bad})


# --- Endpoint identity: host and model in the key, never credentials ---------------------------------


def test_a_remote_endpoints_identity_holds_its_host_and_never_credentials() -> None:
    secret = Config(base_url="https://user:sk-SECRET@API.Example.com/v1/?api_key=sk-SECRET#frag", model="gpt-x")
    assert secret.endpoint_identity == "openai-compatible:gpt-x@https://api.example.com:443/v1"
    assert secret.redacted_base_url == "https://api.example.com/v1"
    assert Config(base_url="http://127.0.0.1:8000/v1").endpoint_identity.endswith("@http://127.0.0.1:8000/v1")
    assert Config(base_url="http://[::1]:8000/v1").redacted_base_url == "http://[::1]:8000/v1"
    urls = ("http://a/v1", "http://b/v1", "http://a:81/v1", "http://a/v2")
    identities = {Config(base_url=u, model="m").endpoint_identity for u in urls}
    assert len(identities) == 4
    assert Config().redacted_base_url is None
    assert redact_url("http://h:1/v1") == "http://h:1/v1"
    with pytest.raises(ConfigError) as e:
        redact_url("http://user:sk-SECRET@h:notaport/v1")
    assert "SECRET" not in str(e.value)


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_another_endpoints_answers_are_not_replayed(tmp_path: Path) -> None:
    with loopback(lambda body: VALID) as (good, _), loopback(lambda body: 500) as (failing, received):
        extract(loopback_client(tmp_path, good, max_retries=0))
        with pytest.raises(LLMError, match="HTTP 500"):
            extract(loopback_client(tmp_path, failing, max_retries=0))
    assert len(received) == 1


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_credentials_in_the_base_url_are_not_written(
    prompts: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with loopback(detecting_nothing(lambda body: json.dumps({"events": []}))) as (url, received):
        secret_url = url.replace("http://", "http://user:pw-SECRET@")
        code, _, err = run_cli(capsys, "run", "doc.txt", "--base-url", secret_url, "--prompts", prompts, "--out", "r")
    assert code == 0, err
    assert received
    manifest = json.loads((tmp_path / "r" / "run.json").read_text())
    assert manifest["model"]["base_url"] == url
    assert manifest["model"]["identity"] == f"openai-compatible:{manifest['model']['name']}@{url}"
    for path in [*(tmp_path / "r").iterdir(), *(tmp_path / "home").rglob("*")]:
        if path.is_file():
            assert b"pw-SECRET" not in path.read_bytes(), path
