"""Write tests/baseline_scores.json from a scored run: `python -m tests.baseline RUN_DIR [OUT]`
(OUT: another baseline file, e.g. tests/baseline_dev_scores.json for the development set)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BASELINE = Path(__file__).resolve().parent / "baseline_scores.json"


def summarize(scores: dict) -> dict:
    """The figures the regression suite pins: overall P/R/F1, lenient F1 per type, counts, evidence overlap."""
    return {
        "format": "extract.baseline/1",
        **{level: {m: scores[level][m] for m in ("precision", "recall", "f1")} for level in ("strict", "lenient", "slots")},
        "by_type": {t: {"lenient_f1": v["lenient"]["f1"]} for t, v in sorted(scores["by_type"].items())},
        "counts": scores["counts"],
        "evidence": scores["evidence"],
    }


if __name__ == "__main__":
    scores = json.loads((Path(sys.argv[1]) / "scores.json").read_text(encoding="utf-8"))
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else BASELINE
    out.write_text(json.dumps(summarize(scores), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")
