from __future__ import annotations

from pathlib import Path

import pytest

from extract.gold import Aliases
from extract.normalize import infer_country, normalize, numbers_in, verify_numbers
from extract.schema import parse_event

ALIASES = Aliases.load(Path(__file__).resolve().parent.parent / "gold" / "aliases.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("reduced to 2,500", {2500}),
        ("close to 3000 soldiers", {3000}),
        ("nearly 1.2 million people", {1200000}),
        ("three American combat units", {3}),
        ("At least 13,492 have been injured", {13492}),
        ("60 percent", {60}),
        ("no figures here", set()),
    ],
)
def test_numbers_in(text: str, expected: set[int]) -> None:
    assert numbers_in(text) == expected


def test_unsupported_optional_number_is_dropped_and_required_one_rejects() -> None:
    attack = parse_event({"type": "attack", "evidence": "Rockets hit the base.", "target": "base", "means": "rocket", "killed": 5})
    assert verify_numbers(attack).killed is None
    troops = parse_event({"type": "troop_level", "evidence": "Troops remain in Iraq.", "force": "US", "count": 900})
    assert verify_numbers(troops) is None
    fine = parse_event({"type": "troop_level", "evidence": "about 900 troops remain", "force": "US", "count": 900})
    assert verify_numbers(fine) is fine


@pytest.mark.parametrize(
    ("evidence", "country"),
    [
        ("The US has about 2,500 troops stationed in Iraq.", "Iraq"),
        ("Israel began a ground invasion of south Lebanon on Oct. 1", "Lebanon"),
        ("Iraqi forces were ready", "Iraq"),
        ("talks between France and Germany", None),
        ("no country at all", None),
    ],
)
def test_infer_country(evidence: str, country: str | None) -> None:
    assert infer_country(evidence) == country


def test_normalize_fills_location_and_canonical_names() -> None:
    event = parse_event({"type": "troop_level", "evidence": "2,500 US troops in Iraq", "force": "US troops", "count": 2500})
    normalized = normalize(event, ALIASES)
    assert normalized.force == "United States" and normalized.location.country == "Iraq"
    given = parse_event(
        {"type": "troop_level", "evidence": "2,500 US troops in Iraq", "force": "US", "count": 2500, "location": {"country": "Syria"}}
    )
    assert normalize(given, ALIASES).location.country == "Syria"  # never overrides the model's answer
