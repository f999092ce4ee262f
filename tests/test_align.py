"""Quote alignment: exact, normalized, fuzzy and not found, with offsets in the text and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.align import ANCHOR_THRESHOLD, FUZZY_THRESHOLD, Span, align, anchor
from extract.documents import Article, load_text_file, split_page

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def coalition() -> Article:
    return load_text_file(SEEDS / "000_a3c408a06a87a4ae.txt")[0]


@pytest.fixture(scope="module")
def review() -> Article:
    return load_text_file(SEEDS / "001_2dcd82ee068addd3.txt")[0]


def _original(article: Article) -> str:
    return Path(article.source).read_bytes().decode("utf-8")


def test_exact(coalition: Article) -> None:
    quote = "revealed there are 3,000 members of its forces currently in Iraq"
    span = align(quote, coalition)
    assert span.status == "exact"
    assert span.score == 100.0
    assert span.start == coalition.text.index(quote)
    assert span.end == span.start + len(quote)
    assert coalition.text[span.start : span.end] == quote
    assert span.source_start is not None and span.source_end is not None
    assert _original(coalition)[span.source_start : span.source_end] == quote
    assert span.to_json() == {"status": "exact", "score": 100.0, "start": span.source_start, "end": span.source_end}


def test_exact_quote_is_stripped_and_first_match_wins(coalition: Article) -> None:
    span = align("  the coalition  \n", coalition)
    assert span.status == "exact"
    assert span.start == coalition.text.index("the coalition")


def test_exact_at_very_end(coalition: Article) -> None:
    quote = "to carry out terrorist operations."
    span = align(quote, coalition)
    assert span.status == "exact"
    assert span.end == len(coalition.text)
    assert _original(coalition)[span.source_start : span.source_end] == quote


def test_normalized_case_and_whitespace(coalition: Article) -> None:
    quote = "THE SPOKESMAN pointed   out that\nthe number of US forces"
    span = align(quote, coalition)
    assert span.status == "normalized"
    assert span.score == 100.0
    real = "The spokesman pointed out that the number of US forces"
    assert coalition.text[span.start : span.end] == real
    assert _original(coalition)[span.source_start : span.source_end] == real


def test_normalized_straight_vs_curly_quotes(review: Article) -> None:
    span = align('supported "a secure and stable Iraq."', review)
    assert span.status == "normalized"
    assert review.text[span.start : span.end] == "supported “a secure and stable Iraq.”"
    assert _original(review)[span.source_start : span.source_end] == "supported “a secure and stable Iraq.”"


def test_normalized_across_paragraphs(coalition: Article) -> None:
    span = align("currently in Iraq. The announcement came", coalition)
    assert span.status == "normalized"
    assert coalition.text[span.start : span.end] == "currently in Iraq.\n\nThe announcement came"
    original = _original(coalition)
    assert original[span.source_start : span.source_start + 18] == "currently in Iraq."
    assert original[: span.source_end].endswith("The announcement came")


def test_normalized_when_casefold_changes_length() -> None:
    """"ß" casefolds to "ss": offsets after it must still land on the real characters."""
    text = "Grenze geschlossen\n\nDie Straße war gesperrt, sagte der Sprecher am Montag."
    (article,) = split_page(text, stem="de", source="de.txt")
    span = align("sprecher  am montag.", article)
    assert span.status == "normalized"
    assert article.text[span.start : span.end] == "Sprecher am Montag."
    assert text[span.source_start : span.source_end] == "Sprecher am Montag."
    span = align("DIE STRASSE war", article)
    assert span.status == "normalized"
    assert article.text[span.start : span.end] == "Die Straße war"


def test_fuzzy(coalition: Article) -> None:
    quote = "The US-led global coalition against ISIS revealed there are 3,000 soldiers of its forces currently in Iraq."
    span = align(quote, coalition)
    assert span.status == "fuzzy"
    assert FUZZY_THRESHOLD <= span.score < 100
    assert span.score >= 85
    real = "The US-led global coalition against ISIS revealed there are 3,000 members of its forces currently in Iraq."
    found = coalition.text[span.start : span.end]
    assert found.strip() == found
    assert "3,000 members of its forces" in found
    assert real.startswith(found) or found.startswith(real[:40])
    original = _original(coalition)[span.source_start : span.source_end]
    assert original == found


@pytest.mark.parametrize(
    "quote",
    [
        "The quarterly earnings of the bakery chain exceeded analyst expectations by a wide margin.",
        "Volcanic eruption forces evacuation of coastal villages in Iceland",
    ],
)
def test_not_found(coalition: Article, quote: str) -> None:
    span = align(quote, coalition)
    assert span == Span("not_found", 0.0)
    assert (span.start, span.end, span.source_start, span.source_end) == (None, None, None, None)
    assert span.to_json() == {"status": "not_found", "score": 0.0, "start": None, "end": None}


@pytest.mark.parametrize("quote", ["", "   ", "\n\t"])
def test_empty_quote(coalition: Article, quote: str) -> None:
    span = align(quote, coalition)
    assert span.status == "not_found"
    assert span.start is None and span.source_start is None


def test_deterministic(coalition: Article) -> None:
    quote = "the coalition carried out over 37000 sorties in Iraq"
    assert align(quote, coalition) == align(quote, coalition)


def test_a_fuzzy_match_is_snapped_to_whole_words() -> None:
    text = "Headline\n\nThe ministry said the army deployed 300 soldiers to the northern border on Friday."
    (article,) = split_page(text, stem="w", source="w.txt")
    span = align("ployed 300 soldierz to the northern bord", article)
    assert span.status == "fuzzy"
    assert article.text[span.start : span.end] == "deployed 300 soldiers to the northern border"


def test_anchor_traces_a_rewritten_quote_to_the_sentence_holding_its_names() -> None:
    text = "Talks ended.\n\nThe cabinet appointed Jon Oto as acting minister on Monday. Oto spoke."
    (article,) = split_page(text, stem="a", source="a.txt")
    quote = "Jon Oto was appointed as acting minister"
    assert align(quote, article).status == "not_found"
    span = anchor(quote, article, names=["Jon Oto"])
    assert span.status == "fuzzy" and span.score >= ANCHOR_THRESHOLD
    assert article.text[span.start : span.end] == "The cabinet appointed Jon Oto as acting minister on Monday."
    assert anchor(quote, article, names=["Max Ode"]).status == "not_found"  # no sentence names him
    assert anchor(quote, article, names=["Ot"]).status == "not_found"  # a name is a whole word, not a part of "Oto"
    assert anchor(quote, article, names=[]).status == "not_found"  # nothing to trace by
    assert anchor("Oto was fired from the cabinet on Monday", article, names=["Oto"]).status == "not_found"  # words disagree


def test_anchor_compares_words_without_their_punctuation() -> None:
    """A sentence's last word keeps its period in the text ("minister."); it is still the quote's word."""
    text = "Talks ended.\n\nThe vote came after the dismissal of Max Ode and the appointment of Jonathan Otoniel as acting minister."
    (article,) = split_page(text, stem="a", source="a.txt")
    span = anchor("Jonathan Otoniel was appointed acting minister", article, names=["Jonathan Otoniel"])
    assert span.status == "fuzzy" and article.text[span.start : span.end].endswith("acting minister.")
