"""Exporting a run folder as flat rows: CSV, JSONL, Parquet, the command, and bad folders."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from extract.errors import ConfigError
from extract.export import EXPORT_FORMAT, columns, export_run, run_rows
from extract.schema import EVENTS_FORMAT
from extract.tasks.military import TASK

COLUMNS = columns(TASK)
from tests.fakes import run_cli
from tests.test_cli import one_line_error

TROOPS = "The coalition has 3,000 troops in Iraq."
ATTACK = "A drone struck the airport in Baghdad, killing two."
DECISION = "Washington and Baghdad agreed to talk."
#: Articles the events of ``make_run`` quote (JSONL input, as `extract run` reads it).
DOCUMENTS = [
    {"id": "a#1", "text": f"Troops stay\n\n{TROOPS} {DECISION}"},
    {"id": "b#1", "text": f"Airport hit\n\n{ATTACK}"},
]


def _line(article_id: str, event: dict, *, start: int, rejected: str | None = None) -> str:
    span = {"start": start, "end": start + len(event["evidence"]), "score": 100.0, "status": "exact"}
    record = {"article_id": article_id, "event": event, "format": EVENTS_FORMAT, "span": span, "source": "docs.jsonl:1"}
    return json.dumps(record | ({"rejected": rejected} if rejected else {}), sort_keys=True) + "\n"


def make_run(root: Path, name: str = "run1") -> Path:
    """A tiny run folder by hand: b#1's kept attack, a#1's kept troop level and rejected decision."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    attack = {"type": "attack", "evidence": ATTACK, "target": "the airport", "means": "drone", "killed": 2,
              "location": {"country": "Iraq", "place": "Baghdad"}}
    troops = {"type": "troop_level", "evidence": TROOPS, "force": "Coalition", "count": 3000,
              "location": {"country": "Iraq"}}
    decision = {"type": "political_decision", "evidence": DECISION, "actor": "United States", "kind": "agreement",
                "summary": "talks", "parties": ["United States", "Iraq"]}
    (run_dir / "events.jsonl").write_text(_line("b#1", attack, start=40) + _line("a#1", troops, start=10))
    (run_dir / "rejected.jsonl").write_text(_line("a#1", decision, start=60, rejected="evidence not in the article"))
    manifest = {"format": "extract.run/1", "input": str(root / "docs.jsonl"), "articles": {"a#1": {}, "b#1": {}}}
    (run_dir / "run.json").write_text(json.dumps(manifest))
    (root / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS))
    return run_dir


def test_columns_are_fixed_and_in_schema_order() -> None:
    assert COLUMNS[:6] == ("run_id", "article_id", "type", "date", "location.country", "location.place")
    assert COLUMNS[-7:] == ("evidence", "source", "source_start", "source_end", "grounding", "rejected", "reason")
    assert COLUMNS.index("force") < COLUMNS.index("target") < COLUMNS.index("parties") < COLUMNS.index("by")
    assert len(set(COLUMNS)) == len(COLUMNS) and "location" not in COLUMNS


def test_rows_sorted_by_article_then_kept_first(tmp_path: Path) -> None:
    rows = run_rows(make_run(tmp_path), task=TASK)
    assert [(r["article_id"], r["type"], r["rejected"]) for r in rows] == [
        ("a#1", "troop_level", False),
        ("a#1", "political_decision", True),
        ("b#1", "attack", False),
    ]
    assert all(list(r) == list(COLUMNS) for r in rows)
    assert rows[0]["run_id"] == "run1" and rows[0]["reason"] is None and rows[0]["target"] is None
    assert rows[1]["reason"] == "evidence not in the article"


def test_csv_header_and_rows(tmp_path: Path) -> None:
    result = export_run(make_run(tmp_path), fmt="csv", task=TASK)
    assert (result.path, result.rows, result.kept, result.rejected) == (tmp_path / "run1" / "events.csv", 3, 2, 1)
    with result.path.open(encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert tuple(header) == COLUMNS
    cells = [dict(zip(header, row)) for row in rows]
    attack = cells[2]
    assert attack["location.country"] == "Iraq" and attack["location.place"] == "Baghdad"
    assert attack["killed"] == "2" and attack["means"] == "drone" and attack["source_start"] == "40"
    assert attack["rejected"] == "false" and attack["reason"] == "" and attack["parties"] == ""
    assert cells[1]["parties"] == "United States; Iraq" and cells[1]["rejected"] == "true"
    assert cells[0]["location.place"] == "" and cells[0]["grounding"] == "exact"


def test_jsonl_is_flat_sorted_and_versioned(tmp_path: Path) -> None:
    out = tmp_path / "flat.jsonl"
    export_run(make_run(tmp_path), fmt="jsonl", out=out, task=TASK)
    lines = out.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert all(list(r) == sorted(r) for r in records)
    assert all(set(r) == {*COLUMNS, "format"} and r["format"] == EXPORT_FORMAT for r in records)
    assert records[1]["parties"] == ["United States", "Iraq"] and records[2]["killed"] == 2
    assert records[0]["reason"] is None and records[1]["rejected"] is True


def test_default_jsonl_path_never_replaces_the_runs_events(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    before = (run_dir / "events.jsonl").read_bytes()
    assert export_run(run_dir, fmt="jsonl", task=TASK).path == run_dir / "events.flat.jsonl"
    assert (run_dir / "events.jsonl").read_bytes() == before
    with pytest.raises(ConfigError, match="one of the run's own files"):
        export_run(run_dir, fmt="jsonl", out=run_dir / "events.jsonl", task=TASK)


def test_parquet_round_trip(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    result = export_run(make_run(tmp_path), fmt="parquet", task=TASK)
    table = pq.read_table(result.path)
    assert tuple(table.column_names) == COLUMNS
    assert table.schema.metadata[b"format"] == EXPORT_FORMAT.encode()
    assert str(table.schema.field("killed").type) == "int64" and str(table.schema.field("rejected").type) == "bool"
    rows = table.to_pylist()
    assert rows == run_rows(tmp_path / "run1", task=TASK)
    assert rows[1]["parties"] == ["United States", "Iraq"] and rows[2]["location.place"] == "Baghdad"


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError, match=r"pip install 'extract-events\[parquet\]'") as e:
        export_run(make_run(tmp_path), fmt="parquet", task=TASK)
    assert "\n" not in str(e.value)


def test_unknown_format_and_bad_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown export format 'xlsx'"):
        export_run(make_run(tmp_path), fmt="xlsx", task=TASK)
    with pytest.raises(ConfigError, match="is not a run folder"):
        export_run(tmp_path / "nowhere", fmt="csv", task=TASK)


def test_export_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = make_run(tmp_path)
    out = tmp_path / "x" / "events.csv"
    code, _, err = run_cli(capsys, "export", str(run_dir), "--format", "csv", "--out", str(out))
    assert code == 0, err
    assert f"exported 3 rows (2 kept, 1 rejected) to {out}" in " ".join(err.split())
    assert out.read_text(encoding="utf-8").startswith("run_id,article_id,type,date,")
    code, _, err = run_cli(capsys, "export", str(tmp_path), "--format", "csv")
    assert code == 1 and "is not a run folder (no events.jsonl)" in one_line_error(err)
