from __future__ import annotations

import pytest
from pydantic import ValidationError

from extract.schema import (
    EVENT_CLASS_BY_TYPE,
    EVENT_TYPES,
    KEY_FIELDS,
    Extraction,
    parse_event,
)


def walk(node: object):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_nine_types_with_required_discriminator_and_closed_objects() -> None:
    assert len(EVENT_TYPES) == 9
    schema = Extraction.model_json_schema()
    for name, definition in schema["$defs"].items():
        assert definition["additionalProperties"] is False, name
        if "type" in definition["properties"]:
            assert "type" in definition["required"], name
    objects = [n for n in walk(schema) if n.get("type") == "object"]
    assert all(n.get("additionalProperties") is False for n in objects)


def test_key_fields_exist_on_their_types() -> None:
    assert set(KEY_FIELDS) == set(EVENT_TYPES)
    for event_type, fields in KEY_FIELDS.items():
        for field in fields:
            assert field.split(".")[0] in EVENT_CLASS_BY_TYPE[event_type].model_fields, (event_type, field)


@pytest.mark.parametrize("date", ["2021", "2021-01", "2021-01-15", None])
def test_dates_accept_iso_precisions(date: str | None) -> None:
    event = parse_event({"type": "troop_level", "evidence": "x", "force": "US", "count": 1, "date": date})
    assert event.date == date


@pytest.mark.parametrize("date", ["15-01-2021", "January 2021", "2021/01/15", "21-01"])
def test_dates_reject_other_formats(date: str) -> None:
    with pytest.raises(ValidationError):
        parse_event({"type": "troop_level", "evidence": "x", "force": "US", "count": 1, "date": date})


def test_unknown_fields_and_types_are_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_event({"type": "troop_level", "evidence": "x", "force": "US", "count": 1, "extra": 1})
    with pytest.raises(ValidationError):
        parse_event({"type": "parade", "evidence": "x"})
    with pytest.raises(ValidationError):
        parse_event({"evidence": "x", "force": "US", "count": 1})
