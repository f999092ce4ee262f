"""A task: the domain an extraction works in, as data the core reads and never names.

A task holds its event models (pydantic, subclasses of ``schema.Event`` with their key and actor
fields), the cue words and value rules its normalizer applies, and a folder with its prompt
templates, few-shot examples, alias table and annotation guidelines. The built-in task is
``extract.tasks.military``; ``load_task`` also takes a folder holding a ``task.py`` or the dotted
name of a module, either defining ``TASK``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from extract.errors import ConfigError
from extract.schema import Closed, Event, detection_model, event_union, extraction_model, fill_model, type_name

#: The built-in task, used when none is named.
DEFAULT_TASK = "extract.tasks.military"
#: The file a task folder defines its ``TASK`` in.
TASK_FILE = "task.py"
#: The skeleton ``init_task`` copies: a working one-type task to edit.
SKELETON = Path(__file__).parent / "templates" / "task"

#: For a categorical field, its values in order of precedence with a regular expression that cues each.
ValueCues = tuple[tuple[str, str], ...]


def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """Regular expressions as one case-insensitive alternation."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _per_type(patterns: Mapping[str, tuple[str, ...]]) -> dict[str, re.Pattern[str]]:
    """type -> its patterns as one case-insensitive pattern (types without any are left out)."""
    return {t: _any_of(ps) for t, ps in patterns.items() if ps}


@dataclass(frozen=True, eq=False)
class Task:
    """One extraction domain: its event types and rules, and the folder of its text resources."""

    name: str
    event_classes: tuple[type[Event], ...]
    #: Holds ``prompts/``, ``aliases.yaml`` and ``GUIDELINES.md``.
    directory: Path
    schema_version: str = "1"
    #: Word stems the evidence of each type must contain (an event without one is rejected);
    #: a type not listed is not checked.
    type_cues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: ``(type, field)`` -> the values of a categorical field and their cues: a value the evidence
    #: gives no cue for is replaced by the first value whose cue it holds.
    value_cues: Mapping[tuple[str, str], ValueCues] = field(default_factory=dict)
    #: A last domain rule applied to every normalized event (e.g. a closed base goes to no one).
    repair: Callable[[Event], Event] | None = None
    #: The events a kept event implies by the guidelines (for the built-in task, a reduction done
    #: "to 2,500" is also a troop level of 2,500); they are grounded like the model's.
    implied: Callable[[Event], list[Event]] | None = None
    #: The other events a quote states beside the model's one, by the task's own rules (for the
    #: built-in task, "72 people have been killed, including 30 soldiers" is also a toll of 30
    #: soldiers); they are grounded like the model's.
    beside: Callable[[Event], list[Event]] | None = None
    #: What an event is when its quote does not write the number its type requires (for the
    #: built-in task, a troop level whose quote counts nothing but names a move is that move);
    #: None, or no rule: it is rejected.
    uncounted: Callable[[Event], Event | None] | None = None
    #: type -> the types that hold its facts when both quote one passage: an event of the first
    #: whose numbers are all the other's is part of it (an attack's dead are no separate toll).
    part_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: The types the hybrid strategy takes from detect-then-fill; the others come from its windows
    #: calls (chosen per type on a development set). Empty: the task has no hybrid strategy.
    detect_types: tuple[str, ...] = ()
    #: type -> patterns of words that report it (for the built-in task, the cue words of its kinds,
    #: or for tallies a count of actions): the hybrid strategy also fills the type in every detect
    #: window one of them matches, with no detect call, and keeps those events beside its windows
    #: calls' own.
    fill_cues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Words that name a kind of unit, not who it belongs to ("brigade", "battlegroup"): a
    #: ``not_the_place`` field that holds only one of them is the actor named beside it.
    unit_words: tuple[str, ...] = ()
    #: Words that end the name of a formation ("the 2nd Cavalry Regiment"): a ``not_the_place``
    #: field that holds such a name, unknown to the alias table, is the actor named beside it too.
    formation_words: tuple[str, ...] = ()
    #: Patterns of quotes that report no event whatever the model made of them (for the built-in
    #: task, the guidelines' "do not label": "no longer capable of ...", "threatened to ... if ...").
    no_event: tuple[str, ...] = ()
    #: type -> patterns of quotes that never report one event of the type, whatever the model
    #: made of them (for the built-in task, a count of strikes is a tally, not one attack).
    not_of_type: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: type -> patterns one of which every quote of the type holds, whatever the model made of it
    #: (for the built-in task, a tally counts actions: "196 operations", not "10,500 civilians").
    only_of_type: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Types that are a figure (for the built-in task, a casualty toll): an event of one whose
    #: number fields are all empty, or all unstated in its quote, is rejected.
    figures: tuple[str, ...] = ()
    #: Actor fields whose state is never the event's place (a force is counted where it serves,
    #: not at home): a location that names it is replaced from the evidence or the text before.
    not_the_place: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, types in (("detect_types", self.detect_types), ("fill_cues", tuple(self.fill_cues))):
            unknown = sorted(set(types) - set(self.event_types))
            if unknown:
                raise ConfigError(f"the task {self.name}: {name} names no type of it: {', '.join(unknown)}")

    @functools.cached_property
    def no_event_pattern(self) -> re.Pattern[str] | None:
        """``no_event`` as one pattern (case-insensitive), compiled once; None when there is none."""
        return _any_of(self.no_event) if self.no_event else None

    @functools.cached_property
    def fill_cue_patterns(self) -> dict[str, re.Pattern[str]]:
        """``fill_cues`` as one pattern per type (case-insensitive), compiled once."""
        return _per_type(self.fill_cues)

    @functools.cached_property
    def not_of_type_patterns(self) -> dict[str, re.Pattern[str]]:
        """``not_of_type`` as one pattern per type (case-insensitive), compiled once."""
        return _per_type(self.not_of_type)

    @functools.cached_property
    def only_of_type_patterns(self) -> dict[str, re.Pattern[str]]:
        """``only_of_type`` as one pattern per type (case-insensitive), compiled once."""
        return _per_type(self.only_of_type)

    @functools.cached_property
    def unit_pattern(self) -> re.Pattern[str] | None:
        """A name that is one of ``unit_words`` alone ("the brigade"), or that ends in one of
        ``formation_words`` ("a Stryker squadron"), compiled once; None when there is neither."""
        if not self.unit_words and not self.formation_words:
            return None
        alone = r"(?:the\s+)?(?:" + "|".join(map(re.escape, self.unit_words)) + ")" if self.unit_words else None
        named = r"(?:[\w.'-]+\s+){0,4}(?:" + "|".join(map(re.escape, self.formation_words)) + ")" if self.formation_words else None
        return re.compile("|".join(p for p in (alone, named) if p), re.IGNORECASE)

    @functools.cached_property
    def event_types(self) -> tuple[str, ...]:
        """The type names, in the order the classes are given (prompts and reports list them so)."""
        return tuple(type_name(cls) for cls in self.event_classes)

    @functools.cached_property
    def by_type(self) -> dict[str, type[Event]]:
        return dict(zip(self.event_types, self.event_classes))

    @functools.cached_property
    def key_fields(self) -> dict[str, tuple[str, ...]]:
        """Each type's key fields (strict matching needs all of them right)."""
        return {t: cls.key_fields for t, cls in self.by_type.items()}

    @functools.cached_property
    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(event_union(self.event_classes))

    @functools.cached_property
    def extraction_model(self) -> type[Closed]:
        """The response model of a call: ``{"events": [...]}`` over the task's union (built once)."""
        return extraction_model(self.event_classes)

    @functools.cached_property
    def detection_model(self) -> type[Closed]:
        """The answer of a detect call: which of the task's types each sentence reports."""
        return detection_model(self.event_types)

    @functools.cached_property
    def fill_models(self) -> dict[str, type[Closed]]:
        """The answer of a fill call, per type: that type's events only."""
        return {name: fill_model(cls) for name, cls in self.by_type.items()}

    def response_model(self, name: str) -> type[Closed]:
        """A response model of the task's calls by its name (as a pending batch request records it)."""
        models = [self.extraction_model, self.detection_model, *self.fill_models.values()]
        found = next((m for m in models if m.__name__ == name), None)
        if found is None:
            raise ConfigError(f"the task {self.name} has no response model {name!r}")
        return found

    @property
    def prompts_dir(self) -> Path:
        return self.directory / "prompts"

    @property
    def aliases_path(self) -> Path:
        return self.directory / "aliases.yaml"

    @property
    def guidelines_path(self) -> Path:
        return self.directory / "GUIDELINES.md"

    def parse_event(self, data: object) -> Event:
        """Validate one event dict against the task's union (raises pydantic.ValidationError)."""
        return self.adapter.validate_python(data)


def _from_file(path: Path) -> Any:
    """Import a task folder's ``task.py`` as a module of its own (not on sys.path)."""
    name = f"extract_task_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot be imported as a task")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (ImportError, SyntaxError, NameError, AttributeError, TypeError, ValueError) as e:
        del sys.modules[name]
        raise ConfigError(f"{path}: the task does not load: {type(e).__name__}: {e}") from e
    return module


@functools.cache
def load_task(spec: str | Path | None = None) -> Task:
    """The task a spec names: None for the built-in one, a folder with ``task.py``, or a module name."""
    spec = DEFAULT_TASK if spec is None else spec
    path = Path(spec)
    if isinstance(spec, Path) or path.exists() or "/" in str(spec):
        if not (path / TASK_FILE).is_file():
            raise ConfigError(f"{path}: not a task folder (no {TASK_FILE}); `extract init {path}` writes one")
        module = _from_file(path / TASK_FILE)
    else:
        try:
            module = importlib.import_module(str(spec))
        except ModuleNotFoundError as e:
            raise ConfigError(f"no task {spec!r}: give a task folder or an importable module ({e})") from e
    task = getattr(module, "TASK", None)
    if not isinstance(task, Task):
        raise ConfigError(f"task {spec}: defines no TASK = extract.Task(...)")
    return task


def init_task(directory: Path) -> list[Path]:
    """Write a working skeleton task (one event type, its prompts, examples, aliases and guidelines)
    into ``directory``, which must not exist or be empty; return the files written."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(f"{directory} exists and is not an empty folder; choose a new one")
    shutil.copytree(SKELETON, directory, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return sorted(p for p in directory.rglob("*") if p.is_file())
