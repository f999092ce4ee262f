"""Module dependencies point one way, toward the schema; only extract.llm imports the SDKs."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter import cli as importlinter_cli

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert importlinter_cli.lint_imports(config_filename=str(REPO / "pyproject.toml")) == 0
