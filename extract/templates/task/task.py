"""A task for `extract run --task THIS_FOLDER`: its event types, key fields and cue words.

Written by `extract init`. Edit the models below, one class per event type, then the prompt
templates in prompts/ (one definition per type in prompts/types/), the few-shot examples in
prompts/examples.yaml, the alias table and GUIDELINES.md. Check the examples with
`extract gold check --task THIS_FOLDER ...` on a gold file of your own.
"""

from pathlib import Path
from typing import ClassVar, Literal

from extract import Event, Task


class Protest(Event):
    """A protest, march or strike by a group, with its size when the text gives it."""

    #: Fields that identify the event: strict scoring needs all of them right.
    key_fields: ClassVar[tuple[str, ...]] = ("organizer", "cause")
    #: Fields naming actors: canonicalized with aliases.yaml.
    actor_fields: ClassVar[frozenset[str]] = frozenset({"organizer"})

    type: Literal["protest"]
    organizer: str
    cause: str
    crowd: int | None = None


TASK = Task(
    name="protests",
    event_classes=(Protest,),
    directory=Path(__file__).parent,
    schema_version="1",
    # Word stems the evidence of a type must contain (an event without one is rejected).
    type_cues={"protest": ("protest", "march", "rall", "strike", "demonstrat", "sit-in")},
)
