"""Batch files: export a run's missing calls, answer them elsewhere, import, then replay offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from extract.batch import BATCH_URL
from extract.config import WINDOW_MAX_TOKENS
from extract.detect import DETECT_MAX_TOKENS
from tests.fakes import completion, loopback, run_cli

REPO = Path(__file__).resolve().parent.parent
ARTICLES = [
    {
        "id": "batch-1",
        "published": "2024-03-01",
        "text": "US forces in Iraq will shift to an advisory role by September, officials said.\n\n"
        "The coalition said it would end its combat mission and keep advising Iraqi forces. "
        "About 2,500 US troops remain in the country, according to the Pentagon.\n\n"
        "Officials said the change would be gradual and coordinated with the government in Baghdad.",
    },
    {
        "id": "batch-2",
        "published": "2024-03-02",
        "text": "Germany will withdraw its troops from Mali by May, the defence ministry said.\n\n"
        "The Bundeswehr has about 1,100 soldiers in the country under the UN mission. "
        "The withdrawal is planned to be complete before the rainy season.",
    },
]
#: The fake model's answer to a first attempt that it answers badly (to make the client reask).
BAD = "not json"


def fake_answer(body: dict) -> str:
    """A model as a pure function of the request: an event quoting the first article sentence in the
    window; a bad answer first for about half the windows, then the right one when reasked."""
    messages = body["messages"]
    reask = len(messages) >= 3 and messages[-2]["content"] == BAD
    window = messages[-3 if reask else -1]["content"]
    if not reask and int(hashlib.sha256(window.encode()).hexdigest(), 16) % 2:
        return BAD
    sentences = [s.strip() for a in ARTICLES for s in a["text"].replace("\n", " ").split(". ") if s.strip()]
    quote = next((s for s in sentences if s in window), "")
    if '"Detection"' in json.dumps(body["response_format"]):  # the detect strategy's first question
        return json.dumps({"types": ["mission_change"] if quote else []})
    event = {"type": "mission_change", "evidence": quote, "force": "US", "new_role": "advise", "status": "planned"}
    return json.dumps({"events": [event] if quote else []})


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the real prompts and gold, two small articles, and a private cache."""
    for name in ("prompts", "gold"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "input.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EXTRACT_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "")
    return tmp_path


def run_batch(requests: Path, results: Path, url: str) -> int:
    """A tiny batch engine: POST each request's body to ``url`` and write OpenAI Batch API output lines."""
    lines = []
    with httpx.Client(base_url=url.removesuffix("/v1")) as http:
        for n, line in enumerate(requests.read_text(encoding="utf-8").splitlines()):
            request = json.loads(line)
            assert request["method"] == "POST" and request["url"] == BATCH_URL
            answer = http.post(request["url"], json=request["body"])
            response = {"status_code": answer.status_code, "request_id": f"req-{n}", "body": answer.json()}
            lines.append({"id": f"batch-req-{n}", "custom_id": request["custom_id"], "response": response, "error": None})
    results.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return len(lines)


def cache_records(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, dict]:
    """The cache's records by key (exported with `extract cache export`), the live call's time taken out."""
    code, _, err = run_cli(capsys, "cache", "export", str(path), "--no-replay")
    assert code == 0, err
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for record in records:
        record["response"]["seconds"] = 0.0
    return {r["key"]: r for r in records}


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.parametrize("strategy", ["windows", "detect"])
def test_export_answer_import_then_offline_run_equals_a_direct_run(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    with loopback(fake_answer) as (url, received):
        options = ["--base-url", url, "--llama-cpp", "--strategy", strategy]
        code, _, err = run_cli(capsys, "run", "input.jsonl", *options, "--out", "direct")
        assert code == 0, err
        direct_bodies = list(received)
        assert any(b["messages"][-2]["content"] == BAD for b in direct_bodies), "the fake never made the client reask"
        direct_records = cache_records(capsys, workdir / "direct.snapshot.jsonl")

        monkeypatch.setenv("EXTRACT_HOME", str(workdir / "batch-home"))
        received.clear()
        rounds = []
        for n in range(1, 7):
            requests, results = workdir / f"requests-{n}.jsonl", workdir / f"results-{n}.jsonl"
            code, _, err = run_cli(capsys, "batch", "export", "input.jsonl", str(requests), *options)
            assert code == 0, err
            before = len(received)
            count = run_batch(requests, results, url) if requests.read_text() else 0
            assert len(received) - before == count  # export itself sent nothing: the runner sent every request
            rounds.append(count)
            if not count:
                break
            code, _, err = run_cli(capsys, "batch", "import", str(results))
            assert code == 0, err
            assert f"stored {count} answers" in err
        # Round 1: every first attempt; round 2: the reasks of the answers that did not validate; then none.
        # The detect strategy's fills come in two more rounds, once its detections are all answered.
        assert rounds == ([rounds[0], rounds[1], 0] if strategy == "windows" else [*rounds[:4], 0])
        assert rounds[0] > rounds[1] > 0 and all(rounds[:-1])
        assert sum(rounds) == len(direct_bodies)
        # The exact bodies, keys in the same order too (a sorted schema would change an engine's grammar).
        assert sorted(json.dumps(b) for b in received) == sorted(json.dumps(b) for b in direct_bodies)

        code, _, err = run_cli(capsys, "run", "input.jsonl", *options, "--offline", "--out", "batched")
        assert code == 0, err
    for name in ("events.jsonl", "rejected.jsonl"):
        assert (workdir / "batched" / name).read_bytes() == (workdir / "direct" / name).read_bytes(), name
    assert (workdir / "direct" / "events.jsonl").read_text().count("mission_change") >= 1
    manifest = json.loads((workdir / "batched" / "run.json").read_text())
    assert manifest["totals"]["calls"] == 0 and manifest["totals"]["cache_hits"] == len(direct_bodies)
    # Stored as a live call stores its answers: the same keys and records (but the time taken).
    assert cache_records(capsys, workdir / "batched.snapshot.jsonl") == direct_records


def _export(capsys: pytest.CaptureFixture[str], workdir: Path) -> list[dict]:
    code, _, err = run_cli(capsys, "batch", "export", "input.jsonl", "requests.jsonl", "--base-url", "http://10.0.0.1:9/v1")
    assert code == 0, err
    return [json.loads(line) for line in (workdir / "requests.jsonl").read_text().splitlines()]


def _result(custom_id: str, content: str, *, status: int = 200, error: dict | None = None) -> dict:
    body = completion(content) if status == 200 else {"error": {"message": "server error"}}
    return {"custom_id": custom_id, "response": {"status_code": status, "body": body}, "error": error}


def test_export_sends_nothing_and_import_reports_unknown_and_failed_lines(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Sockets are blocked: an export that tried to reach the (unroutable) endpoint would fail.
    requests = _export(capsys, workdir)
    assert len({r["custom_id"] for r in requests}) == len(requests) > 2
    assert all(r["body"]["model"] for r in requests)
    assert {r["body"]["max_tokens"] for r in requests} == {WINDOW_MAX_TOKENS, DETECT_MAX_TOKENS}  # hybrid: windows, detect
    assert _export(capsys, workdir) == requests  # nothing answered yet: the same file again
    good, failed, *_ = requests
    results = workdir / "results.jsonl"
    lines = [
        _result(good["custom_id"], json.dumps({"events": []})),
        _result(failed["custom_id"], "", status=500),
        _result("f" * 64, json.dumps({"events": []})),
        {**_result(requests[2]["custom_id"], "x"), "response": None, "error": {"code": "expired", "message": "expired"}},
    ]
    results.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    code, _, err = run_cli(capsys, "batch", "import", str(results))
    assert code == 1
    assert "3 of 4 lines" in err and "(1 answers stored)" in err
    assert f"{results}:2: {failed['custom_id'][:12]}" in err and "HTTP 500" in err
    assert f"{results}:3: custom_id '{'f' * 64}' is not a request exported from this cache" in err
    assert f"{results}:4:" in err and "expired" in err
    remaining = _export(capsys, workdir)
    assert [r["custom_id"] for r in remaining] == [r["custom_id"] for r in requests[1:]]  # only the good one stored
    code, _, err = run_cli(capsys, "batch", "import", str(workdir / "results.jsonl"))
    assert code == 1 and "3 of 4 lines" in err and "(0 answers stored)" in err  # the stored one is known: cached


def test_a_corrupt_results_file_stores_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requests = _export(capsys, workdir)
    results = workdir / "results.jsonl"
    good = json.dumps(_result(requests[0]["custom_id"], json.dumps({"events": []})))
    results.write_text(good + "\n{trunc", encoding="utf-8")
    code, _, err = run_cli(capsys, "batch", "import", str(results))
    assert code == 1 and f"{results}:2: corrupt JSON line" in err
    assert _export(capsys, workdir) == requests
