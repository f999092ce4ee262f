"""Event schema v1 of the military task: a discriminated union of nine event types.

Key fields (strict matching needs them right) and actor fields (canonicalized with the alias
table) are class variables: the JSON Schema the model sees is the fields alone.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from extract.schema import Event, IsoDate

SCHEMA_VERSION = "1"

Qualifier = Literal["exact", "about", "at_least", "more_than", "at_most", "fewer_than"]
Status = Literal["announced", "planned", "underway", "completed"]


class _MilitaryEvent(Event):
    """Every type of this task names its actors in these fields (gold/GUIDELINES.md, section 7)."""

    actor_fields: ClassVar[frozenset[str]] = frozenset(
        {"force", "from_party", "to_party", "attacker", "actor", "parties", "reported_by"}
    )


class TroopLevel(_MilitaryEvent):
    """How many troops a force has somewhere."""

    key_fields: ClassVar[tuple[str, ...]] = ("force", "location.country", "count")

    type: Literal["troop_level"]
    force: str
    count: int
    qualifier: Qualifier = "exact"


class ForceChange(_MilitaryEvent):
    """Troops deployed, withdrawn, reduced, rotated or repositioned."""

    key_fields: ClassVar[tuple[str, ...]] = ("kind", "force", "status")

    type: Literal["force_change"]
    kind: Literal["deploy", "withdraw", "reduce", "rotate", "reposition"]
    force: str
    units: str | None = None
    count: int | None = None
    qualifier: Qualifier | None = None
    resulting_level: int | None = None
    status: Status


class BaseTransfer(_MilitaryEvent):
    """A military facility handed over, closed or opened."""

    key_fields: ClassVar[tuple[str, ...]] = ("kind", "to_party")
    fact_fields: ClassVar[tuple[str, ...]] = ("facility",)

    type: Literal["base_transfer"]
    kind: Literal["handover", "closure", "opening"]
    facility: str | None = None
    from_party: str | None = None
    to_party: str | None = None


class MissionChange(_MilitaryEvent):
    """A force changes its role (e.g. combat to advise-and-assist)."""

    key_fields: ClassVar[tuple[str, ...]] = ("force", "status")

    type: Literal["mission_change"]
    force: str
    new_role: str
    previous_role: str | None = None
    status: Status


class Attack(_MilitaryEvent):
    """One attack, with its means and its human cost when given."""

    key_fields: ClassVar[tuple[str, ...]] = ("target", "means")

    type: Literal["attack"]
    attacker: str | None = None
    target: str
    means: Literal[
        "airstrike", "rocket", "missile", "drone", "gunfire", "ground_assault", "bombing", "other"
    ]
    killed: int | None = None
    injured: int | None = None


class CasualtyToll(_MilitaryEvent):
    """Aggregate casualty figures over a period; ``qualifier`` hedges ``killed``."""

    key_fields: ClassVar[tuple[str, ...]] = ("population", "killed")

    type: Literal["casualty_toll"]
    population: str
    killed: int | None = None
    injured: int | None = None
    displaced: int | None = None
    qualifier: Qualifier | None = None
    period_start: IsoDate | None = None
    period_end: IsoDate | None = None
    reported_by: str | None = None


class OperationsTally(_MilitaryEvent):
    """A count of sorties, strikes, operations or raids over a period."""

    key_fields: ClassVar[tuple[str, ...]] = ("actor", "kind", "count")

    type: Literal["operations_tally"]
    actor: str
    kind: Literal["sorties", "strikes", "operations", "raids"]
    count: int
    qualifier: Qualifier = "exact"
    period_start: IsoDate | None = None
    period_end: IsoDate | None = None


class PoliticalDecision(_MilitaryEvent):
    """An agreement, law, declaration, demand or order by a political actor."""

    key_fields: ClassVar[tuple[str, ...]] = ("actor", "kind")

    type: Literal["political_decision"]
    actor: str
    kind: Literal["agreement", "legislation", "declaration", "demand", "order"]
    summary: str
    parties: list[str] | None = None


class PersonnelChange(_MilitaryEvent):
    """Someone appointed to, dismissed from or resigning a role."""

    key_fields: ClassVar[tuple[str, ...]] = ("person", "kind")

    type: Literal["personnel_change"]
    person: str
    role: str
    kind: Literal["appointed", "dismissed", "resigned"]
    by: str | None = None


EVENT_CLASSES: tuple[type[Event], ...] = (
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
