from __future__ import annotations

import pytest

from extract.text import fold, hedge_of


def test_fold_compares_spellings() -> None:
    assert fold("“Stay”  Here") == fold('"stay" here')


@pytest.mark.parametrize(
    ("text", "count", "qualifier"),
    [
        ("leaving about 17,600 troops in place", 17600, "about"),
        ("Roughly 900 remain", 900, "about"),
        ("to fewer than 1000 troops", 1000, "fewer_than"),
        ("reduced to 2,500", 2500, "exact"),
        ("about 9000 troops", 900, "exact"),  # another number
        ("about 2,5001 troops", 2500, "exact"),
    ],
)
def test_hedge_of(text: str, count: int, qualifier: str) -> None:
    assert hedge_of(text, count) == qualifier
