"""The core of every task's schema: the fields all events carry, and how a task's types are joined.

A task subclasses ``Event`` once per event type, redeclaring ``type`` as a literal and naming
its key and actor fields as class variables (which the JSON Schema does not show). Every model
is closed (``extra="forbid"``) and every discriminator is required, so the JSON Schema works
with grammar-constrained decoding (llama.cpp turns it into a grammar). Pure pydantic, no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model

#: Format of one line of a run's events.jsonl (written by the pipeline, read by the scorer).
EVENTS_FORMAT = "extract.events/1"

#: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; never invented, so always nullable.
IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$")]


class Closed(BaseModel):
    """A model that refuses fields it does not declare."""

    model_config = ConfigDict(extra="forbid")


class Location(Closed):
    """Where an event happened: a country, and a finer place when the text gives one."""

    country: str
    place: str | None = None


class Event(Closed):
    """Fields every event carries; ``type`` is redeclared as a literal by each subclass."""

    #: Fields that identify an event of the type: strict matching needs all of them right.
    #: Dotted paths reach into nested models.
    key_fields: ClassVar[tuple[str, ...]] = ()
    #: Fields that hold actor names, canonicalized with the alias table before comparison.
    actor_fields: ClassVar[frozenset[str]] = frozenset()
    #: Free-text fields besides the key ones that tell two facts apart when two events fill them
    #: with different words (two bases handed to one army are two handovers).
    fact_fields: ClassVar[tuple[str, ...]] = ()

    type: str
    evidence: str = Field(description="Verbatim quote from the article that supports the event.")
    date: IsoDate | None = None
    location: Location | None = None


def type_name(cls: type[Event]) -> str:
    """The literal ``type`` an event class declares."""
    return cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]


@functools.cache
def choice_fields(cls: type[Event]) -> frozenset[str]:
    """The fields of an event type that hold one of fixed values (a kind, a status; a ``Literal``,
    optional or not), not words of the text."""
    return frozenset(
        name
        for name, info in cls.model_fields.items()
        if any(get_origin(a) is Literal for a in (info.annotation, *get_args(info.annotation)))
    )


def event_union(classes: Sequence[type[Event]]) -> Any:
    """The discriminated union of a task's event classes (on ``type``)."""
    return Annotated[Union[tuple(classes)], Field(discriminator="type")]


def extraction_model(classes: Sequence[type[Event]]) -> type[Closed]:
    """What the model returns for one window or article of a task: ``{"events": [...]}``."""
    return create_model(
        "Extraction",
        __base__=Closed,
        __doc__="What the model returns for one article: all the events it found.",
        events=(list[event_union(classes)], ...),
    )


def detection_model(event_types: Sequence[str]) -> type[Closed]:
    """What the model returns when it names the types of event a passage reports:
    ``{"types": ["attack", "casualty_toll"]}``, held to the task's type names (none is ``[]``)."""
    return create_model(
        "Detection",
        __base__=Closed,
        __doc__="The types of event the passage reports.",
        types=(list[Literal[tuple(event_types)]], ...),  # type: ignore[valid-type]
    )


def fill_model(cls: type[Event]) -> type[Closed]:
    """What the model returns when it fills the events of one type: ``{"events": [...]}``."""
    return create_model(
        f"{cls.__name__}Events",
        __base__=Closed,
        __doc__=f"All the {type_name(cls)} events the sentences report.",
        events=(list[cls], ...),  # type: ignore[valid-type]
    )


def slot_value(event: Event, path: str) -> Any:
    """The value at a dotted field path; None when absent (an empty list counts as absent)."""
    value: Any = event
    for part in path.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return None if isinstance(value, list) and not value else value


class AnyEvents(Closed):
    """The smallest stable schema to show in a prompt: a list of event objects."""

    events: list[dict[str, object]]
