"""The library's face: `import extract`, the README's example, evaluate, and the Extractor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import extract
from extract.config import load_config
from extract.errors import CacheMissError, ConfigError

REPO = Path(__file__).resolve().parent.parent
#: The README's library example (its answer is recorded in tests/recordings/library.responses.jsonl).
EXAMPLE_TEXT = "The United States has reduced the number of its troops in Iraq to 2,500, the Pentagon said on Friday."
EXAMPLE_PUBLISHED = "2021-01-15"


def test_the_public_face_is_pinned() -> None:
    assert extract.__all__ == [
        "Article", "Config", "Event", "ExtractError", "Extractor", "Scores", "Task",
        "evaluate", "extract", "load_config", "load_documents", "load_task",
    ]  # fmt: skip
    assert dir(extract) == sorted(extract.__all__)
    assert all(getattr(extract, name) is not None for name in extract.__all__)
    with pytest.raises(AttributeError):
        extract.no_such_name  # noqa: B018


def test_importing_extract_loads_nothing_heavy() -> None:
    code = "import sys, extract; print(sorted(m for m in ('pydantic', 'openai', 'instructor', 'scipy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_readme_example_runs_on_the_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path))
    monkeypatch.delenv("EXTRACT_BASE_URL", raising=False)
    offline = load_config(cache_policy="offline")
    event, change = extract.extract(EXAMPLE_TEXT, published=EXAMPLE_PUBLISHED, config=offline)
    # As the model answered: it quoted the clause, without "the Pentagon said on Friday".
    assert isinstance(event, extract.Event) and event.evidence == EXAMPLE_TEXT.partition(", the Pentagon")[0]
    assert (event.type, event.force, event.count, event.location.country) == ("troop_level", "United States", 2500, "Iraq")
    # A level reached "to 2,500" is also the reduction that reached it (the guidelines' decided case).
    assert (change.type, change.kind, change.status, change.resulting_level) == ("force_change", "reduce", "completed", 2500)
    with pytest.raises(CacheMissError):  # another text is not recorded: offline, nothing is sent
        extract.extract("Another text about 40 soldiers in Chad.", config=offline)


def test_an_empty_text_is_an_error_before_any_call() -> None:
    with pytest.raises(ConfigError, match="empty"):
        extract.extract("  ")


def test_evaluate_a_run_folder_as_the_run_scored_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_regression import RECORDED_EVENTS

    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text(RECORDED_EVENTS.read_text())
    (run / "run.json").write_text(json.dumps({"input": str(REPO / "seeds"), "articles": {}}))
    scores = extract.evaluate(run, REPO / "gold" / "events.yaml")
    baseline = json.loads((REPO / "tests" / "baseline_scores.json").read_text())
    assert round(scores.lenient.f1, 4) == round(baseline["lenient"]["f1"], 4)
    assert round(scores.strict.f1, 4) == round(baseline["strict"]["f1"], 4)


def test_evaluate_events_in_memory() -> None:
    gold = {"a": [extract.load_task().parse_event({"type": "troop_level", "evidence": "x", "force": "US", "count": 5})]}
    assert extract.evaluate(gold, gold).lenient.f1 == 1.0


def test_the_extractor_opens_its_cache_lazily_and_closes_it(tmp_path: Path) -> None:
    with extract.Extractor(load_config(env={"EXTRACT_HOME": str(tmp_path)}), snapshots=[]) as extractor:
        assert extractor._cache is None
        stats = extractor.cache.stats()
        assert stats["entries"] == 0 and stats["snapshots"] == {} and stats["directory"].startswith(str(tmp_path))
        assert extractor.run_info()["task"] == {"name": "military", "spec": None}
    assert extractor._cache is None


def test_a_run_of_a_task_made_in_code_names_it_instead_of_guessing(tmp_path: Path) -> None:
    from tests.test_regression import RECORDED_EVENTS

    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text(RECORDED_EVENTS.read_text())
    (run / "run.json").write_text(json.dumps({"input": str(REPO / "seeds"), "task": {"name": "mine", "spec": None}}))
    with pytest.raises(ConfigError, match="made with the task 'mine'"):
        extract.evaluate(run, REPO / "gold" / "events.yaml")
    assert extract.evaluate(run, REPO / "gold" / "events.yaml", task=extract.load_task()).lenient.f1 > 0
