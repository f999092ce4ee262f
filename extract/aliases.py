"""The alias table: canonical actor names and their aliases, read from a task's ``aliases.yaml``.

Extraction canonicalizes actor names with it, the scorer compares names through it and the gold
checker requires canonical names; it knows nothing of the gold file itself. Its officeholders
(people acting in office, by the state they act for) serve extraction and the gold checker only:
the scorer gives no credit for a person written where the guidelines want the state.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml

from extract.errors import InputError
from extract.files import read_text, yaml_line, yaml_message

ALIASES_FORMAT = "extract.aliases/1"


def _alias_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _index_aliases(table: Mapping[str, Sequence[str]]) -> tuple[dict[str, str], list[str]]:
    """Map every normalized canonical name and alias to its canonical name; list the conflicts."""
    index: dict[str, str] = {}
    conflicts: list[str] = []
    for canonical, aliases in table.items():
        for name in (canonical, *aliases):
            key = _alias_key(name)
            owner = index.setdefault(key, canonical)
            if owner != canonical:
                conflicts.append(f"{name!r} is listed under both {owner!r} and {canonical!r}")
    return index, conflicts


def _name_words(name: str) -> list[str]:
    """A person's name as folded words: no accents, case or surrounding punctuation ("Goïta," -> "goita")."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return [w for w in (w.strip(".,;:'\"()").casefold() for w in plain.replace("\u2019", "'").split()) if w]


def _surnames(words: list[str]) -> list[str]:
    """The forms a surname is written in alone: as is, and without an Arabic article ("al-Sudani", "Sudani")."""
    last = words[-1]
    bare = re.sub(r"^(?:al|el|ad|as|ash)-", "", last)
    return [last] if bare == last else [last, bare]


def _index_officeholders(table: Mapping[str, Sequence[str]]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Full names and unambiguous surnames -> the state their holder acts for; the conflicts."""
    people: dict[str, str] = {}
    by_surname: dict[str, set[str]] = {}
    conflicts: list[str] = []
    for state, names in table.items():
        for name in names:
            words = _name_words(name)
            owner = people.setdefault(" ".join(words), state)
            if owner != state:
                conflicts.append(f"{name!r} is listed under both {owner!r} and {state!r}")
            for surname in _surnames(words):
                by_surname.setdefault(surname, set()).add(state)
    surnames = {s: next(iter(states)) for s, states in by_surname.items() if len(states) == 1}
    return people, surnames, conflicts


@dataclass(frozen=True)
class Aliases:
    """The canonical actor names and their aliases (gold/aliases.yaml), matched case-insensitively."""

    table: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    #: State -> the people who acted for it in office (guidelines, section 7).
    officeholders: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    _index: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)
    _people: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)
    _surnames: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        table = MappingProxyType({k: tuple(v) for k, v in self.table.items()})
        officeholders = MappingProxyType({k: tuple(v) for k, v in self.officeholders.items()})
        index, conflicts = _index_aliases(table)
        people, surnames, more = _index_officeholders(officeholders)
        if conflicts or more:
            raise ValueError("; ".join(conflicts + more))
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "officeholders", officeholders)
        object.__setattr__(self, "_index", MappingProxyType(index))
        object.__setattr__(self, "_people", MappingProxyType(people))
        object.__setattr__(self, "_surnames", MappingProxyType(surnames))

    @classmethod
    def load(cls, path: Path) -> Aliases:
        """Read an ``extract.aliases/1`` file: ``{format, canonical: {Canonical: [alias, ...]}}``,
        and optionally ``officeholders: {State: [person, ...]}``."""
        text = read_text(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"malformed YAML: {yaml_message(e)}", path=str(path), line=yaml_line(e)) from e
        if not isinstance(data, dict) or data.get("format") != ALIASES_FORMAT:
            raise InputError(f"expected a mapping with 'format: {ALIASES_FORMAT}'", path=str(path))
        table = _name_lists(data.get("canonical"), key="canonical", what="aliases", path=path)
        officeholders = _name_lists(data.get("officeholders", {}), key="officeholders", what="names", path=path)
        _, conflicts = _index_aliases(table)
        conflicts += _index_officeholders(officeholders)[2]
        if conflicts:
            raise InputError("; ".join(conflicts), path=str(path))
        return cls(table, officeholders)

    def canonical(self, name: str) -> str:
        """The canonical form of an alias or canonical name; unknown names come back stripped."""
        return self._index.get(_alias_key(name), name.strip())

    def lookup(self, name: str) -> str | None:
        """The canonical form of a known name, None for an unknown one."""
        return self._index.get(_alias_key(name))

    def office_of(self, name: str) -> str | None:
        """The state an officeholder acts for, found by full name after any title ("President Joe
        Biden", "Gen. Abdourahamane Tiani") or by a surname only one state's officeholders share."""
        words = _name_words(name)
        for start in range(len(words)):
            if (state := self._people.get(" ".join(words[start:]))) is not None:
                return state
        return self._surnames.get(words[-1]) if words else None

    def is_canonical(self, name: str) -> bool:
        """False only for a known name written otherwise than its canonical form (alias, case, spacing)."""
        canonical = self._index.get(_alias_key(name))
        return canonical is None or canonical == name


def _name_lists(section: object, *, key: str, what: str, path: Path) -> dict[str, tuple[str, ...]]:
    """A section of the file that maps each canonical name to a list of names, checked."""
    if not isinstance(section, dict):
        raise InputError(f"{key!r} must map each canonical name to a list of {what}", path=str(path))
    lists: dict[str, tuple[str, ...]] = {}
    for name, names in section.items():
        names = [] if names is None else names
        if not isinstance(name, str) or not isinstance(names, list):
            raise InputError(f"{name!r}: expected a name and a list of {what}", path=str(path))
        if not all(isinstance(a, str) and a.strip() for a in names):
            raise InputError(f"{name!r}: every one of its {what} must be a non-empty string", path=str(path))
        lists[name] = tuple(names)
    return lists
