"""Locate an evidence quote in its article: exact, then whitespace/case-insensitive, then fuzzy."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, utils

from extract.documents import Article
from extract.sentences import article_sentences
from extract.text import STRAIGHT_QUOTES

AlignStatus = Literal["exact", "normalized", "fuzzy", "not_found"]

#: Below this rapidfuzz partial-ratio score (0-100) a quote counts as not found.
FUZZY_THRESHOLD = 85.0
#: A rewritten quote is traced to a sentence only when their words agree at least this much
#: (rapidfuzz token-set ratio, 0-100, of the words cased and stripped of punctuation).
ANCHOR_THRESHOLD = 80.0


@dataclass(frozen=True)
class Span:
    """Where a quote was found: offsets in the article text and in the original file."""

    status: AlignStatus
    score: float
    start: int | None = None  # in Article.text
    end: int | None = None
    source_start: int | None = None  # in the original file (Article.source)
    source_end: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "score": round(self.score, 1),
            "start": self.source_start,
            "end": self.source_end,
        }


@functools.lru_cache(maxsize=16)
def _normalize(text: str) -> tuple[str, list[int]]:
    """Casefold, straighten quotes and collapse whitespace; return the text and an index map
    (kept for the last articles: each of their quotes is sought in the same text)."""
    chars: list[str] = []
    index: list[int] = []
    prev_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if prev_space:
                continue
            ch, prev_space = " ", True
        else:
            prev_space = False
        folded = ch.translate(STRAIGHT_QUOTES).casefold()  # may grow: "ß" -> "ss"
        chars.append(folded)
        index.extend([i] * len(folded))
    return "".join(chars), index


def located(article: Article, start: int, end: int) -> Span:
    """The span of the article's own text from ``start`` to ``end`` (an exact quote)."""
    return _found(article, start, end, "exact", 100.0)


def _found(article: Article, start: int, end: int, status: AlignStatus, score: float) -> Span:
    src_start, src_end = article.to_original(start, end)
    return Span(status, score, start, end, src_start, src_end)


def align(quote: str, article: Article) -> Span:
    """Find ``quote`` in ``article.text``; the first match wins, so results are deterministic."""
    quote = quote.strip()
    if not quote:
        return Span("not_found", 0.0)
    if (i := article.text.find(quote)) >= 0:
        return _found(article, i, i + len(quote), "exact", 100.0)
    norm_text, index = _normalize(article.text)
    norm_quote, _ = _normalize(quote)
    norm_quote = norm_quote.strip()
    if norm_quote and (i := norm_text.find(norm_quote)) >= 0:
        return _found(article, index[i], index[i + len(norm_quote) - 1] + 1, "normalized", 100.0)
    match = fuzz.partial_ratio_alignment(norm_quote, norm_text, score_cutoff=FUZZY_THRESHOLD)
    if match is None or match.dest_end <= match.dest_start:
        return Span("not_found", 0.0)
    start, end = index[match.dest_start], index[match.dest_end - 1] + 1
    text = article.text
    while start < end and text[start].isspace():  # the best window may take in a separator
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while 0 < start < end and text[start - 1].isalnum() and text[start].isalnum():  # whole words: "ed 300" -> "deployed 300"
        start -= 1
    while start < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return _found(article, start, end, "fuzzy", match.score)


def anchor(quote: str, article: Article, *, names: Sequence[str]) -> Span:
    """The article sentence a rewritten quote came from ("X was appointed" for "the appointment of
    X"): the one that holds every one of ``names`` as whole words and whose words agree best with
    the quote, if they agree enough (``ANCHOR_THRESHOLD``); else not found. Without names, nothing
    is traced."""
    named = [re.compile(rf"(?<!\w){re.escape(name.strip())}(?!\w)", re.IGNORECASE) for name in names if name.strip()]
    if not named:
        return Span("not_found", 0.0)
    best: tuple[float, int, int] | None = None
    for start, end in article_sentences(article.text):
        sentence = article.text[start:end].casefold()
        if all(name.search(sentence) for name in named):
            score = fuzz.token_set_ratio(quote, sentence, processor=utils.default_process)
            if score >= ANCHOR_THRESHOLD and (best is None or score > best[0]):
                best = (score, start, end)
    return Span("not_found", 0.0) if best is None else _found(article, best[1], best[2], "fuzzy", best[0])
