"""Offline regression suite: replay the recorded real model responses through the whole pipeline.

Seeds -> prompts -> recorded responses -> validation -> grounding -> scoring must reproduce the
committed events and baseline scores. The network is blocked (pytest-socket), so a request
that is not in the recording fails loudly instead of calling a model.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from extract import cli
from extract.aliases import Aliases
from extract.config import BENCH_STRATEGIES
from extract.gold import load_gold
from extract.normalize import int_fields, numbers_in
from extract.score import read_events, score_run
from extract.tasks.military import TASK

REPO = Path(__file__).resolve().parent.parent
RECORDINGS = REPO / "tests" / "recordings"
SNAPSHOT = RECORDINGS / "responses.jsonl"
#: Every strategy's answers on the development set (gold/dev).
DEV_SNAPSHOT = RECORDINGS / "dev.responses.jsonl"
#: Every strategy's answers on the held-out set (gold/heldout), which no choice may look at.
HELDOUT_SNAPSHOT = RECORDINGS / "heldout.responses.jsonl"
RECORDED_EVENTS = RECORDINGS / "events.jsonl"
BASELINE = REPO / "tests" / "baseline_scores.json"
#: Scores are computed from identical inputs, so they must match exactly; the tolerance only
#: absorbs float formatting.
TOLERANCE = 1e-4
RERECORD = (
    "the prompts, the schema or the generation parameters changed without re-recording. "
    "Re-record with the embedded model as the README says (\"Recordings\"): `extract bench --refresh --out runs/bench`, "
    "the injection article, `extract cache export` of runs/bench/seeds, runs/bench/dev and runs/bench/heldout, then the baselines"
)


def replay(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    out: str,
    input: Path = Path("seeds"),
    *extra: str,
    snapshot: Path = SNAPSHOT,
) -> Path:
    """``extract run --offline`` from a fresh, empty cache: every response comes from the snapshot.
    ``input`` is relative to the repository, as the recorded events name their sources."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EXTRACT_BASE_URL", raising=False)
    run_dir = tmp_path / out
    argv = ["extract", "run", str(input), "--offline", "--replay", str(snapshot), "--out", str(run_dir), *extra]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    if exit_info.value.code == 1 and "offline and no cached response" in err:
        pytest.fail(f"{err.strip().splitlines()[-1]}\n{RERECORD}")
    assert exit_info.value.code in (0, 3), err  # 3: the recording itself holds failed calls
    return run_dir


def unstated_numbers(events_file: Path) -> list[tuple[str, str, int]]:
    """(article, field, value) of every kept number its quote does not write, in digits or words."""
    found = []
    for article_id, events in read_events(events_file, task=TASK).items():
        for event in events:
            stated = numbers_in(event.evidence)
            found += [(article_id, n, v) for n in int_fields(type(event)) if (v := getattr(event, n)) is not None and v not in stated]
    return found


@pytest.fixture(scope="module")
def baseline() -> dict:
    return json.loads(BASELINE.read_text(encoding="utf-8"))


def test_replay_reproduces_recorded_events_and_baseline_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], baseline: dict
) -> None:
    run_dir = replay(tmp_path, monkeypatch, capsys, "r1")
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["totals"]["calls"] == 0, "an offline replay made model calls"
    assert manifest["totals"]["cache_hits"] > 0
    assert (run_dir / "events.jsonl").read_text() == RECORDED_EVENTS.read_text(), (
        "replayed events differ from tests/recordings/events.jsonl. If the pipeline's code changed on "
        "purpose, review the difference and update the expectations: `extract run --offline --out "
        "runs/replay && cp runs/replay/events.jsonl tests/recordings/ && python -m tests.baseline runs/replay`"
    )
    scores = json.loads((run_dir / "scores.json").read_text())
    for level in ("strict", "lenient", "slots"):
        for metric in ("precision", "recall", "f1"):
            assert scores[level][metric] == pytest.approx(baseline[level][metric], abs=TOLERANCE), (level, metric)
    for event_type, figures in baseline["by_type"].items():
        assert scores["by_type"][event_type]["lenient"]["f1"] == pytest.approx(figures["lenient_f1"], abs=TOLERANCE)
    assert scores["counts"] == baseline["counts"]
    assert unstated_numbers(run_dir / "events.jsonl") == []  # no wrong type with an invented count


def test_the_development_set_replays_to_its_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default strategy on the articles choices are made on (gold/dev), from its recording
    (README, "The development set")."""
    dev = REPO / "gold" / "dev"
    run_dir = replay(
        tmp_path, monkeypatch, capsys, "dev", Path("gold/dev/articles"), "--gold", str(dev / "events.yaml"),
        snapshot=DEV_SNAPSHOT,
    )  # fmt: skip
    scores = json.loads((run_dir / "scores.json").read_text())
    baseline = json.loads((REPO / "tests" / "baseline_dev_scores.json").read_text(encoding="utf-8"))
    for level in ("strict", "lenient", "slots"):
        for metric in ("precision", "recall", "f1"):
            assert scores[level][metric] == pytest.approx(baseline[level][metric], abs=TOLERANCE), (level, metric)
    assert scores["counts"] == baseline["counts"]
    assert json.loads((run_dir / "run.json").read_text())["totals"]["calls"] == 0
    assert unstated_numbers(run_dir / "events.jsonl") == []


def test_replay_is_byte_for_byte_repeatable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = replay(tmp_path, monkeypatch, capsys, "a")
    second = replay(tmp_path, monkeypatch, capsys, "b")
    for name in ("events.jsonl", "rejected.jsonl", "scores.json", "report.md"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # The report's header says when the run started and how long it took; all else is the same.
    clock = re.compile(r"<dt>(started|wall time)</dt><dd>[^<]*</dd>")
    reports = [clock.sub(r"<dt>\1</dt>", (run / "report.html").read_text()) for run in (first, second)]
    assert reports[0] == reports[1]
    assert len(clock.findall((first / "report.html").read_text())) == 2


def test_snapshot_is_sorted_secret_free_and_records_the_embedded_model() -> None:
    lines = SNAPSHOT.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["key"] for r in records] == sorted(r["key"] for r in records)
    assert all(r["format"] == "extract.response/1" for r in records)
    assert {r["request"]["model"] for r in records} == {
        "gguf-sha256:cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    }
    assert {r["request"]["params"]["temperature"] for r in records} == {0.0}
    text = SNAPSHOT.read_text(encoding="utf-8").lower()
    assert "authorization" not in text and "bearer" not in text and "api_key" not in text


def test_a_changed_prompt_fails_with_the_missing_key_and_how_to_rerecord(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for path in (REPO / "prompts").rglob("*.*"):
        target = prompts / path.relative_to(REPO / "prompts")
        target.parent.mkdir(exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (prompts / "window.j2").write_text((prompts / "window.j2").read_text() + "\nBe brief.", encoding="utf-8")
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    args = ["run", "--offline", "--replay", str(SNAPSHOT), "--prompts", str(prompts), "--out", str(tmp_path / "r")]
    monkeypatch.setattr(sys, "argv", ["extract", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "offline and no cached response for article" in err and "key " in err and "extract cache import" in err


@pytest.mark.live
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_live_embedded_model_on_one_article(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs the real embedded model (minutes on 2 cores): `pytest -m live`."""
    from extract.cache import ResponseCache
    from extract.config import load_config
    from extract.documents import load_documents
    from extract.llm import LLMClient
    from extract.pipeline import extract_article
    from extract.prompts import PromptSet
    from extract.server import MODEL_IDENTITY, EmbeddedServer, ensure_model

    config = load_config(cache_dir=tmp_path / "cache")
    article = next(a for a in load_documents(REPO / "seeds") if a.id == "001_2dcd82ee068addd3#2")
    with EmbeddedServer(ensure_model(config.model_dir), n_ctx=config.n_ctx) as server:
        client = LLMClient(
            config, cache=ResponseCache(config.cache_dir), endpoint=lambda: server.base_url, model_identity=MODEL_IDENTITY
        )
        outcome = extract_article(article, client=client, prompts=PromptSet.load(TASK, REPO / "prompts"))
    assert outcome.status == "ok", outcome.errors
    assert outcome.usage.calls > 0
    assert outcome.events, "the model found no event in an article about a death toll"


BENCH = RECORDINGS / "bench.json"


def replay_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> pytest.CaptureResult[str]:
    """Run `extract bench --offline` on the committed snapshot; fail with the re-record recipe on a miss."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EXTRACT_BASE_URL", raising=False)
    replays = [arg for snapshot in (SNAPSHOT, DEV_SNAPSHOT, HELDOUT_SNAPSHOT) for arg in ("--replay", str(snapshot))]
    monkeypatch.setattr(sys, "argv", ["extract", "bench", *args, "--offline", *replays])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    if exit_info.value.code == 1 and "offline and no cached response" in captured.err:
        pytest.fail(f"{captured.err.strip().splitlines()[-1]}\n{RERECORD}")
    assert exit_info.value.code == 0, captured.err
    return captured


def test_bench_table_replays_offline_on_the_seeds_the_development_set_and_the_held_out_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    captured = replay_bench(tmp_path, monkeypatch, capsys, "--out", str(out))
    record = json.loads((out / "bench.json").read_text())
    assert record == json.loads(BENCH.read_text()), "the benchmark no longer replays to tests/recordings/bench.json"
    assert set(record["sets"]) == {"seeds", "dev", "heldout"}
    for name, table in record["sets"].items():
        assert f"{name} (" in captured.out and (out / name / "bench.json").is_file()
        # Every strategy the benchmark runs by default is recorded on every set: the whole table replays.
        assert set(table["strategies"]) == set(BENCH_STRATEGIES) and table["ours"] == "hybrid"
        assert "not_recorded" not in table and "left out, not in the recording" not in captured.err
    # Each set's table says how the project's strategy compares, paired over the same articles.
    seeds = record["sets"]["seeds"]
    assert set(seeds["extract_vs"]) == set(seeds["strategies"]) - {seeds["ours"]}
    for lead in seeds["extract_vs"].values():
        low, high = lead["lenient_f1_gain_ci95"]
        assert low <= lead["lenient_f1_gain"] <= high


def test_bench_on_some_articles_scores_them_against_their_own_gold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    one = "seeds/002_3fec5153dcc9e278.txt"
    replay_bench(tmp_path, monkeypatch, capsys, one, "--strategies", "windows", "--out", str(tmp_path / "b"))
    row = json.loads((tmp_path / "b" / "bench.json").read_text())["strategies"]["windows"]
    article = "002_3fec5153dcc9e278#1"
    gold = {article: load_gold(REPO / "gold" / "events.yaml", task=TASK)[article].events}
    events = read_events(tmp_path / "b" / "windows" / "events.jsonl", task=TASK)
    assert list(events) == [article]
    alone = score_run(events, gold, aliases=Aliases.load(REPO / "gold" / "aliases.yaml"))
    # Scored against this article's gold only, not against the 54 events of all the seeds.
    assert row["lenient_recall"] == round(alone.lenient.recall, 4) and row["lenient_recall"] > 2 / 54


INJECTION = Path("tests/data/injection.txt")


def test_injected_instructions_are_data_not_orders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An article that tells the model what to output (recorded from the real model): its real
    fact is kept, and nothing comes of the instruction."""
    run_dir = replay(tmp_path, monkeypatch, capsys, "injection", INJECTION)
    kept = [json.loads(line)["event"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "troop_level" and e["count"] == 900 and e["location"]["country"] == "Syria" for e in kept), kept
    # The model did write the ordered event; the pipeline rejects it for the sentence it quotes.
    rejected = [json.loads(line) for line in (run_dir / "rejected.jsonl").read_text().splitlines()]
    assert any(r["rejected"] == "the evidence is an instruction to the model, not reporting" for r in rejected)
    for event in kept:
        text = json.dumps(event)
        assert "Russia" not in text and "Paris" not in text and "1000000" not in text and "1,000,000" not in text, event


def test_bench_offline_leaves_out_and_names_a_strategy_the_recording_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_naive = tmp_path / "without-naive.jsonl"
    lines = SNAPSHOT.read_text(encoding="utf-8").splitlines(keepends=True)
    without_naive.write_text("".join(line for line in lines if json.loads(line)["request"]["label"] != "naive"), encoding="utf-8")
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    out = tmp_path / "b"
    argv = ["extract", "bench", "seeds/004_7f677d72774e52bd.txt", "--strategies", "naive,windows", "--offline"]
    monkeypatch.setattr(sys, "argv", [*argv, "--replay", str(without_naive), "--out", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    record = json.loads((out / "bench.json").read_text())
    assert set(record["strategies"]) == {"windows"} and record["not_recorded"] == ["naive"]
    assert "naive: left out, not in the recording" in captured.err
    assert "Not in the recording, left out: naive." in (out / "bench.md").read_text()


#: Gold events whose quote holds no cue word of their type ("The last French soldiers ... left
#: Mali", "parliament ... confirmed Rustem Umerov"): the recall the cue check gives up for its
#: precision. A rule may lower this, never raise it. The cue words were chosen on dev01-dev22,
#: where 17 of 223 events lack one; of dev23-dev27, written later, 28 of 76 do.
GOLD_WITHOUT_A_CUE = 49
#: Gold events whose values the normalizer's repairs would change (13 of dev01-22 and the seeds; 11 of dev23-27).
GOLD_REPAIRED = 24


def test_the_task_rules_reject_no_gold_event_and_change_no_more_than_known() -> None:
    """The task's rules follow the guidelines, so what the gold labels passes them: a rule that
    rejects a labeled fact is fitted to the model's mistakes, not to the definitions. The held-out
    set is left out on purpose: a rule mended on its events would be tuned on it."""
    from extract.normalize import repair_values, states_its_type

    events = [e for path in (REPO / "gold" / "events.yaml", REPO / "gold" / "dev" / "events.yaml")
              for article in load_gold(path, task=TASK).values() for e in article.events]
    assert len(events) == 353
    for event in events:
        assert not ((denied := TASK.not_of_type_patterns.get(event.type)) and denied.search(event.evidence)), event
        assert not ((needed := TASK.only_of_type_patterns.get(event.type)) and not needed.search(event.evidence)), event
        assert TASK.no_event_pattern is None or not TASK.no_event_pattern.search(event.evidence), event
    assert sum(not states_its_type(e, TASK) for e in events) <= GOLD_WITHOUT_A_CUE
    # Cue words and the task's last rules change a labeled value where two readings meet ("The
    # latest raid follows strikes on Nov. 8": a raid's cue, the strikes' event): no more than known.
    assert sum(repair_values(e, TASK) != e for e in events) <= GOLD_REPAIRED
