"""Render scores for people: Markdown summaries, a one-file HTML report, a terminal table.

The HTML report is self-contained (inline CSS, no script, no external resource) and escapes every
article and event string through Jinja2's autoescaping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rich.console import Console
from rich.table import Table

from extract.align import Span, align
from extract.errors import InputError
from extract.gold import Aliases
from extract.schema import Event, slot_value
from extract.score import SLOTS, Comparison, FieldAgreement, Pair, Scores
from extract.seeds import Article

_TEMPLATES = Path(__file__).parent / "templates"
#: ``Article.source`` of a JSONL record: ``path.jsonl:line``; its offsets are into the record's text.
_JSONL_SOURCE = re.compile(r"\.jsonl:\d+$")
_CATEGORIES = ("matched", "missed", "spurious")
_COLOURS = {"matched": "#bfe8c9", "missed": "#ffc9b0", "spurious": "#d6ccff"}
_LEVELS = ("strict", "lenient", "slots")


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
    if counts["articles_without_predictions"]:
        lines.append(f"Gold articles with no predicted events: {', '.join(counts['articles_without_predictions'])}.")
    if counts["articles_not_in_gold"]:
        lines.append(f"Run articles not in the gold set (ignored): {', '.join(counts['articles_not_in_gold'])}.")
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
                f"`{a}`",
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
        lines.append(f"### `{change.article_id}`")
        lines += [f"- gained: `{k}`" for k in change.gained]
        lines += [f"- lost: `{k}`" for k in change.lost]
        lines += [f"- gained (strict): `{k}`" for k in change.gained_strict]
        lines += [f"- lost (strict): `{k}`" for k in change.lost_strict]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


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


@dataclass(frozen=True)
class _Mark:
    """One evidence span in the displayed text, with the event it belongs to."""

    start: int
    end: int
    label: str
    anchor: str
    category: str


@dataclass(frozen=True)
class _Marker:
    label: str
    anchor: str
    category: str


@dataclass(frozen=True)
class _Piece:
    text: str
    css: str
    title: str
    markers: tuple[_Marker, ...]


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
    category: str
    type: str
    evidence: str
    located: str
    rows: tuple[_Row, ...]


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
    pieces: tuple[_Piece, ...]
    tally: Mapping[str, Any]
    matched: tuple[_PairView, ...]
    near: tuple[_PairView, ...]
    missed: tuple[_EventView, ...]
    spurious: tuple[_EventView, ...]
    unlocated: tuple[_EventView, ...]


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
    for name, kind in SLOTS[event.type]:
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


def _pieces(text: str, marks: Sequence[_Mark]) -> tuple[_Piece, ...]:
    """Cut the text at every span boundary; each piece carries the categories of all spans covering it."""
    cuts = sorted({0, len(text), *(m.start for m in marks), *(m.end for m in marks)})
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        covering = [m for m in marks if m.start <= a and b <= m.end]
        categories = [c for c in _CATEGORIES if any(m.category == c for m in covering)]
        markers = tuple(_Marker(m.label, m.anchor, m.category) for m in marks if m.start == a)
        pieces.append(
            _Piece(
                text=text[a:b],
                css="hl hl-" + "-".join(categories) if categories else "",
                title=", ".join(f"{m.label} {m.category}" for m in covering),
                markers=markers,
            )
        )
    return tuple(pieces)


def _highlight_styles() -> list[tuple[str, str]]:
    """A CSS background for every combination of categories: one colour, or stripes of several."""
    styles = []
    for mask in range(1, 2 ** len(_CATEGORIES)):
        cats = [c for i, c in enumerate(_CATEGORIES) if mask >> i & 1]
        if len(cats) == 1:
            background = _COLOURS[cats[0]]
        else:
            step = 100 / len(cats)
            stops = ", ".join(
                f"{_COLOURS[c]} {i * step:.0f}% {(i + 1) * step:.0f}%" for i, c in enumerate(cats)
            )
            background = f"linear-gradient(to bottom, {stops})"
        styles.append(("hl-" + "-".join(cats), background))
    return styles


def _article_view(
    number: int,
    article_id: str,
    *,
    scores: Scores,
    article: Article | None,
    predicted: Sequence[Event],
    gold: Sequence[Event],
    aliases: Aliases | None,
    cache: dict[str, str],
) -> _ArticleView:
    result = scores.articles[article_id]
    if tuple(gold) != result.gold or tuple(predicted) != result.predicted:
        raise ValueError(f"{article_id}: the events given differ from those the scores were computed from")
    anchor = f"a{number}"
    matched_gold = {p.gold_index for p in result.matched}
    matched_pred = {p.pred_index for p in result.matched}
    marks: list[_Mark] = []
    views: dict[tuple[str, int], _EventView] = {}
    unlocated: list[tuple[str, int]] = []
    text, base, original = ("", 0, False) if article is None else _original_text(article, cache=cache)
    for side, events, found in (("g", gold, matched_gold), ("p", predicted, matched_pred)):
        for i, event in enumerate(events):
            category = "matched" if i in found else "missed" if side == "g" else "spurious"
            label = f"{side.upper()}{i + 1}"
            event_anchor = f"{anchor}-{side}{i + 1}"
            span = align(event.evidence, article) if article is not None else Span("not_found", 0.0)
            start, end = (span.source_start, span.source_end) if original else (span.start, span.end)
            if start is not None and end is not None and min(end - base, len(text)) > max(start - base, 0):
                marks.append(_Mark(max(start - base, 0), min(end - base, len(text)), label, event_anchor, category))
            elif article is not None:
                unlocated.append((side, i))
            views[(side, i)] = _EventView(
                label=label,
                anchor=event_anchor,
                category=category,
                type=event.type,
                evidence=event.evidence,
                located=_located(span) if article is not None else "article text not available",
                rows=_event_rows(event, aliases=aliases),
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

    near_gold = {p.gold_index for p in result.near_misses}
    near_pred = {p.pred_index for p in result.near_misses}
    if article is None:
        note = "article text not available: evidence cannot be shown in place"
    elif original:
        note = f"original text of {article.source}"
    else:
        note = f"article text of {article.source} (JSONL record)"
    return _ArticleView(
        id=article_id,
        anchor=anchor,
        title=article.title if article is not None else "",
        source=article.source if article is not None else "",
        note=note,
        pieces=_pieces(text, sorted(marks, key=lambda m: (m.start, m.label))) if text else (),
        tally=scores.by_article[article_id].to_json(),
        matched=tuple(pair_view(p) for p in result.matched),
        near=tuple(pair_view(p) for p in result.near_misses),
        missed=tuple(views[("g", i)] for i in result.missed if i not in near_gold),
        spurious=tuple(views[("p", i)] for i in result.spurious if i not in near_pred),
        unlocated=tuple(views[k] for k in unlocated),
    )


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    scores: Scores,
    *,
    articles: Sequence[Article],
    predicted: Mapping[str, Sequence[Event]],
    gold: Mapping[str, Sequence[Event]],
    aliases: Aliases | None = None,
    title: str = "Extraction report",
) -> str:
    """One self-contained HTML page: summary, F1 bars by type, then each article's text with highlighted evidence.

    ``predicted`` and ``gold`` must be the events ``scores`` was computed from; ``aliases``, when
    given, shows the canonical form of every actor name written as an alias.
    """
    by_id = {a.id: a for a in articles}
    cache: dict[str, str] = {}
    views = [
        _article_view(
            n,
            article_id,
            scores=scores,
            article=by_id.get(article_id),
            predicted=predicted.get(article_id, ()),
            gold=gold.get(article_id, ()),
            aliases=aliases,
            cache=cache,
        )
        for n, article_id in enumerate(sorted(scores.articles), start=1)
    ]
    data = scores.to_json()
    bars = [
        {"type": t, "strict": v["strict"]["f1"], "lenient": v["lenient"]["f1"], "counts": v["counts"]}
        for t, v in sorted(data["by_type"].items())
    ]
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        data=data,
        levels=_LEVELS,
        bars=bars,
        articles=views,
        colours=_COLOURS,
        highlight_styles=_highlight_styles(),
        fmt=_f,
        num=_n,
    )

