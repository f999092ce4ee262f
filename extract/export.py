"""Export a run folder's events, kept and rejected, as flat rows (CSV, JSONL, Parquet), or as a gold draft.

Reads only the run folder (events.jsonl, rejected.jsonl, run.json): no scoring, no model.
Columns, in this order: ``run_id``, ``article_id``, ``type``; every event field of the run's
task's types in schema order (nested ones dotted: ``location.country``); then ``evidence``,
``source``, ``source_start``, ``source_end`` (offsets in the source file), ``grounding`` (the
span's status), ``rejected`` and ``reason``. Every row has every column (empty/null where its
type has no such field); rows are sorted by article id, kept before rejected, then file order.
"""

from __future__ import annotations

import csv
import functools
import json
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from extract.errors import ConfigError, InputError
from extract.gold import dump_gold
from extract.records import RunRecord, read_records
from extract.schema import Event
from extract.task import Task

EXPORT_FORMAT = "extract.export/1"
FORMATS = ("csv", "jsonl", "parquet")
#: Default file names in the run folder (``events.jsonl`` is the run's own, so JSONL goes beside it).
DEFAULT_NAMES = {"csv": "events.csv", "jsonl": "events.flat.jsonl", "parquet": "events.parquet"}
DRAFT_NAME = "gold-draft.yaml"
_RUN_FILES = ("events.jsonl", "run.json")
#: CSV cells of list fields (``parties``) are joined with this.
LIST_SEPARATOR = "; "


def _base_type(annotation: Any) -> Any:
    """The type under Optional, Annotated and Literal: str, int, list or a nested model."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        elif origin is Literal:
            return type(get_args(annotation)[0])
        else:
            return list if origin is list else annotation


def _event_fields(task: Task) -> dict[str, type]:
    """Every event field of the task's types in schema order, nested ones dotted, with its type."""
    fields: dict[str, type] = {}
    for cls in task.event_classes:
        for name, info in cls.model_fields.items():
            if name in ("type", "evidence"):
                continue
            kind = _base_type(info.annotation)
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                items = [(f"{name}.{k}", _base_type(v.annotation)) for k, v in kind.model_fields.items()]
            else:
                items = [(name, kind)]
            for path, sub in items:
                if fields.setdefault(path, sub) is not sub:
                    raise TypeError(f"event field {path!r} has two types: {fields[path]} and {sub}")
    return fields


@functools.cache
def column_types(task: Task) -> dict[str, type]:
    """The columns of a task's rows with their types (str, int, bool or list of str), in order."""
    return {
        "run_id": str,
        "article_id": str,
        "type": str,
        **_event_fields(task),
        "evidence": str,
        "source": str,
        "source_start": int,
        "source_end": int,
        "grounding": str,
        "rejected": bool,
        "reason": str,
    }


def columns(task: Task) -> tuple[str, ...]:
    """The column names of a task's rows, in order."""
    return tuple(column_types(task))


@dataclass(frozen=True)
class Exported:
    """What ``export_run`` wrote."""

    path: Path
    rows: int
    kept: int
    rejected: int

    def __str__(self) -> str:
        return f"exported {self.rows} rows ({self.kept} kept, {self.rejected} rejected) to {self.path}"


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's run.json; a folder without events.jsonl and run.json raises ConfigError."""
    for name in _RUN_FILES:
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir} is not a run folder (no {name})")
    path = run_dir / "run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"unreadable run manifest ({e})", path=str(path)) from e
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", path=str(path))
    return data


def _lookup(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def record_row(record: RunRecord, *, run_id: str, rejected: bool, task: Task) -> dict[str, Any]:
    """One flat row of ``columns(task)``: None where the event's type has no such field."""
    data = record.event.model_dump(mode="json")
    return {
        "run_id": run_id,
        "article_id": record.article_id,
        "type": record.event.type,
        **{name: _lookup(data, name) for name in _event_fields(task)},
        "evidence": record.event.evidence,
        "source": record.source,
        "source_start": record.span.get("start"),
        "source_end": record.span.get("end"),
        "grounding": record.span.get("status"),
        "rejected": rejected,
        "reason": record.reason if rejected else None,
    }


def run_rows(run_dir: Path, *, task: Task) -> list[dict[str, Any]]:
    """Every event of a run folder, kept and rejected, as sorted flat rows of the run's task."""
    read_manifest(run_dir)
    run_id = run_dir.resolve().name
    kept = read_records(run_dir / "events.jsonl", task=task)
    rejected = read_records(run_dir / "rejected.jsonl", task=task, missing_ok=True)
    rows = [record_row(r, run_id=run_id, rejected=False, task=task) for r in kept]
    rows += [record_row(r, run_id=run_id, rejected=True, task=task) for r in rejected]
    return sorted(rows, key=lambda r: (r["article_id"], r["rejected"]))  # stable: file order within


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return LIST_SEPARATOR.join(value) if isinstance(value, list) else str(value)


def write_csv(rows: Sequence[dict[str, Any]], path: Path, *, types: dict[str, type]) -> None:
    """UTF-8 CSV with a header row; lists joined with "; ", booleans as true/false, nulls empty."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(types)
        writer.writerows([_csv_cell(row[c]) for c in types] for row in rows)


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path, *, types: dict[str, type]) -> None:
    """One flat object a line, sorted keys, with ``format``; lists stay lists, nulls null."""
    lines = (json.dumps({**row, "format": EXPORT_FORMAT}, sort_keys=True, ensure_ascii=False) + "\n" for row in rows)
    path.write_text("".join(lines), encoding="utf-8")


def write_parquet(rows: Sequence[dict[str, Any]], path: Path, *, types: dict[str, type]) -> None:
    """A typed Parquet table (the format in its schema metadata); needs the optional pyarrow."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ConfigError("parquet export needs pyarrow: pip install 'extract-events[parquet]'") from e
    arrow_types = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), list: pa.list_(pa.string())}
    schema = pa.schema(
        [pa.field(c, arrow_types[t]) for c, t in types.items()], metadata={"format": EXPORT_FORMAT}
    )
    pq.write_table(pa.Table.from_pylist(list(rows), schema=schema), path)


_WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet}


def export_run(run_dir: Path, *, fmt: str, task: Task, out: Path | None = None) -> Exported:
    """Write every event of a run as one flat row to ``out`` (default ``RUN/events.<ext>``)."""
    if fmt not in _WRITERS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    rows = run_rows(run_dir, task=task)
    path = out or run_dir / DEFAULT_NAMES[fmt]
    if path.resolve() in {(run_dir / n).resolve() for n in (*_RUN_FILES, "rejected.jsonl")}:
        raise ConfigError(f"{path} is one of the run's own files; choose another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    _WRITERS[fmt](rows, path, types=column_types(task))
    rejected = sum(r["rejected"] for r in rows)
    return Exported(path=path, rows=len(rows), kept=len(rows) - rejected, rejected=rejected)


# --- gold draft ----------------------------------------------------------------------------


def draft_gold(run_dir: Path, *, task: Task) -> tuple[str, int]:
    """A gold file of the run's kept events, each ``reviewed: false``, and the event count.

    Every article of the run is listed (``events: []`` when nothing was kept), as the checker wants.
    """
    manifest = read_manifest(run_dir)
    articles: dict[str, list[Event]] = {str(a): [] for a in manifest.get("articles") or {}}
    records = read_records(run_dir / "events.jsonl", task=task)
    for record in records:
        articles.setdefault(record.article_id, []).append(record.event)
    return dump_gold(articles, task=task, reviewed=False), len(records)


def write_gold_draft(
    run_dir: Path, *, task: Task, out: Path | None = None, force: bool = False
) -> tuple[Path, int]:
    """Write ``draft_gold`` to ``out`` (default ``RUN/gold-draft.yaml``), never over a file unless ``force``."""
    text, count = draft_gold(run_dir, task=task)
    path = out or run_dir / DRAFT_NAME
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path, count
