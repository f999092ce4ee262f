"""Tasks: the built-in one, a folder task of another domain (tests/tasks/business), the skeleton
`extract init` writes, and the errors a wrong task gives."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from extract.errors import ConfigError
from extract.prompts import PromptSet
from extract.task import Task, init_task, load_task
from extract.tasks.military import TASK as MILITARY
from tests.fakes import run_cli

REPO = Path(__file__).resolve().parent.parent
BUSINESS = REPO / "tests" / "tasks" / "business"
DATA = REPO / "tests" / "data" / "business"
SNAPSHOT = REPO / "tests" / "recordings" / "business.responses.jsonl"
#: The modules of the core, which must name no event type of any task.
CORE = ("documents", "cache", "llm", "align", "pipeline", "score", "report", "schema", "task", "normalize",
        "prompts", "records", "gold", "aliases", "export", "api", "config", "errors", "files", "text", "server")  # fmt: skip


def test_the_default_task_is_the_built_in_one() -> None:
    assert load_task() is MILITARY and load_task("extract.tasks.military") is MILITARY
    assert len(MILITARY.event_types) == 9 and MILITARY.prompts_dir.is_dir() and MILITARY.aliases_path.is_file()


def test_a_folder_task_loads_with_its_own_types_and_prompts() -> None:
    task = load_task(str(BUSINESS))
    assert task.name == "business" and task.event_types == ("acquisition", "layoff", "executive_change")
    assert task.key_fields["layoff"] == ("company", "count")
    prompts = PromptSet.load(task)
    assert list(prompts.strategies) == ["windows"]  # no baseline templates: only the main strategy
    assert {e.type for example in prompts.examples() for e in example.events} == set(task.event_types)
    with pytest.raises(ConfigError, match="no templates for the naive strategy"):
        prompts.hash_of("naive")


def test_the_core_names_no_event_type_of_any_task() -> None:
    names = set(MILITARY.event_types) | set(load_task(str(BUSINESS)).event_types)
    for module in CORE:
        tree = ast.parse((REPO / "extract" / f"{module}.py").read_text(encoding="utf-8"))
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not names & strings, (module, names & strings)


def test_init_writes_a_skeleton_that_loads_and_refuses_a_folder_in_use(tmp_path: Path) -> None:
    written = init_task(tmp_path / "protests")
    assert {p.name for p in written} >= {"task.py", "aliases.yaml", "GUIDELINES.md", "examples.yaml", "protest.j2"}
    task = load_task(tmp_path / "protests")
    prompts = PromptSet.load(task)
    assert task.event_types == ("protest",) and len(prompts.examples()) == 1
    messages = prompts.window_messages(_article("Nurses marched in Lyon."), start=0, end=23, part=1, parts=1)
    assert "protest:" in messages[0]["content"] and messages[-1]["content"].endswith("Nurses marched in Lyon.")
    with pytest.raises(ConfigError, match="not an empty folder"):
        init_task(tmp_path / "protests")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not a task folder"),
        ("TASK = 1\n", "defines no TASK"),
        ("def broken(:\n", "the task does not load: SyntaxError"),
        ("import no_such_module_here\n", "the task does not load: ModuleNotFoundError"),
    ],
)
def test_a_wrong_task_is_a_one_line_error(tmp_path: Path, content: str | None, message: str) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    if content is not None:
        (folder / "task.py").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_task(folder)


def test_an_unknown_module_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="no task 'no_such.task'"):
        load_task("no_such.task")


def test_a_task_is_data_the_core_reads(tmp_path: Path) -> None:
    task = Task(name="t", event_classes=MILITARY.event_classes[:1], directory=tmp_path)
    assert task.event_types == ("troop_level",) and task.type_cues == {} and task.repair is None
    assert task.parse_event({"type": "troop_level", "evidence": "x", "force": "A", "count": 1}).count == 1


def _article(text: str):  # noqa: ANN202
    from extract.api import article_of

    return article_of(text)


def test_the_business_task_runs_scores_reports_and_compares_from_its_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """run -> score -> report -> compare for a task outside the package, on recorded real answers."""
    monkeypatch.setenv("EXTRACT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EXTRACT_BASE_URL", raising=False)
    common = ["--task", str(BUSINESS), "--gold", str(DATA / "gold.yaml"), "--offline", "--replay", str(SNAPSHOT)]
    runs = []
    for name in ("a", "b"):
        code, _, err = run_cli(capsys, "run", str(DATA / "articles.jsonl"), *common, "--out", str(tmp_path / name))
        assert code == 0, err
        runs.append(tmp_path / name)
    run = json.loads((runs[0] / "run.json").read_text())
    assert run["task"] == {"name": "business", "spec": str(BUSINESS)} and run["totals"]["calls"] == 0
    events = [json.loads(line)["event"] for line in (runs[0] / "events.jsonl").read_text().splitlines()]
    assert events and {e["type"] for e in events} <= {"acquisition", "layoff", "executive_change"}
    scores = json.loads((runs[0] / "scores.json").read_text())
    assert scores["counts"]["gold"] == 7 and scores["lenient"]["f1"] > 0
    assert "acquisition" in (runs[0] / "report.html").read_text()
    code, out, err = run_cli(capsys, "score", str(runs[0]), "--gold", str(DATA / "gold.yaml"), "--json")
    assert code == 0 and json.loads(out)["lenient"] == scores["lenient"], err
    code, out, err = run_cli(capsys, "compare", str(runs[0]), str(runs[1]), "--threshold", "0.01")
    assert code == 0, err  # the same answers: no regression
    code, out, err = run_cli(capsys, "export", str(runs[0]), "--format", "csv")
    header = (runs[0] / "events.csv").read_text().splitlines()[0].split(",")
    assert code == 0 and {"buyer", "target", "company", "person"} <= set(header) and "force" not in header


def test_detect_types_must_be_types_of_the_task(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="detect_types names no type of it: atack"):
        Task(name="t", event_classes=MILITARY.event_classes, directory=tmp_path, detect_types=("attack", "atack"))
    assert Task(name="t", event_classes=MILITARY.event_classes, directory=tmp_path, detect_types=("attack",)).detect_types
    with pytest.raises(ConfigError, match="fill_cues names no type of it: atack"):
        Task(name="t", event_classes=MILITARY.event_classes, directory=tmp_path, fill_cues={"atack": ("x",)})
