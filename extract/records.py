"""A run folder's event files (events.jsonl, rejected.jsonl): the one reader of what the pipeline writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extract.errors import InputError
from extract.files import read_jsonl
from extract.schema import EVENTS_FORMAT, Event
from extract.task import Task

_REQUIRED = ("article_id", "event", "format")


@dataclass(frozen=True)
class RunRecord:
    """One line of events.jsonl or rejected.jsonl: the event, where it was found, why it was rejected."""

    article_id: str
    event: Event
    span: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    #: The rejection reason (rejected.jsonl only).
    reason: str | None = None


def read_records(path: Path, *, task: Task, missing_ok: bool = False) -> list[RunRecord]:
    """Every record of the file in file order, its event parsed by the run's task; any bad line
    raises InputError naming it."""
    if missing_ok and not path.exists():
        return []
    records = []
    for n, line in read_jsonl(path):
        missing = [k for k in _REQUIRED if k not in line]
        if missing:
            raise InputError(f"missing key(s): {', '.join(missing)}", path=str(path), line=n)
        if line["format"] != EVENTS_FORMAT:
            raise InputError(f"format is {line['format']!r}, expected {EVENTS_FORMAT!r}", path=str(path), line=n)
        article_id = line["article_id"]
        if not isinstance(article_id, str) or not article_id.strip():
            raise InputError(f"article_id must be a non-empty string, not {article_id!r}", path=str(path), line=n)
        try:
            event = task.parse_event(line["event"])
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"invalid event: {where}: {first['msg']}", path=str(path), line=n) from e
        span = line.get("span") if isinstance(line.get("span"), dict) else {}
        reason = line.get("rejected")
        records.append(RunRecord(article_id, event, span, str(line.get("source", "")), str(reason) if reason else None))
    return records


def events_by_article(records: list[RunRecord]) -> dict[str, list[Event]]:
    """The records' events grouped by article, in file order."""
    out: dict[str, list[Event]] = {}
    for record in records:
        out.setdefault(record.article_id, []).append(record.event)
    return out
