"""The wheel works outside the checkout: it ships the built-in task's prompts, examples, alias
table and guidelines, the report templates and the `extract init` skeleton, and no default path
depends on the current folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_api import EXAMPLE_PUBLISHED, EXAMPLE_TEXT

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "tests" / "recordings" / "library.responses.jsonl"
#: The README's library example, as a JSONL article with the id ``extract.extract`` gives it.
EXAMPLE = {"id": "text", "text": EXAMPLE_TEXT, "published": EXAMPLE_PUBLISHED}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the sources (nothing is written into the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO / "extract", source / "extract", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (built,) = (root / "dist").glob("extract_events-*.whl")
    return built


def test_the_wheel_ships_the_resources(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "extract/tasks/military/prompts/window_system.j2",
        "extract/tasks/military/prompts/types/troop_level.j2",
        "extract/tasks/military/prompts/examples.yaml",
        "extract/tasks/military/aliases.yaml",
        "extract/tasks/military/GUIDELINES.md",
        "extract/templates/report.html.j2",
        "extract/templates/task/task.py",
        "extract/templates/task/prompts/types/protest.j2",
    } <= names
    assert not any(n.startswith(("tests/", "gold/", "seeds/")) for n in names)


def test_the_installed_wheel_runs_in_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    site, work = tmp_path / "site", tmp_path / "work"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    work.mkdir()
    (work / "one.jsonl").write_text(json.dumps(EXAMPLE) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site), "EXTRACT_HOME": str(tmp_path / "home")}
    env.pop("EXTRACT_BASE_URL", None)

    def extract(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "extract", *args], cwd=work, env=env, capture_output=True, text=True)

    where = subprocess.run(
        [sys.executable, "-c", "import extract.api; print(extract.api.__file__)"], cwd=work, env=env, capture_output=True, text=True
    )  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stderr  # the wheel's copy, not the checkout
    done = extract("run", "one.jsonl", "--offline", "--replay", str(LIBRARY), "--out", "out")
    assert done.returncode == 0, done.stderr
    assert "no gold file" in done.stderr  # outside the repository there is no default gold
    events = (work / "out" / "events.jsonl").read_text().splitlines()
    assert events and (work / "out" / "report.html").is_file()
    missing = extract("run", "--offline")
    assert missing.returncode == 1 and "no input given" in missing.stderr and "Traceback" not in missing.stderr
    assert extract("init", "mytask").returncode == 0 and (work / "mytask" / "task.py").is_file()

