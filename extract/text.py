"""Text folding shared by evidence alignment, the gold checker and the scorer."""

from __future__ import annotations

#: Curly quotes to straight ones: models and annotators write either.
STRAIGHT_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def fold(text: str) -> str:
    """Straight quotes, single spaces, casefolded: the form in which two spellings compare equal."""
    return " ".join(text.translate(STRAIGHT_QUOTES).split()).casefold()
