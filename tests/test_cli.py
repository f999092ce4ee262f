"""The command line end to end, against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from extract.config import ENV_BASE_URL, ENV_MODEL, ENVIRONMENT
from extract import detect
from extract.documents import load_documents
from extract.errors import EXIT_CODES, EXIT_ERROR, EXIT_FAILED_CALLS, EXIT_USAGE
from extract.fake_server import window_of
from extract.pipeline import count_calls
from extract.prompts import PromptSet
from extract.tasks.military import TASK
from tests.fakes import asks_for_types, completion, run_cli

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
REPO = SEEDS.parent
#: Requests of a (hybrid) run over the seeds when no type is detected: every window of every
#: article, every detect window with a cue word of a detected type, and the fills cue words
#: route (a window that repeats another is asked once).
_PROMPTS = PromptSet.load(TASK, REPO / "prompts")
PLANNED = len({
    json.dumps(call.messages)
    for a in load_documents(SEEDS)
    for call in (
        *detect.window_calls(a, _PROMPTS), *detect.detect_calls(a, _PROMPTS, strategy="hybrid"), *detect.routed_calls(a, _PROMPTS)
    )
})  # fmt: skip


def first_sentence_event(body: dict) -> str:
    """Answer like a model would: in an article's first window, one event quoting its first line
    (and no type in a detect call)."""
    if asks_for_types(body):
        return json.dumps({"types": []})
    header, text = window_of(body)
    if "part 1 of" not in header:
        return json.dumps({"events": []})
    sentence = text.strip().split("\n")[0]
    event = {"type": "mission_change", "evidence": sentence, "force": "US", "new_role": "advise", "status": "planned"}
    return json.dumps({"events": [event]})


class _Handler(BaseHTTPRequestHandler):
    calls: list[dict] = []
    #: What the fake model answers to a request body.
    answer: Callable[[dict], str] = staticmethod(first_sentence_event)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        payload = json.dumps(completion(type(self).answer(body))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_server() -> Iterator[tuple[str, list[dict]]]:
    _Handler.calls = []
    _Handler.answer = staticmethod(first_sentence_event)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", _Handler.calls
    server.shutdown()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the real prompts, seeds and gold, and a private cache."""
    for name in ("prompts", "seeds", "gold"):
        (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EXTRACT_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "")
    return tmp_path


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines[-1].startswith("error: ")
    return lines[-1]


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_run_writes_events_and_manifest_then_replays_from_cache(
    workdir: Path,
    fake_server: tuple[str, list[dict]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, calls = fake_server
    secret = "sk-test-SECRET-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    code, out, err = run_cli(capsys, "run", "--base-url", url, "--llama-cpp", "--out", "r1")
    assert code == 0, err
    assert "extracting 7 articles (" in out + err
    for path in [*(workdir / "r1").iterdir(), *(workdir / "home").rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    articles = load_documents(SEEDS)
    assert len(articles) == 7
    assert len(calls) == PLANNED
    kept = [json.loads(line) for line in (workdir / "r1/events.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (workdir / "r1/rejected.jsonl").read_text().splitlines()]
    assert [r["article_id"] for r in kept] == sorted(r["article_id"] for r in kept)
    assert sorted(r["article_id"] for r in kept + rejected) == sorted(a.id for a in articles)
    # A first sentence without a word of role or mission is not kept as a mission change.
    assert {r["rejected"] for r in rejected} <= {"the evidence has no cue word of mission_change"}
    records = kept + rejected
    for record in records:
        assert record["format"] == "extract.events/1" and record["span"]["status"] == "exact"
        original = Path(record["source"]).read_text()
        assert original[record["span"]["start"] : record["span"]["end"]] == record["event"]["evidence"]
    manifest = json.loads((workdir / "r1/run.json").read_text())
    repeated = sum(detect.count_calls(a, task=TASK, strategy="hybrid") for a in articles) - PLANNED  # answered by the cache
    assert (manifest["totals"]["calls"], manifest["totals"]["cache_hits"]) == (len(calls), repeated), manifest["totals"]
    assert manifest["prompts"]["hash"] and manifest["schema_version"] == "1"
    assert {"scores.json", "report.md", "report.html"} <= {p.name for p in (workdir / "r1").iterdir()}

    code, out, err = run_cli(capsys, "run", "--base-url", url, "--llama-cpp", "--out", "r2")
    assert code == 0, err
    assert len(calls) == PLANNED  # nothing new reached the server
    again = json.loads((workdir / "r2/run.json").read_text())
    assert again["totals"]["calls"] == 0 and again["totals"]["cache_hits"] == len(calls) + repeated
    assert (workdir / "r2/events.jsonl").read_bytes() == (workdir / "r1/events.jsonl").read_bytes()
    assert (workdir / "r2/scores.json").read_bytes() == (workdir / "r1/scores.json").read_bytes()


def test_offline_on_empty_cache_is_one_clear_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "--offline", "--no-replay", "--out", "r")
    assert code == EXIT_ERROR
    line = one_line_error(err)
    assert "offline and no cached response for article 000_a3c408a06a87a4ae#1" in line
    assert "without --offline" in line
    assert not (workdir / "r").exists()  # the run folder it created, still empty, is removed


def test_a_failed_run_removes_only_the_empty_folders_it_created(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_cli(capsys, "run", "--offline", "--no-replay")
    assert code == EXIT_ERROR and not (workdir / "runs").exists()  # runs/<time>-<hash>/ and runs/ itself
    (workdir / "mine").mkdir()
    code, _, _ = run_cli(capsys, "run", "--offline", "--no-replay", "--out", "mine")
    assert code == EXIT_ERROR and (workdir / "mine").is_dir()  # the user's folder stays
    code, _, _ = run_cli(capsys, "run", "--offline", "--no-replay", "--out", "mine/deep/r")
    assert code == EXIT_ERROR and sorted(p.name for p in (workdir / "mine").iterdir()) == []


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_run_with_failed_calls_exits_3(
    workdir: Path, fake_server: tuple[str, list[dict]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, calls = fake_server
    _Handler.answer = staticmethod(lambda body: "not json at all")
    code, _, err = run_cli(capsys, "run", "--base-url", url, "--llama-cpp", "--retries", "0", "--out", "r")
    assert code == EXIT_FAILED_CALLS == 3, err
    manifest = json.loads((workdir / "r/run.json").read_text())
    assert manifest["totals"]["failed"] == 7 and calls


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file or folder"),
        (b"", "empty document"),
        (b"abc\x00def", "binary file"),
        (b"caf\xe9 au lait", "not UTF-8"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    workdir: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    doc = workdir / "doc.txt"
    if content is not None:
        doc.write_bytes(content)
    code, out, err = run_cli(capsys, "run", str(doc), "--offline", "--out", "r")
    assert code == 1
    assert message in one_line_error(err)


def test_unreachable_server_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # pytest-socket refuses the connection before it leaves the process: a closed port, in effect.
    code, out, err = run_cli(capsys, "run", "--base-url", "http://127.0.0.1:9/v1", "--retries", "0", "--out", "r")
    assert code == 1
    assert "cannot reach the model server" in one_line_error(err)


def test_missing_or_corrupt_snapshot_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "--offline", "--replay", "nowhere.jsonl")
    assert code == 1 and "no snapshot at nowhere.jsonl" in one_line_error(err)
    corrupt = workdir / "corrupt.jsonl"
    corrupt.write_text('{"format": "extract.response/1", "key": "k", "response": {}}\n{"format": "extr')
    code, _, err = run_cli(capsys, "run", "--offline", "--replay", str(corrupt))
    assert code == 1 and f"{corrupt}:2: corrupt JSON line" in one_line_error(err)


def test_unknown_mode_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "--offline", "--no-replay", "--mode", "telepathy")
    assert code == 1 and "unknown instructor mode 'telepathy'" in one_line_error(err)


def test_usage_errors_are_reported_without_traceback(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "--no-such-flag")
    assert code == 2 and "No such option" in err and "Traceback" not in err


def test_contradictory_flags_are_a_usage_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "bench"):
        code, out, err = run_cli(capsys, command, "--offline", "--refresh")
        assert code == EXIT_USAGE == 2
        assert "contradict" in err and "Traceback" not in err
    assert not (workdir / "runs").exists()


def test_an_unknown_strategy_is_a_usage_error_and_a_task_without_its_templates_an_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "run", "--strategy", "nope", "--offline")
    assert code == EXIT_USAGE and "choose hybrid, windows, detect" in err and "Traceback" not in err
    business = REPO / "tests" / "tasks" / "business"
    code, _, err = run_cli(capsys, "run", "--task", str(business), "--strategy", "detect", "--offline")
    assert code == 1 and "no templates for the detect strategy" in err and "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"extract {version('extract-events')}"


def _flat(text: str) -> str:
    """Help text with rich's box characters and line wrapping taken out."""
    return " ".join(text.replace("│", " ").split())


def test_help_lists_environment_exit_codes_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    text = _flat(out)
    assert code == 0
    for name in ENVIRONMENT:
        assert f"{name}:" in text
    for exit_code, meaning in EXIT_CODES.items():
        assert f"{exit_code}: {meaning}" in text
    assert "--install-completion" in text and "--show-completion" in text and "--version" in text


def test_run_help_names_the_variables_and_the_default_snapshot(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no word folded across lines
    code, out, _ = run_cli(capsys, "run", "--help")
    text = _flat(out)
    assert code == 0
    assert f"env: {ENV_BASE_URL}" in text and f"env: {ENV_MODEL}" in text
    assert "(default: the repository's recording, inside it)" in text


def test_importing_the_cli_loads_no_heavy_module() -> None:
    import subprocess

    heavy = ["instructor", "openai", "scipy", "numpy", "pydantic", "extract.llm", "extract.pipeline", "extract.bench"]
    probe = f"import sys, extract.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_score_and_compare_need_run_folders(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "score", "nowhere")
    assert code == 1 and "not a run folder" in one_line_error(err)
    code, _, err = run_cli(capsys, "compare", "a", "b")
    assert code == 1 and "no scores.json" in one_line_error(err)


def test_gold_check_passes_on_the_repository_gold(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "gold", "check")
    assert code == 0, out + err
    assert "gold ok: 7 articles" in err


def test_cache_stats_export_import_clear(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = workdir / "snap.jsonl"
    code, _, err = run_cli(capsys, "cache", "export", str(snapshot), "--no-replay")
    assert code == 0 and "exported 0 responses" in err
    code, out, _ = run_cli(capsys, "cache", "stats", "--no-replay")
    assert code == 0 and json.loads(out)["entries"] == 0
    code, _, err = run_cli(capsys, "cache", "import", str(snapshot))
    assert code == 0 and "imported 0 responses" in err
    code, _, err = run_cli(capsys, "cache", "clear")
    assert code == 0 and "removed 0" in err


def test_compare_prints_deltas_and_gates_on_the_threshold(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from extract.aliases import Aliases
    from extract.gold import load_gold
    from extract.score import score_run

    gold = {k: list(v.events) for k, v in load_gold(REPO / "gold" / "events.yaml", task=TASK).items()}
    aliases = Aliases.load(REPO / "gold" / "aliases.yaml")
    half = {k: v[: len(v) // 2] for k, v in gold.items()}
    for name, predicted in (("perfect", gold), ("half", half)):
        (workdir / name).mkdir()
        scores = score_run(predicted, gold, aliases=aliases).to_json()
        (workdir / name / "scores.json").write_text(json.dumps(scores))
    code, out, _ = run_cli(capsys, "compare", "perfect", "half", "--threshold", "0.05")
    assert code == 4  # the regression gate, distinct from errors (1) and usage (2)
    assert "| lenient.f1 | 1.0000 |" in out
    assert "## Is the difference real?" in out
    record = json.loads((workdir / "half" / "compare.json").read_text())
    assert record["format"] == "extract.compare/1" and record["a"] == "perfect"
    lenient = next(t for t in record["tests"] if t["metric"] == "lenient.f1")
    assert lenient["delta"] < 0 and lenient["articles"] == 7 and lenient["ci95"][1] < 0
    assert (workdir / "half" / "compare.md").read_text().strip() in out
    html = (workdir / "half" / "compare.html").read_text()
    assert "lost" in html and "gained" in html and "http" not in html
    code, out, _ = run_cli(capsys, "compare", "half", "perfect", "--threshold", "0.05", "--json", "--out", "cmp")
    assert code == 0
    assert json.loads(out)["tests"][0]["delta"] > 0
    assert sorted(p.name for p in (workdir / "cmp").iterdir()) == ["compare.html", "compare.json", "compare.md"]


def test_score_json_prints_the_scores_of_the_recorded_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = REPO / "tests" / "recordings" / "responses.jsonl"
    code, _, err = run_cli(capsys, "run", "--offline", "--replay", str(recording), "--out", "r")
    assert code == 0, err
    code, out, _ = run_cli(capsys, "score", "r", "--json")
    assert code == 0
    printed = json.loads(out)
    assert printed == json.loads((workdir / "r" / "scores.json").read_text())
    assert printed["evidence"]["overlap_share"] > 0.9 and printed["params"]["matching"].startswith("one assignment")


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_gold_is_scoped_to_the_input_and_an_unlabeled_corpus_gets_a_report_without_scores(
    workdir: Path, fake_server: tuple[str, list[dict]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = fake_server
    one = sorted(SEEDS.glob("003_*.txt"))[0]
    code, out, err = run_cli(capsys, "run", str(one), "--base-url", url, "--llama-cpp", "--out", "one")
    assert code == 0, err
    assert "extracting 1 article (" in out + err
    scores = json.loads((workdir / "one" / "scores.json").read_text())
    assert list(scores["by_article"]) == ["003_c876d06fac985b5f#1"]
    assert len(scores["counts"]["gold_not_in_input"]) == 6  # listed, not counted as missed
    assert scores["counts"]["gold"] == 9  # that article's own gold events

    corpus = workdir / "mine.jsonl"
    corpus.write_text(json.dumps({"id": "m1", "text": "US troops will leave Syria, officials said on Monday."}) + "\n")
    code, _, err = run_cli(capsys, "run", str(corpus), "--base-url", url, "--llama-cpp", "--out", "mine")
    assert code == 0, err
    assert "gold/events.yaml for the 1 article(s) of this input" in " ".join(err.split())
    names = {p.name for p in (workdir / "mine").iterdir()}
    assert {"events.jsonl", "report.html"} <= names and "scores.json" not in names
    assert "m1" in (workdir / "mine" / "report.html").read_text()


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_two_runs_sharing_one_cache_at_once_both_complete(
    workdir: Path, fake_server: tuple[str, list[dict]]
) -> None:
    import os
    import subprocess

    url, calls = fake_server
    env = {**os.environ, "EXTRACT_CACHE_DIR": str(workdir / "shared-cache"), "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "extract", "run", "--base-url", url, "--llama-cpp", "--out", f"r{i}"],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in (1, 2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert (workdir / "r1/events.jsonl").read_text() == (workdir / "r2/events.jsonl").read_text()
    assert len(calls) <= 2 * PLANNED
    code = subprocess.run(
        [sys.executable, "-m", "extract", "run", "--base-url", url, "--llama-cpp", "--out", "r3"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )
    assert code.returncode == 0, code.stderr
    assert json.loads((workdir / "r3/run.json").read_text())["totals"]["calls"] == 0


def test_gold_draft_then_check_on_a_users_own_articles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_export import make_run

    run_dir = make_run(tmp_path)
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("format: extract.aliases/1\ncanonical:\n  Iraq: []\n  Coalition: []\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "gold", "draft", str(run_dir))
    draft = run_dir / "gold-draft.yaml"
    assert code == 0 and "wrote 2 unreviewed events" in err and draft.is_file()
    code, _, err = run_cli(capsys, "gold", "draft", str(run_dir))
    assert code == 1 and "exists; pass --force" in one_line_error(err)
    check = ("gold", "check", "--gold", str(draft), "--aliases", str(aliases), "--seeds", str(tmp_path / "docs.jsonl"))
    code, out, _ = run_cli(capsys, *check)
    assert code == 1 and out.count("unreviewed draft event") == 2
    # Scoring against a draft works, and says the scores are provisional.
    code, _, err = run_cli(capsys, "score", str(run_dir), "--gold", str(draft), "--aliases", str(aliases))
    assert code == 0 and "2 unreviewed draft event(s)" in " ".join(err.split()), err
    draft.write_text(draft.read_text(encoding="utf-8").replace("    reviewed: false\n", ""), encoding="utf-8")
    code, out, err = run_cli(capsys, *check)
    assert code == 0 and "gold ok: 2 articles, 2 events" in err, out + err


# ---------------------------------------------------------------- streamed runs, resume, hostile input


class _Scripted(_Handler):
    """Answers as _Handler does, unless ``fault(n)`` (n: the request's number, from 1) says to drop
    the connection ("drop"), to answer an HTTP status (an int) or to wait (a float, seconds) first."""

    fault: Callable[[int], object] = staticmethod(lambda n: None)
    seen = 0

    def do_POST(self) -> None:  # noqa: N802
        type(self).seen += 1
        fault = type(self).fault(type(self).seen)
        if fault == "drop" or isinstance(fault, int):
            self.rfile.read(int(self.headers["Content-Length"]))
            if fault == "drop":
                self.close_connection = True
                return
            self.send_response(fault)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(fault, float):
            time.sleep(fault)
        super().do_POST()


@pytest.fixture
def scripted_server() -> Iterator[str]:
    _Handler.calls, _Handler.answer = [], staticmethod(first_sentence_event)
    _Scripted.fault, _Scripted.seen = staticmethod(lambda n: None), 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def untimed(value: object) -> object:
    """run.json without what differs between two runs of the same work: when, and how long."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in {"started", "seconds", "server_seconds"}}
    return value


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_down_endpoint_stops_the_run_and_resume_finishes_it_as_if_uninterrupted(
    workdir: Path, scripted_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = scripted_server
    monkeypatch.setenv("EXTRACT_CACHE_DIR", str(workdir / "cache-ref"))
    # The windows strategy streams article by article (hybrid and detect finish a batch at a time).
    windows = ("--strategy", "windows")
    code, _, err = run_cli(capsys, "run", "--base-url", url, "--llama-cpp", *windows, "--out", "ref")
    assert code == 0, err
    first_two = sum(count_calls(a) for a in load_documents(SEEDS)[:2])
    _Scripted.fault, _Scripted.seen = staticmethod(lambda n: "drop" if n > first_two else None), 0
    monkeypatch.setenv("EXTRACT_CACHE_DIR", str(workdir / "cache"))
    code, _, err = run_cli(capsys, "run", "--base-url", url, "--llama-cpp", *windows, "--retries", "2", "--out", "r")
    assert code == EXIT_ERROR
    line = one_line_error(err)
    assert "in a row" in line and line.endswith("2 finished article(s) are kept in r: resume with `extract run --resume r`")
    assert _Scripted.seen == first_two + 3  # stopped at once: no other window, no other article
    assert len((workdir / "r/progress.jsonl").read_text().splitlines()) == 1 + 2  # the header, two articles
    assert not (workdir / "r/run.json").exists()

    progress = (workdir / "r/progress.jsonl").read_text().splitlines()
    header = json.loads(progress[0])
    for key in ("task", "schema_version", "strategy"):  # as a run begun before runs named them wrote it
        del header["run"]["run_info"][key]
    del header["run"]["options"]["strategy"]
    (workdir / "r/progress.jsonl").write_text("\n".join([json.dumps(header, sort_keys=True), *progress[1:]]) + "\n")
    _Scripted.fault, _Scripted.seen = staticmethod(lambda n: None), 0
    code, _, err = run_cli(capsys, "run", "--resume", "r")  # its input, endpoint and options come back
    assert code == 0, err
    windows_calls = sum(count_calls(a) for a in load_documents(SEEDS))
    assert _Scripted.seen == windows_calls - first_two  # the finished articles' calls were not replayed
    for name in ("events.jsonl", "rejected.jsonl", "scores.json"):
        assert (workdir / "r" / name).read_bytes() == (workdir / "ref" / name).read_bytes(), name
    run, ref = (json.loads((workdir / d / "run.json").read_text()) for d in ("r", "ref"))
    assert untimed(run) == untimed(ref)

    code, _, err = run_cli(capsys, "run", "--resume", "r", "--seed", "7")
    assert code == EXIT_ERROR and "cannot resume r: it ran with params" in one_line_error(err)
    code, _, err = run_cli(capsys, "run", "--resume", "r", "--strategy", "detect")
    assert code == EXIT_ERROR and "cannot resume r: it ran with prompts" in one_line_error(err)  # the windows strategy's
    code, _, err = run_cli(capsys, "run", "--resume", "r", "--out", "elsewhere")
    assert code == EXIT_USAGE and "--resume" in err


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_run_killed_with_sigkill_resumes_to_the_same_events(
    workdir: Path, scripted_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess

    url = scripted_server
    _Scripted.fault = staticmethod(lambda n: 0.05)  # slow enough to be killed in the middle
    monkeypatch.setenv("EXTRACT_CACHE_DIR", str(workdir / "cache"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # The windows strategy finishes article by article; a hybrid batch writes its articles at the
    # end of the batch, just before run.json, so the kill would race the end of the run.
    command = [sys.executable, "-m", "extract", "run", "--base-url", url, "--llama-cpp", "--strategy", "windows", "--out", "r"]
    proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress, deadline = workdir / "r/progress.jsonl", time.monotonic() + 120
    while not (progress.is_file() and progress.read_bytes().count(b"\n") >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (workdir / "r/run.json").exists()
    _Scripted.fault = staticmethod(lambda n: None)
    code, _, err = run_cli(capsys, "run", "--resume", "r")
    assert code == 0, err
    assert "finished before" in err
    code, _, err = run_cli(capsys, "run", "--base-url", url, "--llama-cpp", "--strategy", "windows", "--out", "ref")  # all from the cache
    assert code == 0, err
    for name in ("events.jsonl", "rejected.jsonl", "scores.json"):
        assert (workdir / "r" / name).read_bytes() == (workdir / "ref" / name).read_bytes(), name
    run, ref = (json.loads((workdir / d / "run.json").read_text()) for d in ("r", "ref"))
    # What the calls cost differs (the article in flight was answered from the cache the second time).
    for record in (run, ref):
        for entry in [*record["articles"].values(), record["totals"]]:
            for key in ("usage", "calls", "cache_hits", "cache_misses", "prompt_tokens", "completion_tokens",
                        "cached_prompt_tokens", "cached_completion_tokens", "cached_server_seconds"):  # fmt: skip
                entry.pop(key, None)
    assert untimed(run) == untimed(ref)


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_failed_call_is_never_labelled_cached(
    workdir: Path, scripted_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _Scripted.fault = staticmethod(lambda n: 500)
    one = "seeds/003_c876d06fac985b5f.txt"
    code, _, err = run_cli(capsys, "run", one, "--base-url", scripted_server, "--llama-cpp", "--retries", "0", "--out", "r")
    assert code == EXIT_FAILED_CALLS, err
    (line,) = [line for line in err.splitlines() if "003_c876d06fac985b5f#1:" in line]
    assert "(cached)" not in line and "(0 calls, " in line and "FAILED: window 1/" in line


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_markup_in_ids_and_texts_upper_case_files_and_one_paragraph_texts(
    workdir: Path, fake_server: tuple[str, list[dict]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = fake_server
    docs = workdir / "docs"
    docs.mkdir()
    record = {"id": "[/bold]", "text": "[red]US troops[/red] will leave Syria, officials said on Monday."}
    (docs / "wire.JSONL").write_text(json.dumps(record) + "\n")
    (docs / "NOTE.TXT").write_text("US troops will leave Iraq by September, officials said on Monday.\n")
    code, _, err = run_cli(capsys, "run", "docs", "--base-url", url, "--llama-cpp", "--out", "r")
    assert code == 0, err
    assert "  [/bold]: " in err and "  NOTE#1: " in err and "Traceback" not in err
    assert set(json.loads((workdir / "r/run.json").read_text())["articles"]) == {"[/bold]", "NOTE#1"}


def test_duplicate_ids_and_over_long_articles_stop_the_run_before_any_call(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [{"id": i, "text": "Some article text here."} for i in ("x", "y", "x")]
    (workdir / "dup.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    code, _, err = run_cli(capsys, "run", "dup.jsonl", "--offline", "--out", "r")
    assert code == EXIT_ERROR
    assert one_line_error(err) == "error: duplicate article id 'x': dup.jsonl:1 and dup.jsonl:3"
    code, _, err = run_cli(capsys, "run", "--offline", "--max-chars", "1000", "--out", "r")
    assert code == EXIT_ERROR
    line = one_line_error(err)
    assert "article '000_a3c408a06a87a4ae#1' has" in line and "more than the maximum of 1,000 (--max-chars)" in line
    assert not (workdir / "r").exists()


def test_a_run_never_writes_into_a_folder_that_is_not_empty(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    (workdir / "r").mkdir()
    (workdir / "r/notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "run", "--offline", "--out", "r")
    assert code == EXIT_ERROR and "r is not empty" in one_line_error(err)
    assert [p.name for p in (workdir / "r").iterdir()] == ["notes.txt"]
    from extract.api import new_run_dir

    first, second = new_run_dir("0123456789abcdef"), new_run_dir("0123456789abcdef")
    assert first != second and first.parent == Path("runs")
    assert re.fullmatch(r"\d{8}-\d{6}-\d{6}-01234567-[0-9a-f]{6}", first.name)
    code, _, err = run_cli(capsys, "run", "--resume", "nowhere")
    assert code == EXIT_ERROR and "nowhere holds no run to resume" in one_line_error(err)
