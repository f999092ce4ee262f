"""Sentences with character offsets (sentencex, line by line) and windows of whole sentences.

A window never cuts a sentence ("U.S.", "Lt. Gen.", "Jan. 5" are not ends) and never cuts a
quotation: a sentence that opens a quote pulls in the sentences up to the one that closes it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

Span = tuple[int, int]

_LINE = re.compile(r"[^\n]+")
_QUOTES = re.compile(r"[\"“”]")


def sentence_spans(text: str) -> list[Span]:
    """(start, end) of every sentence of ``text``, stripped of surrounding space; a line break
    always ends a sentence (headlines, bylines and captions stand alone)."""
    from sentencex import segment  # imported on first use: `import extract` stays fast

    spans: list[Span] = []
    for line in _LINE.finditer(text):
        cursor = 0
        for piece in segment("en", line.group()):
            stripped = piece.strip()
            if not stripped:
                continue
            found = line.group().find(stripped, cursor)
            if found < 0:  # sentencex changed the text: keep the rest of the line whole
                rest = line.group()[cursor:]
                found, stripped = cursor + len(rest) - len(rest.lstrip()), rest.strip()
                if not stripped:
                    break
            spans.append((line.start() + found, line.start() + found + len(stripped)))
            cursor = found + len(stripped)
            if cursor >= len(line.group()):
                break
    return spans


@functools.lru_cache(maxsize=64)
def article_sentences(text: str) -> tuple[Span, ...]:
    """``sentence_spans`` of an article's text, kept for the last 64 texts: the windows and detect
    strategies and the headline rule of one article split it once."""
    return tuple(sentence_spans(text))


def _opens_quote(text: str) -> bool:
    """Whether a stretch of text leaves a quotation open (an odd number of quote marks)."""
    return len(_QUOTES.findall(text)) % 2 == 1


def sentence_windows(text: str, spans: Sequence[Span], *, max_chars: int) -> list[list[Span]]:
    """Consecutive sentences grouped into windows of at most ``max_chars`` (a longer sentence, or
    an open quotation, makes a longer one); each window is its list of sentence spans."""
    groups: list[list[Span]] = []
    for span in spans:
        if groups:
            last = groups[-1]
            open_quote = _opens_quote(text[last[0][0] : last[-1][1]])
            if open_quote or span[1] - last[0][0] <= max_chars:
                last.append(span)
                continue
        groups.append([span])
    return groups
