"""A second task, in another domain, for the tests: company acquisitions, layoffs and executive changes.

It lives outside the package and runs through the same run -> score -> report -> compare loop
(`extract run --task tests/tasks/business ...`); nothing in extract/ names its types.
"""

from pathlib import Path
from typing import ClassVar, Literal

from extract import Event, Task


class _BusinessEvent(Event):
    actor_fields: ClassVar[frozenset[str]] = frozenset({"buyer", "target", "company"})


class Acquisition(_BusinessEvent):
    """One company buys another (agreed or completed)."""

    key_fields: ClassVar[tuple[str, ...]] = ("buyer", "target")

    type: Literal["acquisition"]
    buyer: str
    target: str
    price: str | None = None


class Layoff(_BusinessEvent):
    """A company cuts jobs."""

    key_fields: ClassVar[tuple[str, ...]] = ("company", "count")

    type: Literal["layoff"]
    company: str
    count: int | None = None
    qualifier: Literal["exact", "about", "at_least", "more_than", "up_to"] | None = None


class ExecutiveChange(_BusinessEvent):
    """Someone appointed to, or leaving, a senior role."""

    key_fields: ClassVar[tuple[str, ...]] = ("person", "kind")

    type: Literal["executive_change"]
    person: str
    company: str | None = None
    role: str | None = None
    kind: Literal["appointed", "departed"]


TASK = Task(
    name="business",
    event_classes=(Acquisition, Layoff, ExecutiveChange),
    directory=Path(__file__).parent,
    schema_version="1",
    type_cues={
        "acquisition": ("acqui", "buy", "bought", "purchas", "merg", "takeover", "deal"),
        "layoff": ("layoff", "lay off", "laid off", "job", "cut", "eliminat", "staff", "workers", "employees"),
        "executive_change": ("appoint", "named", "chief", "resign", "step", "depart", "hire", "replac", "succeed",
                             "retir", "president", "director", "board"),
    },  # fmt: skip
    value_cues={
        ("executive_change", "kind"): (
            ("departed", r"resign|step(?:s|ped)? down|depart|\bleav|retir|\bousted|\bfired"),
            ("appointed", r"appoint|\bnamed\b|\bhire|promot|succeed"),
        ),
    },
)
