"""extract: LLM-assisted extraction of typed events from news, scored against a hand-labeled gold set.

    import extract
    events = extract.extract("The U.S. has 2,500 troops in Iraq.", published="2021-01-15")
    with extract.Extractor(extract.load_config(), task="my_task/") as x:
        outcomes = list(x.run(extract.load_documents("articles.jsonl")))
    scores = extract.evaluate("runs/my-run", "gold/events.yaml")

The names below are the public API; they are imported on first use, so ``import extract`` (and
the command line's start) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Article",
    "Config",
    "Event",
    "ExtractError",
    "Extractor",
    "Scores",
    "Task",
    "evaluate",
    "extract",
    "load_config",
    "load_documents",
    "load_task",
]

#: Where each public name lives.
_HOMES = {
    "Article": "extract.documents",
    "Config": "extract.config",
    "Event": "extract.schema",
    "ExtractError": "extract.errors",
    "Extractor": "extract.api",
    "Scores": "extract.score",
    "Task": "extract.task",
    "evaluate": "extract.api",
    "extract": "extract.api",
    "load_config": "extract.config",
    "load_documents": "extract.api",
    "load_task": "extract.task",
}

if TYPE_CHECKING:
    from extract.api import Extractor, evaluate, extract, load_documents
    from extract.config import Config, load_config
    from extract.documents import Article
    from extract.errors import ExtractError
    from extract.schema import Event
    from extract.score import Scores
    from extract.task import Task, load_task


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'extract' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
