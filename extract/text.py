"""Text folding shared by evidence alignment, the gold checker and the scorer; the hedge words
of a count."""

from __future__ import annotations

import functools
import re

#: Curly quotes to straight ones: models and annotators write either.
STRAIGHT_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def fold(text: str) -> str:
    """Straight quotes, single spaces, casefolded: the form in which two spellings compare equal."""
    return " ".join(text.translate(STRAIGHT_QUOTES).split()).casefold()


#: Words that hedge a count, and the qualifier each gives (the built-in task's guidelines, section 4).
HEDGES = {
    "about": "about", "around": "about", "roughly": "about", "nearly": "about", "some": "about",
    "approximately": "about", "close to": "about", "more than": "more_than", "over": "more_than",
    "fewer than": "fewer_than", "less than": "fewer_than", "under": "fewer_than", "at least": "at_least",
    "up to": "at_most",
}  # fmt: skip
#: The hedges as a regular expression alternation, longest first ("more than" before "more").
HEDGE_WORDS = "|".join(re.escape(h) for h in sorted(HEDGES, key=len, reverse=True))


def hedge_of(text: str, count: int) -> str:
    """The qualifier of a count written in digits in a text: its hedge ("about 2,500"), else exact."""
    written = "|".join(re.escape(form) for form in dict.fromkeys((f"{count:,}", str(count))))
    found = _hedged(written).search(text)
    return HEDGES[found[1].lower()] if found else "exact"


@functools.lru_cache(maxsize=256)
def _hedged(written: str) -> re.Pattern[str]:
    return re.compile(rf"\b({HEDGE_WORDS})\s+(?:{written})(?![\d,]*\d)", re.IGNORECASE)
