"""Render scores for people: Markdown summaries, a one-file HTML report, a terminal table.

The HTML report is self-contained (inline CSS, no script, no external resource) and escapes every
article and event string through Jinja2's autoescaping. Its filters are checkboxes that CSS
``:has()`` rules read: each hides the cards and markers of a type or an outcome and sets a CSS
variable that fades the matching highlights out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rich.console import Console
from rich.table import Table

from extract.aliases import Aliases
from extract.align import Span, align
from extract.documents import Article
from extract.errors import InputError
from extract.files import jinja_environment
from extract.records import read_records
from extract.schema import Event, slot_value
from extract.score import (
    ArticleResult,
    Comparison,
    FieldAgreement,
    Pair,
    Scores,
    match_events,
    slots,
)
from extract.task import Task

_TEMPLATES = Path(__file__).parent / "templates"
#: ``Article.source`` of a JSONL record: ``path.jsonl:line``; its offsets are into the record's text.
_JSONL_SOURCE = re.compile(r"\.jsonl:\d+$", re.IGNORECASE)
#: Every event's outcome in the HTML report ("predicted": an event of an article no gold covers).
_OUTCOMES = ("matched", "near", "missed", "spurious", "predicted", "rejected")
_OUTCOME_LABELS = {
    "matched": "matched",
    "near": "near miss",
    "missed": "missed",
    "spurious": "spurious",
    "predicted": "predicted (unscored)",
    "rejected": "rejected",
}
_COLOURS = {
    "matched": "#bfe8c9",
    "near": "#f3dd8c",
    "missed": "#ffc9b0",
    "spurious": "#d6ccff",
    "predicted": "#b9dcf7",
    "rejected": "#f7b3d3",
}
_LEVELS = ("strict", "lenient", "slots")
#: report.html shows at most this many articles (scored ones first), so its size and the memory
#: to build it stay bounded (a page held ~90 KB per article: 937 MB at 10k, which no browser
#: opens); scores.json, report.md and events.jsonl cover every article.
MAX_HTML_ARTICLES = 500


def _scores_json(scores: Scores | Mapping[str, Any]) -> Mapping[str, Any]:
    return scores.to_json() if isinstance(scores, Scores) else scores


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


# --- Markdown ------------------------------------------------------------------------------


def render_markdown(scores: Scores | Mapping[str, Any]) -> str:
    """The report.md of a run: summary, per-type and per-article tables (also from a loaded scores.json)."""
    data = _scores_json(scores)
    counts, ci, macro = data["counts"], data["ci95"], data["macro"]
    lines = ["# Extraction scores", ""]
    lines += _table(
        ("level", "precision", "recall", "F1", "TP", "FP", "FN"),
        [
            (lv, _f(data[lv]["precision"]), _f(data[lv]["recall"]), _f(data[lv]["f1"]))
            + tuple(_n(data[lv][k]) for k in ("tp", "fp", "fn"))
            for lv in _LEVELS
        ],
    )
    lines += [
        "",
        f"Events: {counts['gold']} gold, {counts['predicted']} predicted; {counts['matched']} matched "
        f"({counts['matched_strict']} strictly), {counts['missed']} missed, {counts['spurious']} spurious.",
        f"Macro F1 over {counts['articles']} articles: strict {_f(macro['strict']['f1'])}, "
        f"lenient {_f(macro['lenient']['f1'])}, slots {_f(macro['slots']['f1'])}.",
    ]
    if ci.get("strict_f1") is not None:
        lines.append(
            f"95% bootstrap CI of F1 ({ci['resamples']} resamples of articles): "
            f"strict [{_f(ci['strict_f1'][0])}, {_f(ci['strict_f1'][1])}], "
            f"lenient [{_f(ci['lenient_f1'][0])}, {_f(ci['lenient_f1'][1])}]."
        )
    evidence = data.get("evidence", {})
    if evidence.get("overlap_share") is not None:
        lines.append(
            f"Evidence: {evidence['overlap']} of {evidence['matched']} matches quote overlapping words of the "
            f"article, {evidence['restated']} restate the fact in another sentence."
        )
    lines.append(f"Matching: {data['params']['matching']}.")
    if counts["articles_without_predictions"]:
        lines.append(f"Gold articles with no predicted events: {_codes(counts['articles_without_predictions'])}.")
    if counts["articles_not_in_gold"]:
        lines.append(f"Run articles not in the gold set (ignored): {_codes(counts['articles_not_in_gold'])}.")
    if counts.get("gold_not_in_input"):
        lines.append(f"Gold articles not in this input (not scored): {_codes(counts['gold_not_in_input'])}.")
    lines += ["", "## By type", ""]
    lines += _table(
        ("type", "gold", "predicted", "matched", "strict P", "strict R", "strict F1", "lenient F1", "slot F1"),
        [
            (
                t,
                v["counts"]["gold"],
                v["counts"]["predicted"],
                v["counts"]["matched"],
                _f(v["strict"]["precision"]),
                _f(v["strict"]["recall"]),
                _f(v["strict"]["f1"]),
                _f(v["lenient"]["f1"]),
                _f(v["slots"]["f1"]),
            )
            for t, v in sorted(data["by_type"].items())
        ],
    )
    lines += ["", "## By article", ""]
    lines += _table(
        ("article", "gold", "predicted", "matched", "missed", "spurious", "strict F1", "lenient F1", "slot F1"),
        [
            (
                _code(a),
                v["counts"]["gold"],
                v["counts"]["predicted"],
                v["counts"]["matched"],
                v["counts"]["missed"],
                v["counts"]["spurious"],
                _f(v["strict"]["f1"]),
                _f(v["lenient"]["f1"]),
                _f(v["slots"]["f1"]),
            )
            for a, v in sorted(data["by_article"].items())
        ],
    )
    return "\n".join(lines) + "\n"


def render_comparison_markdown(comparison: Comparison) -> str:
    """Two runs side by side (A baseline, B candidate): metrics with deltas, per type, events gained and lost."""
    lines = ["# Run comparison (A → B)", ""]
    lines += _table(("metric", "A", "B", "Δ"), [_delta_row(m.name, m.a, m.b, m.delta) for m in comparison.metrics])
    lines += ["", "## Is the difference real?", ""]
    lines += _table(
        ("metric", "A", "B", "Δ", "95% CI of Δ", "p", "significant", "articles"),
        [
            (
                t.metric,
                _f(t.a),
                _f(t.b),
                _signed(t.delta),
                f"[{t.ci95[0]:+.4f}, {t.ci95[1]:+.4f}]" if t.ci95 else "–",
                _f(t.p_value),
                "yes" if t.significant else "no",
                t.articles,
            )
            for t in comparison.tests
        ],
    )
    lines += [
        "",
        "Paired over the articles both runs scored: a percentile bootstrap of the difference, and a "
        "permutation test that swaps A and B within articles. Significant means the interval excludes 0 "
        "and p < 0.05.",
    ]
    for side, ids in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if ids:
            lines.append(f"Scored only in {side} (left out of the tests): {', '.join(_code(i) for i in ids)}.")
    lines += ["", "## F1 by type", ""]
    rows = []
    for event_type, metrics in sorted(comparison.by_type.items()):
        f1 = {m.name: m for m in metrics}
        row: list[object] = [event_type]
        for lv in ("strict", "lenient", "slots"):
            m = f1[f"{lv}.f1"]
            row += [_f(m.a), _f(m.b), _signed(m.delta)]
        rows.append(row)
    lines += _table(
        ("type", "strict A", "strict B", "Δ", "lenient A", "lenient B", "Δ", "slots A", "slots B", "Δ"), rows
    )
    lines += ["", "## Events gained and lost (gold events matched leniently; strict changes marked)", ""]
    if not comparison.changes:
        lines.append("No matched event changed.")
    for change in comparison.changes:
        lines.append(f"### {_code(change.article_id)}")
        lines += [f"- gained: {_code(k)}" for k in change.gained]
        lines += [f"- lost: {_code(k)}" for k in change.lost]
        lines += [f"- gained (strict): {_code(k)}" for k in change.gained_strict]
        lines += [f"- lost (strict): {_code(k)}" for k in change.lost_strict]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _codes(ids: Sequence[str]) -> str:
    return ", ".join(_code(i) for i in ids)


def _code(text: str) -> str:
    """Inline code that no backtick or line break in ``text`` can end early."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"


def render_comparison_html(comparison: Comparison, *, a: str, b: str) -> str:
    """compare.html: one self-contained page with the figures, their tests, and each article's
    gold events lost and gained side by side."""
    template = _environment().get_template("compare.html.j2")
    return template.render(comparison=comparison, a=a, b=b, fmt=_f, signed=_signed, row=_delta_row)


def _signed(x: float | None) -> str:
    return "–" if x is None else f"{x:+.4f}"


def _delta_row(name: str, a: float | None, b: float | None, delta: float | None) -> tuple[str, str, str, str]:
    if not name.startswith("counts."):
        return name, _f(a), _f(b), _signed(delta)
    if a is None or b is None or delta is None:
        return name, "–" if a is None else _n(a), "–" if b is None else _n(b), "–"
    return name, _n(a), _n(b), f"{delta:+g}"


# --- terminal ------------------------------------------------------------------------------


def print_summary(scores: Scores | Mapping[str, Any], console: Console) -> None:
    """A short rich table of strict, lenient and slot scores, with counts and confidence intervals."""
    data = _scores_json(scores)
    table = Table(title="Scores", title_justify="left")
    for name in ("level", "P", "R", "F1", "TP", "FP", "FN"):
        table.add_column(name, justify="left" if name == "level" else "right")
    for lv in _LEVELS:
        d = data[lv]
        table.add_row(lv, _f(d["precision"]), _f(d["recall"]), _f(d["f1"]), _n(d["tp"]), _n(d["fp"]), _n(d["fn"]))
    console.print(table)
    c, ci = data["counts"], data["ci95"]
    line = f"{c['matched']} matched ({c['matched_strict']} strict), {c['missed']} missed, {c['spurious']} spurious"
    if ci.get("strict_f1") is not None:
        line += f"; 95% CI F1 strict {ci['strict_f1']}, lenient {ci['lenient_f1']}"
    console.print(line, markup=False, highlight=False)


# --- HTML ----------------------------------------------------------------------------------


def read_rejected(path: Path, *, task: Task) -> dict[str, list[tuple[Event, str]]]:
    """A run's rejected.jsonl as (event, reason) per article, in file order; no file means none were rejected."""
    out: dict[str, list[tuple[Event, str]]] = {}
    for record in read_records(path, task=task, missing_ok=True):
        out.setdefault(record.article_id, []).append((record.event, record.reason or ""))
    return out


#: The run.json totals the header shows.
_TOTALS = (
    "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cached_completion_tokens", "cache_hits",
    "cache_misses", "server_seconds", "cached_server_seconds", "failed_passes", "failed", "partial", "articles",
    "events", "rejected", "seconds",
)
#: (outcome, event type) of one highlighted event: what the filters switch.
_Key = tuple[str, str]


@dataclass(frozen=True)
class _Mark:
    """One evidence span in the displayed text, with the event it belongs to."""

    start: int
    end: int
    label: str
    anchor: str
    outcome: str
    type: str


@dataclass(frozen=True)
class _Marker:
    label: str
    anchor: str
    outcome: str
    type: str


@dataclass(frozen=True)
class _Piece:
    text: str
    css: str
    title: str
    markers: tuple[_Marker, ...]
    #: The (outcome, type) of every event covering the piece: its highlight layers.
    keys: tuple[_Key, ...]


@dataclass(frozen=True)
class _Row:
    field: str
    key: bool
    gold: str
    predicted: str
    verdict: str
    css: str


@dataclass(frozen=True)
class _EventView:
    label: str
    anchor: str
    outcome: str
    type: str
    evidence: str
    located: str
    rows: tuple[_Row, ...]
    #: Why a prediction was rejected, or that a missed gold event was predicted, then rejected.
    note: str = ""


@dataclass(frozen=True)
class _PairView:
    gold: _EventView
    predicted: _EventView
    rows: tuple[_Row, ...]
    strict: bool
    lenient: bool
    similarity: float


@dataclass(frozen=True)
class _ArticleView:
    id: str
    anchor: str
    title: str
    source: str
    note: str
    #: Not "ok" when some of the article's model calls failed (from run.json).
    status: str
    pieces: tuple[_Piece, ...]
    #: The article's scores; None when no gold covers it.
    tally: Mapping[str, Any] | None
    matched: tuple[_PairView, ...]
    near: tuple[_PairView, ...]
    missed: tuple[_EventView, ...]
    spurious: tuple[_EventView, ...]
    predicted: tuple[_EventView, ...]
    rejected: tuple[_EventView, ...]
    unlocated: tuple[_EventView, ...]
    #: (gold type, predicted type) of events whose located quotes intersect; "none" for no such event.
    confusion: tuple[tuple[str, str], ...]
    #: Missed gold events that a rejected prediction would have matched.
    rejected_matches: int

    @property
    def events(self) -> tuple[_EventView, ...]:
        """Every event view of the article, paired or not."""
        paired = tuple(e for p in (*self.matched, *self.near) for e in (p.gold, p.predicted))
        return paired + self.missed + self.spurious + self.predicted + self.rejected


def _display(value: Any, *, kind: str | None = None, aliases: Aliases | None = None) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_display(v, kind="actor" if kind == "actors" else kind, aliases=aliases) for v in value)
    if kind in ("actor", "actors") and aliases is not None and aliases.canonical(value) != value:
        return f"{value} → {aliases.canonical(value)}"
    return str(value)


def _verdict(f: FieldAgreement) -> tuple[str, str]:
    if f.strict:
        return "✓", "same"
    if f.lenient >= 1.0:
        return "≈ lenient", "close"
    if f.lenient > 0:
        return f"partial ({f.lenient:g})", "partial"
    return "✗", "differs"


def _pair_rows(pair: Pair, *, aliases: Aliases | None) -> tuple[_Row, ...]:
    rows = []
    for f in pair.fields:
        if not f.filled:
            continue
        verdict, css = _verdict(f)
        rows.append(
            _Row(
                field=f.field,
                key=f.key,
                gold=_display(f.gold, kind=f.kind, aliases=aliases),
                predicted=_display(f.predicted, kind=f.kind, aliases=aliases),
                verdict=verdict,
                css=css,
            )
        )
    return tuple(rows)


def _event_rows(event: Event, *, aliases: Aliases | None) -> tuple[_Row, ...]:
    rows = []
    for name, kind in slots(type(event)):
        value = slot_value(event, name)
        if value is not None:
            rows.append(_Row(name, False, _display(value, kind=kind, aliases=aliases), "", "", ""))
    return tuple(rows)


def _located(span: Span) -> str:
    return "evidence not found in the text" if span.status == "not_found" else f"evidence {span.status}"


def _original_text(article: Article, *, cache: dict[str, str]) -> tuple[str, int, bool]:
    """The text to display and the offset of the article in it; False when it is the clean text (JSONL)."""
    if _JSONL_SOURCE.search(article.source):
        return article.text, 0, False
    if article.source not in cache:
        path = Path(article.source)
        try:
            # Bytes, not read_text(): seeds' offsets count "\r\n" as two characters.
            cache[article.source] = path.read_bytes().decode("utf-8")
        except OSError as e:
            raise InputError(f"cannot read the article's source: {e.strerror}", path=str(path)) from e
        except UnicodeDecodeError as e:
            raise InputError(f"not UTF-8 (byte {e.start})", path=str(path)) from e
    start, end = article.to_original(0, len(article.text))
    return cache[article.source][start:end], start, True


def _layer_class(keys: Sequence[_Key]) -> str:
    return "hl-" + "--".join(f"{outcome}-{event_type}" for outcome, event_type in keys)


def _pieces(text: str, marks: Sequence[_Mark], *, read: Sequence[tuple[int, int]]) -> tuple[_Piece, ...]:
    """Cut the text at every span and ``read`` boundary; pieces outside ``read`` (what the model saw) are dimmed."""
    bounds = [m.start for m in marks] + [m.end for m in marks] + [x for r in read for x in r]
    cuts = sorted({0, len(text), *(x for x in bounds if 0 < x < len(text))})
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        covering = [m for m in marks if m.start <= a and b <= m.end]
        keys = tuple(sorted({(m.outcome, m.type) for m in covering}, key=lambda k: (_OUTCOMES.index(k[0]), k[1])))
        dim = not any(s <= a and b <= e for s, e in read)
        titles = [f"{m.label} {_OUTCOME_LABELS[m.outcome]}" for m in covering]
        pieces.append(
            _Piece(
                text=text[a:b],
                css=" ".join(([f"hl {_layer_class(keys)}"] if keys else []) + (["dim"] if dim else [])),
                title=", ".join(titles + (["not read by the model (removed as boilerplate)"] if dim else [])),
                markers=tuple(_Marker(m.label, m.anchor, m.outcome, m.type) for m in marks if m.start == a),
                keys=keys,
            )
        )
    return tuple(pieces)


def _rgb(colour: str) -> str:
    return " ".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))


def _shown(key: _Key) -> str:
    """The CSS variable that is 1 while the filters show events of this (outcome, type), else 0."""
    return f"var(--k-{key[0]}-{key[1]})"


def _layer_style(keys: Sequence[_Key]) -> str:
    """A piece's background: a stripe per (outcome, type); the shown ones share its height, hidden ones get none."""
    shown = [_shown(k) for k in keys]
    colours = [f"rgb({_rgb(_COLOURS[o])} / {v})" for (o, _), v in zip(keys, shown)]
    if len(keys) == 1:
        return colours[0]
    total = f"max({' + '.join(shown)}, 1)"
    edges = ["0%"] + [f"calc(({' + '.join(shown[: i + 1])}) / {total} * 100%)" for i in range(len(keys))]
    stops = ", ".join(f"{c} {a} {b}" for c, a, b in zip(colours, edges, edges[1:]))
    return f"linear-gradient(to bottom, {stops})"


def _overlap(a: Span, b: Span) -> bool:
    if a.start is None or a.end is None or b.start is None or b.end is None:
        return False
    return a.start < b.end and b.start < a.end


def _confusion_pairs(
    gold: Sequence[tuple[Event, Span]], predicted: Sequence[tuple[Event, Span]]
) -> list[tuple[str, str]]:
    """(gold type, predicted type) of every pair of located quotes that intersect; "none" where one side has none."""
    pairs = [(g.type, p.type) for g, gs in gold for p, ps in predicted if _overlap(gs, ps)]
    pairs += [(g.type, "none") for g, gs in gold if not any(_overlap(gs, ps) for _, ps in predicted)]
    pairs += [("none", p.type) for p, ps in predicted if not any(_overlap(gs, ps) for _, gs in gold)]
    return pairs


def _rejected_notes(
    result: ArticleResult, rejected: Sequence[tuple[Event, str]], *, aliases: Aliases
) -> dict[tuple[str, int], str]:
    """Notes on missed gold events that a rejected prediction would have matched leniently, and on that prediction."""
    missed = result.missed
    notes: dict[tuple[str, int], str] = {}
    for pair in match_events([result.gold[i] for i in missed], [e for e, _ in rejected], aliases=aliases):
        if pair.lenient:
            gold_index, reason = missed[pair.gold_index], rejected[pair.pred_index][1]
            notes[("g", gold_index)] = f"predicted, then rejected: {reason} (R{pair.pred_index + 1})"
            notes[("r", pair.pred_index)] = f"would have matched G{gold_index + 1}"
    return notes


def _article_view(
    number: int,
    article_id: str,
    *,
    result: ArticleResult | None,
    tally: Mapping[str, Any] | None,
    article: Article | None,
    predicted: Sequence[Event],
    rejected: Sequence[tuple[Event, str]],
    aliases: Aliases | None,
    status: Mapping[str, Any] | None,
    cache: dict[str, str],
) -> _ArticleView:
    """One article's card: its text with every gold (G), predicted (P) and rejected (R) event in place."""
    anchor = f"a{number}"
    gold, pairs = (result.gold, result.pairs) if result is not None else ((), ())
    outcomes = {
        key: "matched" if p.lenient else "near" for p in pairs for key in (("g", p.gold_index), ("p", p.pred_index))
    }
    default = {"g": "missed", "p": "spurious" if result is not None else "predicted", "r": "rejected"}
    notes = _rejected_notes(result, rejected, aliases=aliases or Aliases()) if result and rejected else {}
    text, base, original = ("", 0, False) if article is None else _original_text(article, cache=cache)
    marks: list[_Mark] = []
    views: dict[tuple[str, int], _EventView] = {}
    spans: dict[tuple[str, int], Span] = {}
    for side, events in (("g", gold), ("p", predicted), ("r", [e for e, _ in rejected])):
        for i, event in enumerate(events):
            outcome, label = outcomes.get((side, i), default[side]), f"{side.upper()}{i + 1}"
            event_anchor = f"{anchor}-{side}{i + 1}"
            span = spans[(side, i)] = align(event.evidence, article) if article is not None else Span("not_found", 0.0)
            start, end = (span.source_start, span.source_end) if original else (span.start, span.end)
            if start is not None and end is not None and min(end - base, len(text)) > max(start - base, 0):
                start, end = max(start - base, 0), min(end - base, len(text))
                marks.append(_Mark(start, end, label, event_anchor, outcome, event.type))
            reason = [f"rejected: {rejected[i][1]}"] if side == "r" else []
            views[(side, i)] = _EventView(
                label=label,
                anchor=event_anchor,
                outcome=outcome,
                type=event.type,
                evidence=event.evidence,
                located=_located(span) if article is not None else "article text not available",
                rows=_event_rows(event, aliases=aliases),
                note="; ".join(reason + ([notes[(side, i)]] if (side, i) in notes else [])),
            )

    def pair_view(pair: Pair) -> _PairView:
        return _PairView(
            gold=views[("g", pair.gold_index)],
            predicted=views[("p", pair.pred_index)],
            rows=_pair_rows(pair, aliases=aliases),
            strict=pair.strict,
            lenient=pair.lenient,
            similarity=round(pair.similarity, 2),
        )

    def of(side: str, outcome: str) -> tuple[_EventView, ...]:
        return tuple(v for (s, _), v in views.items() if s == side and v.outcome == outcome)

    located = {m.anchor for m in marks}
    if article is None:
        note, read = "article text not available: evidence cannot be shown in place", []
    elif original:
        note = f"original text of {article.source}; grey text was removed as boilerplate and not read by the model"
        read = [(o - base, o - base + n) for _, o, n in article.runs]
    else:
        note, read = f"article text of {article.source} (JSONL record)", [(0, len(text))]
    status = status or {"status": "ok"}
    return _ArticleView(
        id=article_id,
        anchor=anchor,
        title=article.title if article is not None else "",
        source=article.source if article is not None else "",
        note=note,
        status="" if status["status"] == "ok" else f"{status['status']}: {'; '.join(status.get('errors', ()))}",
        pieces=_pieces(text, sorted(marks, key=lambda m: (m.start, m.label)), read=read) if text else (),
        tally=tally,
        matched=tuple(pair_view(p) for p in pairs if p.lenient),
        near=tuple(pair_view(p) for p in pairs if not p.lenient),
        missed=of("g", "missed"),
        spurious=of("p", "spurious"),
        predicted=of("p", "predicted"),
        rejected=of("r", "rejected"),
        unlocated=tuple(
            v for (s, _), v in views.items() if article is not None and s != "r" and v.anchor not in located
        ),
        confusion=tuple(
            _confusion_pairs(
                [(e, spans[("g", i)]) for i, e in enumerate(gold)],
                [(e, spans[("p", i)]) for i, e in enumerate(predicted)],
            )
        )
        if result is not None
        else (),
        rejected_matches=sum(side == "g" for side, _ in notes),
    )


def _confusion_table(confusion: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """Rows (gold types, then "none") and columns (predicted types, then "none") of the type-confusion table."""

    def order(types: Iterable[str]) -> list[str]:
        return sorted(set(types) - {"none"}) + ["none"]

    cols = order(p for row in confusion.values() for p in row)
    rows = []
    for g in order(confusion):
        row = confusion.get(g, {})
        css = ["none" if "none" in (g, p) else "diag" if g == p else "off" if row.get(p) else "" for p in cols]
        rows.append({"type": g, "cells": [{"n": row.get(p, 0), "css": c} for p, c in zip(cols, css)]})
    return {"cols": cols, "rows": rows}


def _count(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """(gold type, predicted type) pairs as scores.json's "confusion": gold type -> predicted type -> count."""
    out: dict[str, dict[str, int]] = {}
    for (gold_type, pred_type), n in sorted(Counter(pairs).items()):
        out.setdefault(gold_type, {})[pred_type] = n
    return out


def _run_rows(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run header from run.json: what ran (model, prompts, schema, package), when, and what it cost."""
    model, prompts, totals = run.get("model", {}), run.get("prompts", {}), run.get("totals", {})
    if isinstance(model, str):  # a bench's info names the model by its identity alone
        model = {"identity": model}
    rows = [("model", str(model.get("name", "–"))), ("identity", str(model.get("identity", "–")))]
    if "embedded" in model or "base_url" in model:
        rows.append(("endpoint", "embedded llama.cpp server" if model.get("embedded") else str(model.get("base_url"))))
    if "hash" in prompts:
        rows.append(("prompt hash", str(prompts["hash"])))
        if files := prompts.get("files"):
            rows.append(("prompt files", ", ".join(f"{k} {v}" for k, v in sorted(files.items()))))
    elif prompts:  # a bench names one prompt hash per strategy
        rows.append(("prompt hashes", ", ".join(f"{k} {v}" for k, v in sorted(prompts.items()))))
    rows += [(key, str(run[key])) for key in ("strategy", "input", "mode") if key in run]
    if params := run.get("params"):
        rows.append(("parameters", ", ".join(f"{k} {v}" for k, v in sorted(params.items()))))
    for key in ("schema_version", "started", "package_version"):
        rows.append((key.replace("_", " "), str(run.get(key, "–"))))
    if totals:
        n = {k: totals.get(k, 0) for k in _TOTALS}
        rows += [
            ("tokens (live)", f"{n['prompt_tokens']:,} prompt + {n['completion_tokens']:,} completion"),
            ("tokens (cached)", f"{n['cached_prompt_tokens']:,} prompt + {n['cached_completion_tokens']:,} completion"),
            ("cache", f"{n['cache_hits']:,} hits, {n['cache_misses']:,} misses (live calls)"),
            ("server seconds", f"{n['server_seconds']:,.1f} live, {n['cached_server_seconds']:,.1f} as recorded"),
            ("failed calls", f"{n['failed_passes']} ({n['failed']} articles failed, {n['partial']} partial)"),
            ("events", f"{n['events']} kept, {n['rejected']} rejected, over {n['articles']} articles"),
            ("wall time", f"{n['seconds']:,.1f} s"),
        ]
    if price := run.get("price"):
        live = totals.get("prompt_tokens", 0) * price["prompt_per_mtok"]
        live += totals.get("completion_tokens", 0) * price["completion_per_mtok"]
        rates = f"{price['prompt_per_mtok']:g} prompt, {price['completion_per_mtok']:g} completion per million"
        rows.append(("cost", f"{live / 1e6:,.4f} (live tokens at {rates})"))
    return rows


def _environment() -> Environment:
    return jinja_environment(
        FileSystemLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )


def render_html(
    scores: Scores | None,
    *,
    articles: Sequence[Article],
    predicted: Mapping[str, Sequence[Event]],
    gold: Mapping[str, Sequence[Event]] | None = None,
    rejected: Mapping[str, Sequence[tuple[Event, str]]] | None = None,
    run: Mapping[str, Any] | None = None,
    aliases: Aliases | None = None,
    event_types: Sequence[str] = (),
    title: str = "Extraction report",
) -> str:
    """One self-contained HTML page: the run, its scores, then each article's text with highlighted evidence.

    ``predicted`` and ``gold`` (when given) must be the events ``scores`` was computed from; without
    ``scores`` the run's events are shown unscored. ``rejected`` holds each article's rejected events
    with the reason, ``run`` the run.json manifest; ``aliases``, when given, shows the canonical form
    of every actor name written as an alias (and should be the table the scores used).
    ``event_types`` orders the type filters (the task's order); other types follow, sorted.
    At most ``MAX_HTML_ARTICLES`` articles are shown; the page says how many are left out.
    """
    by_id = {a.id: a for a in articles}
    rejected = rejected or {}
    scored = sorted(scores.articles) if scores is not None else []
    shown = set(predicted) | set(rejected) | (set(scores.not_in_gold) if scores is not None else set(by_id))
    unscored = sorted(shown - set(scored))
    statuses = (run or {}).get("articles", {})
    cache: dict[str, str] = {}
    views, listed = [], scored + unscored
    for n, article_id in enumerate(listed[:MAX_HTML_ARTICLES], start=1):
        result = scores.articles.get(article_id) if scores is not None else None
        given = tuple(predicted.get(article_id, ()))
        if result is not None and (
            given != result.predicted or (gold is not None and tuple(gold.get(article_id, ())) != result.gold)
        ):
            raise ValueError(f"{article_id}: the events given differ from those the scores were computed from")
        views.append(
            _article_view(
                n,
                article_id,
                result=result,
                tally=scores.by_article[article_id].to_json() if scores is not None and result is not None else None,
                article=by_id.get(article_id),
                predicted=given,
                rejected=tuple(rejected.get(article_id, ())),
                aliases=aliases,
                status=statuses.get(article_id),
                cache=cache,
            )
        )
    data = scores.to_json() if scores is not None else None
    confusion = None
    if data is not None:  # the scorer's table when it has one, else one from the spans located here
        counts = data["confusion"] if "confusion" in data else _count(c for v in views for c in v.confusion)
        confusion = _confusion_table(counts)
    pieces = [p for v in views for p in v.pieces]
    present_types = {e.type for v in views for e in v.events}
    present_outcomes = {e.outcome for v in views for e in v.events}
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        data=data,
        run_rows=_run_rows(run) if run else [],
        wide_rows=("identity", "prompt files", "prompt hashes", "parameters", "cost"),
        levels=_LEVELS,
        bars=[
            {"type": t, "strict": v["strict"]["f1"], "lenient": v["lenient"]["f1"], "counts": v["counts"]}
            for t, v in sorted(data["by_type"].items())
        ]
        if data is not None
        else [],
        confusion=confusion,
        articles=views,
        left_out=len(listed) - len(views),
        rejected_matches=sum(v.rejected_matches for v in views),
        types=[t for t in event_types if t in present_types] + sorted(present_types - set(event_types)),
        outcomes=[o for o in _OUTCOMES if o in present_outcomes],
        all_outcomes=_OUTCOMES,
        outcome_labels=_OUTCOME_LABELS,
        colours=_COLOURS,
        layers=[(_layer_class(k), _layer_style(k)) for k in sorted({p.keys for p in pieces if p.keys})],
        keys=sorted({k for p in pieces for k in p.keys}),
        fmt=_f,
        num=_n,
    )
