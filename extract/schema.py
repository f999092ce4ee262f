"""Event schema v1: a discriminated union of nine event types (pure pydantic, no I/O).

Every model is closed (``extra="forbid"``) and every discriminator is required, so the
JSON Schema works with grammar-constrained decoding (llama.cpp turns it into a grammar).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = "1"
#: Format of one line of a run's events.jsonl (written by the pipeline, read by the scorer).
EVENTS_FORMAT = "extract.events/1"

#: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; never invented, so always nullable.
IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$")]

Qualifier = Literal["exact", "about", "at_least", "more_than", "at_most", "fewer_than"]
Status = Literal["announced", "planned", "underway", "completed"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(_Closed):
    """Where an event happened: a country, and a finer place when the text gives one."""

    country: str
    place: str | None = None


class _EventBase(_Closed):
    """Fields every event carries; ``type`` is redeclared as a literal by each subclass."""

    type: str
    evidence: str = Field(description="Verbatim quote from the article that supports the event.")
    date: IsoDate | None = None
    location: Location | None = None


class TroopLevel(_EventBase):
    """How many troops a force has somewhere."""

    type: Literal["troop_level"]
    force: str
    count: int
    qualifier: Qualifier = "exact"


class ForceChange(_EventBase):
    """Troops deployed, withdrawn, reduced, rotated or repositioned."""

    type: Literal["force_change"]
    kind: Literal["deploy", "withdraw", "reduce", "rotate", "reposition"]
    force: str
    units: str | None = None
    count: int | None = None
    qualifier: Qualifier | None = None
    resulting_level: int | None = None
    status: Status


class BaseTransfer(_EventBase):
    """A military facility handed over, closed or opened."""

    type: Literal["base_transfer"]
    kind: Literal["handover", "closure", "opening"]
    facility: str | None = None
    from_party: str | None = None
    to_party: str | None = None


class MissionChange(_EventBase):
    """A force changes its role (e.g. combat to advise-and-assist)."""

    type: Literal["mission_change"]
    force: str
    new_role: str
    previous_role: str | None = None
    status: Status


class Attack(_EventBase):
    """One attack, with its means and its human cost when given."""

    type: Literal["attack"]
    attacker: str | None = None
    target: str
    means: Literal[
        "airstrike", "rocket", "missile", "drone", "gunfire", "ground_assault", "bombing", "other"
    ]
    killed: int | None = None
    injured: int | None = None


class CasualtyToll(_EventBase):
    """Aggregate casualty figures over a period; ``qualifier`` hedges ``killed``."""

    type: Literal["casualty_toll"]
    population: str
    killed: int | None = None
    injured: int | None = None
    displaced: int | None = None
    qualifier: Qualifier | None = None
    period_start: IsoDate | None = None
    period_end: IsoDate | None = None
    reported_by: str | None = None


class OperationsTally(_EventBase):
    """A count of sorties, strikes, operations or raids over a period."""

    type: Literal["operations_tally"]
    actor: str
    kind: Literal["sorties", "strikes", "operations", "raids"]
    count: int
    qualifier: Qualifier = "exact"
    period_start: IsoDate | None = None
    period_end: IsoDate | None = None


class PoliticalDecision(_EventBase):
    """An agreement, law, declaration, demand or order by a political actor."""

    type: Literal["political_decision"]
    actor: str
    kind: Literal["agreement", "legislation", "declaration", "demand", "order"]
    summary: str
    parties: list[str] | None = None


class PersonnelChange(_EventBase):
    """Someone appointed to, dismissed from or resigning a role."""

    type: Literal["personnel_change"]
    person: str
    role: str
    kind: Literal["appointed", "dismissed", "resigned"]
    by: str | None = None


EVENT_CLASSES: tuple[type[_EventBase], ...] = (
    TroopLevel,
    ForceChange,
    BaseTransfer,
    MissionChange,
    Attack,
    CasualtyToll,
    OperationsTally,
    PoliticalDecision,
    PersonnelChange,
)

Event = Annotated[
    Union[
        TroopLevel,
        ForceChange,
        BaseTransfer,
        MissionChange,
        Attack,
        CasualtyToll,
        OperationsTally,
        PoliticalDecision,
        PersonnelChange,
    ],
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for cls in EVENT_CLASSES
)
EVENT_CLASS_BY_TYPE: dict[str, type[_EventBase]] = dict(zip(EVENT_TYPES, EVENT_CLASSES))

#: Fields that identify an event of each type: strict matching needs all of them right.
#: Dotted paths reach into nested models. Documented in gold/GUIDELINES.md.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "troop_level": ("force", "location.country", "count"),
    "force_change": ("kind", "force", "status"),
    "base_transfer": ("kind", "to_party"),
    "mission_change": ("force", "status"),
    "attack": ("target", "means"),
    "casualty_toll": ("population", "killed"),
    "operations_tally": ("actor", "kind", "count"),
    "political_decision": ("actor", "kind"),
    "personnel_change": ("person", "kind"),
}

def slot_value(event: Event, path: str) -> Any:
    """The value at a dotted field path; None when absent (an empty list counts as absent)."""
    value: Any = event
    for part in path.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return None if isinstance(value, list) and not value else value


#: Fields that hold actor names, canonicalized with the alias table before comparison.
ACTOR_FIELDS: frozenset[str] = frozenset(
    {"force", "from_party", "to_party", "attacker", "actor", "parties", "reported_by"}
)

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class Extraction(_Closed):
    """What the model returns for one article: all the events it found."""

    events: list[Event]


class AnyEvents(_Closed):
    """The smallest stable schema to show in a prompt: a list of event objects."""

    events: list[dict[str, object]]


def parse_event(data: object) -> Event:
    """Validate one event dict (raises pydantic.ValidationError)."""
    return EVENT_ADAPTER.validate_python(data)
