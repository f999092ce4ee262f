"""Reports: Markdown tables, the self-contained HTML page (escaping, highlights), comparison, terminal."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from extract.aliases import Aliases
from extract import report
from extract.report import (
    print_summary,
    read_rejected,
    render_comparison_markdown,
    render_html,
    render_markdown,
)
from extract.schema import EVENTS_FORMAT, Event
from extract.tasks.military import TASK

parse_event = TASK.parse_event  # noqa: E305
from extract.documents import Article, load_jsonl, load_text_file
from extract.score import Scores, compare, score_run

ALIASES = Aliases({"United States": ("US", "Pentagon"), "Iraq": ("Baghdad",)})

PAGE = """\
Troops <b>leave</b> Iraq
Photo caption line
Photo caption line

The Pentagon said 3,000 troops remain in Iraq after the <script>alert("x")</script> drawdown began.

A drone attack hit a convoy near Baghdad airport, killing two people.
"""


def ev(**fields: Any) -> Event:
    return parse_event(fields)


TROOPS_GOLD = ev(
    type="troop_level",
    evidence="The Pentagon said 3,000 troops remain in Iraq",
    force="United States",
    location={"country": "Iraq"},
    count=3000,
)
TROOPS_PRED = ev(
    type="troop_level",
    evidence="3,000 troops remain in Iraq after the",
    force="Pentagon",
    location={"country": "Iraq"},
    count=3050,
)
ATTACK_GOLD = ev(
    type="attack",
    evidence="A drone attack hit a convoy near Baghdad airport, killing two people.",
    target="a convoy",
    means="drone",
    killed=2,
)
SPURIOUS = ev(
    type="political_decision",
    evidence='<script>alert("x")</script>',
    actor="<script>evil()</script>",
    kind="declaration",
    summary="<img src=x onerror=alert(1)>",
)


def make_article(tmp_path: Path, text: str = PAGE, *, newline: str = "\n") -> Article:
    path = tmp_path / "page.txt"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    (article,) = load_text_file(path)
    return article


def render(article: Article, predicted: list[Event], gold: list[Event], **extra: Any) -> tuple[Scores, str]:
    scores = score_run({article.id: predicted}, {article.id: gold}, aliases=ALIASES)
    page = render_html(
        scores, articles=[article], predicted={article.id: predicted}, gold={article.id: gold}, aliases=ALIASES, **extra
    )
    return scores, page


def document_text(page: str) -> str:
    """The text shown in the article's <pre>, markers and tags removed, entities decoded."""
    (pre,) = re.findall(r'<pre class="doc">(.*?)</pre>', page, flags=re.S)
    pre = re.sub(r'<a class="marker[^"]*" href="#[^"]*">[^<]*</a>', "", pre)
    return html.unescape(re.sub(r"</?span[^>]*>", "", pre))


# --- HTML ----------------------------------------------------------------------------------


def test_html_escapes_article_text_and_event_fields(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    _, page = render(article, [TROOPS_PRED, SPURIOUS], [TROOPS_GOLD, ATTACK_GOLD])
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "<b>leave</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # article text
    assert "&lt;script&gt;evil()&lt;/script&gt;" in page  # event field
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Troops &lt;b&gt;leave&lt;/b&gt; Iraq" in page


def test_html_is_self_contained(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    rejected = {article.id: [(REJECTED_ATTACK, "no cue word")]}
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD, ATTACK_GOLD], rejected=rejected, run=RUN)
    assert page.startswith("<!doctype html>")
    assert "<style>" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, flags=re.I)
    assert "http" not in page.lower()
    assert "<link" not in page.lower() and "<script" not in page.lower() and "@import" not in page
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))


def test_html_shows_the_original_text_with_overlapping_highlights(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    _, page = render(article, [TROOPS_PRED, SPURIOUS], [TROOPS_GOLD, ATTACK_GOLD])
    start, end = article.to_original(0, len(article.text))
    original = PAGE[start:end]
    assert "Photo caption line\nPhoto caption line" in original  # boilerplate of the original is shown
    assert document_text(page) == original
    # The gold and the predicted troop evidence overlap: the shared part carries the matched layer once,
    # the predicted tail beyond the gold quote is still highlighted, and each event has its marker.
    matched = 'class="hl hl-matched-troop_level"'
    assert f'<span {matched} title="G1 matched, P1 matched">3,000 troops remain in Iraq</span>' in page
    assert f'<span {matched} title="P1 matched"> after the</span>' in page
    assert 'title="G2 missed">A drone attack hit a convoy' in page
    assert 'title="P2 spurious">&lt;script&gt;' in page
    for label, anchor in (("G1", "a1-g1"), ("P1", "a1-p1"), ("G2", "a1-g2"), ("P2", "a1-p2")):
        assert f'href="#{anchor}">{label}</a>' in page
        assert f'id="{anchor}"' in page


def test_html_colours_spans_covered_by_several_categories(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    missed = ev(
        type="troop_level", evidence="troops remain in Iraq", force="Hamas", location={"country": "Iraq"}, count=1
    )
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD, missed])
    layer = "hl-matched-troop_level--missed-troop_level"
    shared = f'<span class="hl {layer}" title="G1 matched, P1 matched, G2 missed">troops remain in Iraq</span>'
    assert shared in page
    assert f".{layer} {{ background: linear-gradient(" in page
    assert document_text(page) == PAGE[slice(*article.to_original(0, len(article.text)))]


def test_html_offsets_survive_crlf_line_endings(tmp_path: Path) -> None:
    article = make_article(tmp_path, newline="\r\n")
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD, ATTACK_GOLD])
    assert 'title="G2 missed">A drone attack hit a convoy near Baghdad airport, killing two people.</span>' in page


def test_html_side_by_side_table_marks_differing_fields(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD])
    rows = re.findall(r'<tr class="(\w+)"><td class="mono key">(\S+) ★</td>\s*<td>([^<]*)</td><td>([^<]*)</td>', page)
    assert ("close", "count", "3000", "3050") in rows
    assert ("same", "force", "United States", "Pentagon → United States") in rows
    assert ("same", "location.country", "Iraq", "Iraq") in rows
    assert "strict ✗" in page and "lenient ✓" in page


def test_html_lists_near_misses_and_unlocated_evidence(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    wrong_means = ev(type="attack", evidence="not in the article at all", target="a convoy", means="rocket")
    _, page = render(article, [wrong_means], [ATTACK_GOLD])
    assert "Near misses (1)" in page
    assert '<div class="card near t-attack o-near" id="a1-g1">' in page
    assert '<input type="checkbox" id="f-o-near" checked>' in page
    assert '<tr class="differs"><td class="mono key">means ★</td>' in page
    assert 'Evidence not found in the text: <a href="#a1-p1">P1</a>' in page


def test_html_for_jsonl_articles_shows_the_article_text(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": "doc-1", "text": "Headline here\n\n" + PAGE.split("\n\n")[1]}) + "\n")
    (article,) = load_jsonl(path)
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD])
    assert document_text(page) == article.text
    assert "(JSONL record)" in page
    assert '<span class="dim" title=' not in page  # the clean text is all the model read
    assert 'title="G1 matched, P1 matched">3,000 troops remain in Iraq</span>' in page


def test_html_without_the_article_text_still_renders(tmp_path: Path) -> None:
    scores = score_run({"x#1": [TROOPS_PRED]}, {"x#1": [TROOPS_GOLD]}, aliases=ALIASES)
    page = render_html(scores, articles=[], predicted={"x#1": [TROOPS_PRED]}, gold={"x#1": [TROOPS_GOLD]})
    assert "article text not available" in page
    assert '<pre class="doc">' not in page


def test_html_refuses_events_other_than_the_scored_ones(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    scores, _ = render(article, [TROOPS_PRED], [TROOPS_GOLD])
    with pytest.raises(ValueError):
        render_html(scores, articles=[article], predicted={article.id: []}, gold={article.id: [TROOPS_GOLD]})


def test_html_has_summary_bars_and_legend(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD, ATTACK_GOLD])
    assert page.index("<h2>Summary</h2>") < page.index("F1 by type") < page.index('<pre class="doc">')
    assert '<div class="bar lenient" style="width: 100.0%">' in page  # troop_level lenient F1 1.0
    assert '<div class="bar strict" style="width: 0.0%">' in page
    for word in ("matched (gold and predicted)", "missed (gold only)", "spurious (predicted only)"):
        assert word in page
    assert "Matching: one assignment per article" in page and "Evidence: 1 of 1 matches" in page

RUN: dict[str, Any] = {
    "model": {"name": "qwen-test", "identity": "gguf-sha256:abc123", "embedded": True, "base_url": None},
    "prompts": {"hash": "0f939e88", "files": {"rules.j2": "0cc1e566"}},
    "schema_version": "1",
    "started": "2026-01-02T03:04:05+00:00",
    "package_version": "9.9.9",
    "totals": {
        "prompt_tokens": 2_000_000,
        "completion_tokens": 1_000_000,
        "cached_prompt_tokens": 5_000,
        "cached_completion_tokens": 700,
        "cache_hits": 12,
        "cache_misses": 3,
        "server_seconds": 42.5,
        "cached_server_seconds": 99.0,
        "failed_passes": 2,
        "failed": 0,
        "partial": 1,
    },
}
REJECTED_ATTACK = ev(
    type="attack", evidence="A drone attack hit a convoy near Baghdad airport", target="a convoy", means="drone"
)


def test_html_header_shows_the_run_and_its_cost(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    price = {"prompt_per_mtok": 0.5, "completion_per_mtok": 2.0}
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD], run=RUN | {"price": price})
    for label, value in (
        ("model", "qwen-test"),
        ("endpoint", "embedded llama.cpp server"),
        ("prompt hash", "0f939e88"),
        ("schema version", "1"),
        ("started", "2026-01-02T03:04:05+00:00"),
        ("package version", "9.9.9"),
        ("tokens (live)", "2,000,000 prompt + 1,000,000 completion"),
        ("tokens (cached)", "5,000 prompt + 700 completion"),
        ("cache", "12 hits, 3 misses (live calls)"),
        ("server seconds", "42.5 live, 99.0 as recorded"),
        ("failed calls", "2 (0 articles failed, 1 partial)"),
    ):
        assert re.search(rf"<dt>{re.escape(label)}</dt><dd[^>]*>{re.escape(value)}</dd>", page), label
    assert "gguf-sha256:abc123" in page and "rules.j2 0cc1e566" in page
    assert "<dt class=\"wide\">cost</dt><dd class=\"wide\">3.0000 (live tokens at 0.5 prompt, 2 completion" in page
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD], run=RUN)
    assert ">cost</dt>" not in page
    assert "<h2>Run</h2>" not in render(article, [TROOPS_PRED], [TROOPS_GOLD])[1]


def test_html_escapes_a_hostile_article_id_and_reason(tmp_path: Path) -> None:
    hostile = "<script>[/bold]"
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": hostile, "text": "Headline here\n\n" + PAGE.split("\n\n", 1)[1]}) + "\n")
    (article,) = load_jsonl(path)
    predicted, gold = {hostile: [TROOPS_PRED, SPURIOUS]}, {hostile: [TROOPS_GOLD, ATTACK_GOLD]}
    rejected = {hostile: [(REJECTED_ATTACK, "<b>no cue</b>")]}
    scores = score_run(predicted, gold, aliases=ALIASES)
    for page in (
        render_html(scores, articles=[article], predicted=predicted, gold=gold, rejected=rejected, run=RUN),
        render_html(None, articles=[article], predicted=predicted, rejected=rejected, run=RUN),
    ):
        assert "<script" not in page.lower() and "<b>" not in page
        assert "&lt;script&gt;[/bold]</a>" in page  # the articles table
        assert "&lt;script&gt;[/bold]</span>" in page  # the article's heading
        assert "&lt;b&gt;no cue&lt;/b&gt;" in page


def test_read_rejected_and_the_rejected_events(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    record = {
        "article_id": article.id,
        "event": REJECTED_ATTACK.model_dump(mode="json"),
        "format": EVENTS_FORMAT,
        "rejected": "the evidence has no cue word of attack",
        "source": article.source,
    }
    (tmp_path / "rejected.jsonl").write_text(json.dumps(record) + "\n")
    rejected = read_rejected(tmp_path / "rejected.jsonl", task=TASK)
    assert rejected == {article.id: [(REJECTED_ATTACK, "the evidence has no cue word of attack")]}
    assert read_rejected(tmp_path / "missing.jsonl", task=TASK) == {}
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD, ATTACK_GOLD], rejected=rejected)
    assert "Rejected (1)" in page
    assert '<div class="card rejected t-attack o-rejected" id="a1-r1">' in page
    assert "rejected: the evidence has no cue word of attack; would have matched G2" in page
    # The missed attack was found, then rejected: its card says why.
    assert '<p class="note">predicted, then rejected: the evidence has no cue word of attack (R1)</p>' in page
    assert "1 of the 1 missed gold events were predicted, then rejected" in page
    # Highlighted in its own colour, and hidden until its checkbox is ticked.
    assert '<span class="hl hl-missed-attack--rejected-attack" title="G2 missed, R1 rejected">A drone attack' in page
    assert '<a class="marker o-rejected t-attack" href="#a1-r1">R1</a>' in page
    assert '<input type="checkbox" id="f-o-rejected">' in page
    assert "body:has(#f-o-rejected:not(:checked)) .o-rejected { display: none; }" in page
    assert "body:has(#f-o-rejected:not(:checked)) { --o-rejected: 0; }" in page
    assert document_text(page) == PAGE[slice(*article.to_original(0, len(article.text)))]


def test_html_dims_the_boilerplate_the_model_did_not_read(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD])
    dimmed = "".join(re.findall(r'<span class="dim" title="not read by the model[^"]*">([^<]*)</span>', page))
    assert "Photo caption line\nPhoto caption line" in dimmed
    assert dimmed.replace("Photo caption line", "").strip() == ""  # the rest is the whitespace between lines
    assert "3,000 troops" in document_text(page)


def test_html_without_gold_reports_the_runs_events(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    rejected = {article.id: [(REJECTED_ATTACK, "no cue word")]}
    page = render_html(None, articles=[article], predicted={article.id: [TROOPS_PRED]}, rejected=rejected, run=RUN)
    assert "<h2>Summary</h2>" not in page and "F1 by type" not in page and "Type confusion" not in page
    assert page.count("No gold covers") == 1
    assert '<span class="hl hl-predicted-troop_level" title="P1 predicted (unscored)">3,000 troops' in page
    assert "Predicted (1), unscored" in page and "Rejected (1)" in page
    assert '<input type="checkbox" id="f-o-predicted" checked>' in page
    assert document_text(page) == PAGE[slice(*article.to_original(0, len(article.text)))]


def test_html_filters_by_type_and_outcome_and_collapses_articles(tmp_path: Path) -> None:
    article = make_article(tmp_path)
    _, page = render(article, [TROOPS_PRED, SPURIOUS], [TROOPS_GOLD, ATTACK_GOLD])
    for name, group in (("troop_level", "t"), ("attack", "t"), ("political_decision", "t"), ("matched", "o"),
                        ("missed", "o"), ("spurious", "o")):
        assert f'<input type="checkbox" id="f-{group}-{name}" checked>' in page
        assert f"body:has(#f-{group}-{name}:not(:checked)) .{group}-{name} {{ display: none; }}" in page
        assert f"body:has(#f-{group}-{name}:not(:checked)) {{ --{group}-{name}: 0; }}" in page
    assert 'id="f-t-force_change"' not in page and 'id="f-o-rejected"' not in page  # only what the report holds
    assert "--k-matched-troop_level: calc(var(--o-matched) * var(--t-troop_level));" in page
    assert '<div class="card missed t-attack o-missed" id="a1-g2">' in page
    assert '<div class="card matched t-troop_level o-matched" id="a1-g1">' in page
    assert '<a class="marker o-spurious t-political_decision" href="#a1-p2">P2</a>' in page
    assert '<details class="article" id="a1" open>' in page and "<summary><h2>" in page


def _confusion(page: str) -> dict[str, dict[str, str]]:
    table = re.search(r'<table class="confusion">(.*?)</table>', page, flags=re.S)
    assert table is not None
    cols = [html.unescape(c).replace("\u200b", "") for c in re.findall(r'<th class="mono">([^<]*)</th>', table[1])]
    header, *rows = re.findall(r"<tr>(.*?)</tr>", table[1], flags=re.S)
    n = header.count('<th class="mono">')
    out = {}
    for row in rows:
        (gold_type,) = re.findall(r'<th class="mono">([^<]*)</th>', row)
        out[gold_type] = dict(zip(cols[:n], re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)))
    return out


def test_html_type_confusion_counts_overlapping_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    article = make_article(tmp_path)
    as_change = ev(
        type="force_change", evidence="3,000 troops remain in Iraq", kind="reduce", force="US", status="underway"
    )
    _, page = render(article, [as_change, SPURIOUS], [TROOPS_GOLD, ATTACK_GOLD])
    expected = {
        "attack": {"force_change": "", "political_decision": "", "no overlapping prediction": "1"},
        "troop_level": {"force_change": "1", "political_decision": "", "no overlapping prediction": ""},
        "no overlapping gold": {"force_change": "", "political_decision": "1", "no overlapping prediction": ""},
    }
    assert _confusion(page) == expected
    # Computed from the located spans when the scores do not carry a confusion table.
    to_json = Scores.to_json
    monkeypatch.setattr(Scores, "to_json", lambda self: {k: v for k, v in to_json(self).items() if k != "confusion"})
    assert _confusion(render(article, [as_change, SPURIOUS], [TROOPS_GOLD, ATTACK_GOLD])[1]) == expected


# --- Markdown and terminal -----------------------------------------------------------------


def _scores() -> Scores:
    gold = {"a#1": [TROOPS_GOLD, ATTACK_GOLD], "b#1": []}
    return score_run({"a#1": [TROOPS_PRED, SPURIOUS], "z#1": []}, gold, aliases=ALIASES)


def test_markdown_has_summary_type_and_article_tables() -> None:
    text = render_markdown(_scores())
    assert "| strict | 0.0000 | 0.0000 | 0.0000 | 0 | 2 | 2 |" in text
    assert "| lenient | 0.5000 | 0.5000 | 0.5000 | 1 | 1 | 1 |" in text
    assert "## By type" in text and "| troop_level | 1 | 1 | 1 |" in text
    assert "## By article" in text and "| `a#1` | 2 | 2 | 1 | 1 | 1 |" in text
    assert "not in the gold set (ignored): `z#1`" in text
    assert "Matching: one assignment per article" in text and "quotes overlap in the article" in text
    # The same report comes from a scores.json read back from disk.
    assert render_markdown(json.loads(json.dumps(_scores().to_json()))) == text


def test_comparison_markdown_shows_deltas_and_changes() -> None:
    a = _scores().to_json()
    b = score_run({"a#1": [TROOPS_GOLD]}, {"a#1": [TROOPS_GOLD, ATTACK_GOLD], "b#1": []}, aliases=ALIASES).to_json()
    text = render_comparison_markdown(compare(a, b))
    assert "| strict.f1 | 0.0000 | 0.6667 | +0.6667 |" in text
    assert "## F1 by type" in text
    assert "- gained (strict): `troop_level(" in text
    assert "### `a#1`" in text
    assert "No matched event changed." in render_comparison_markdown(compare(a, a))
    assert "## Is the difference real?" in text and "| lenient.f1 |" in text.split("Is the difference real?")[1]


def test_markdown_ids_cannot_break_out_of_their_code_span() -> None:
    from extract.report import _code

    assert _code("a#1") == "`a#1`"
    assert _code("x`y") == "`` x`y ``"
    assert _code("two\nlines | pipe") == "`two lines | pipe`"


def test_print_summary_is_a_short_table() -> None:
    buffer = io.StringIO()
    print_summary(_scores(), Console(file=buffer, width=120, color_system=None))
    out = buffer.getvalue()
    assert "strict" in out and "lenient" in out and "slots" in out
    assert "1 matched (0 strict), 1 missed, 1 spurious" in out
    assert len(out.splitlines()) < 15


def test_html_shows_a_bounded_number_of_articles_and_says_how_many_it_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "MAX_HTML_ARTICLES", 2)
    ids = ["a#1", "b#1", "c#1"]
    predicted = {i: [TROOPS_PRED] for i in ids}
    page = render_html(None, articles=[], predicted=predicted, run=RUN)
    assert "a#1" in page and "b#1" in page and "c#1" not in page  # the third article is left out, whole
    assert "1 more article not shown: this page shows the first 2." in page
    assert "more article" not in render_html(None, articles=[], predicted={"a#1": [TROOPS_PRED]}, run=RUN)
