"""Text folding shared by evidence alignment, the gold checker and the scorer."""

from __future__ import annotations

import re

#: Curly quotes to straight ones: models and annotators write either.
STRAIGHT_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def fold(text: str) -> str:
    """Straight quotes, single spaces, casefolded: the form in which two spellings compare equal."""
    return " ".join(text.translate(STRAIGHT_QUOTES).split()).casefold()


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+|\n+")


def windows(text: str, *, max_chars: int) -> list[tuple[int, int]]:
    """Consecutive (start, end) spans of ``text``, cut between sentences, each at most
    ``max_chars`` long unless a single sentence is longer."""
    bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(text)), len(text)]
    sentences = [(a, b) for a, b in zip(bounds, bounds[1:]) if text[a:b].strip()]
    spans: list[tuple[int, int]] = []
    for start, end in sentences:
        if spans and end - spans[-1][0] <= max_chars:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
