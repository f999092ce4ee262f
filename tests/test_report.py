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

from extract.gold import Aliases
from extract.report import print_summary, render_comparison_markdown, render_html, render_markdown
from extract.schema import Event, parse_event
from extract.score import Scores, compare, score_run
from extract.seeds import Article, load_jsonl, load_text_file

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


def render(article: Article, predicted: list[Event], gold: list[Event]) -> tuple[Scores, str]:
    scores = score_run({article.id: predicted}, {article.id: gold}, aliases=ALIASES)
    page = render_html(
        scores, articles=[article], predicted={article.id: predicted}, gold={article.id: gold}, aliases=ALIASES
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
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD, ATTACK_GOLD])
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
    # The gold and the predicted troop evidence overlap: the shared part carries the matched class once,
    # the predicted tail beyond the gold quote is still highlighted, and each event has its marker.
    assert '<span class="hl hl-matched" title="G1 matched, P1 matched">3,000 troops remain in Iraq</span>' in page
    assert '<span class="hl hl-matched" title="P1 matched"> after the</span>' in page
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
    shared = '<span class="hl hl-matched-missed" title="G1 matched, P1 matched, G2 missed">troops remain in Iraq</span>'
    assert shared in page
    assert ".hl-matched-missed { background: linear-gradient(" in page
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
    assert '<tr class="differs"><td class="mono key">means ★</td>' in page
    assert 'Evidence not found in the text: <a href="#a1-p1">P1</a>' in page


def test_html_for_jsonl_articles_shows_the_article_text(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": "doc-1", "text": "Headline here\n\n" + PAGE.split("\n\n")[1]}) + "\n")
    (article,) = load_jsonl(path)
    _, page = render(article, [TROOPS_PRED], [TROOPS_GOLD])
    assert document_text(page) == article.text
    assert "(JSONL record)" in page
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
    assert "not in the gold set (ignored): z#1" in text
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


def test_print_summary_is_a_short_table() -> None:
    buffer = io.StringIO()
    print_summary(_scores(), Console(file=buffer, width=120, color_system=None))
    out = buffer.getvalue()
    assert "strict" in out and "lenient" in out and "slots" in out
    assert "1 matched (0 strict), 1 missed, 1 spurious" in out
    assert len(out.splitlines()) < 15
