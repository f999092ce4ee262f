"""The alias table: canonical actor names and their aliases, read from a task's ``aliases.yaml``.

Extraction canonicalizes actor names with it, the scorer compares names through it and the gold
checker requires canonical names; it knows nothing of the gold file itself.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Aliases:
    """The canonical actor names and their aliases (gold/aliases.yaml), matched case-insensitively."""

    table: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    _index: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        table = MappingProxyType({k: tuple(v) for k, v in self.table.items()})
        index, conflicts = _index_aliases(table)
        if conflicts:
            raise ValueError("; ".join(conflicts))
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "_index", MappingProxyType(index))

    @classmethod
    def load(cls, path: Path) -> Aliases:
        """Read an ``extract.aliases/1`` file: ``{format, canonical: {Canonical: [alias, ...]}}``."""
        text = read_text(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"malformed YAML: {yaml_message(e)}", path=str(path), line=yaml_line(e)) from e
        if not isinstance(data, dict) or data.get("format") != ALIASES_FORMAT:
            raise InputError(f"expected a mapping with 'format: {ALIASES_FORMAT}'", path=str(path))
        canonical = data.get("canonical")
        if not isinstance(canonical, dict):
            raise InputError("'canonical' must map each canonical name to a list of aliases", path=str(path))
        table: dict[str, tuple[str, ...]] = {}
        for name, aliases in canonical.items():
            aliases = [] if aliases is None else aliases
            if not isinstance(name, str) or not isinstance(aliases, list):
                raise InputError(f"{name!r}: expected a name and a list of aliases", path=str(path))
            if not all(isinstance(a, str) and a.strip() for a in aliases):
                raise InputError(f"{name!r}: every alias must be a non-empty string", path=str(path))
            table[name] = tuple(aliases)
        _, conflicts = _index_aliases(table)
        if conflicts:
            raise InputError("; ".join(conflicts), path=str(path))
        return cls(table)

    def canonical(self, name: str) -> str:
        """The canonical form of an alias or canonical name; unknown names come back stripped."""
        return self._index.get(_alias_key(name), name.strip())

    def lookup(self, name: str) -> str | None:
        """The canonical form of a known name, None for an unknown one."""
        return self._index.get(_alias_key(name))

    def is_canonical(self, name: str) -> bool:
        """False only for a known name written otherwise than its canonical form (alias, case, spacing)."""
        canonical = self._index.get(_alias_key(name))
        return canonical is None or canonical == name
