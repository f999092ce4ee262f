"""The built-in task: troop levels, deployments and withdrawals, base handovers, mission changes,
attacks, casualty tolls, operations tallies, political decisions and appointments (schema v1).

Its prompts, few-shot examples, alias table and annotation guidelines lie beside this file.
"""

from __future__ import annotations

from pathlib import Path

from extract.task import Task
from extract.tasks.military.rules import (
    FILL_CUES,
    FORMATION_WORDS,
    NO_EVENT,
    NOT_OF_TYPE,
    ONLY_OF_TYPE,
    TYPE_CUES,
    UNIT_WORDS,
    VALUE_CUES,
    a_level_that_counts_nothing_is_a_move,
    level_reached,
    part_of_a_toll,
    repair,
)
from extract.tasks.military.schema import EVENT_CLASSES, SCHEMA_VERSION

TASK = Task(
    name="military",
    event_classes=EVENT_CLASSES,
    directory=Path(__file__).parent,
    schema_version=SCHEMA_VERSION,
    type_cues=TYPE_CUES,
    value_cues=VALUE_CUES,
    repair=repair,
    implied=level_reached,
    beside=part_of_a_toll,
    uncounted=a_level_that_counts_nothing_is_a_move,
    part_of={"casualty_toll": ("attack",)},
    # The type where detect-then-fill leads windows by 0.08 F1 or more on the development set (README).
    detect_types=("operations_tally",),
    fill_cues=FILL_CUES,
    not_the_place=("force",),
    figures=("casualty_toll",),
    no_event=NO_EVENT,
    not_of_type=NOT_OF_TYPE,
    only_of_type=ONLY_OF_TYPE,
    unit_words=UNIT_WORDS,
    formation_words=FORMATION_WORDS,
)
