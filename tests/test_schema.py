from __future__ import annotations

from typing import ClassVar, Literal

import pytest
from pydantic import ValidationError

from extract.schema import Event, extraction_model, slot_value, type_name
from extract.tasks.military import TASK

EVENT_TYPES, KEY_FIELDS, EVENT_CLASS_BY_TYPE = TASK.event_types, TASK.key_fields, TASK.by_type
Extraction, parse_event = TASK.extraction_model, TASK.parse_event


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


class Sighting(Event):
    """A core test type: the core builds any task's union from its classes."""

    key_fields: ClassVar[tuple[str, ...]] = ("animal",)
    type: Literal["sighting"]
    animal: str
    count: int | None = None


def test_the_core_joins_any_event_classes_into_an_extraction_model() -> None:
    model = extraction_model([Sighting])
    answer = model.model_validate({"events": [{"type": "sighting", "evidence": "a fox", "animal": "fox"}]})
    (event,) = answer.events
    assert type(event) is Sighting and type_name(Sighting) == "sighting"
    assert slot_value(event, "animal") == "fox" and slot_value(event, "location.country") is None
    assert model.model_json_schema()["title"] == "Extraction"
    with pytest.raises(ValidationError):
        model.model_validate({"events": [{"type": "troop_level", "evidence": "x"}]})
