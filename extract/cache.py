"""Response cache: a diskcache store, layered over read-only JSONL snapshots (recordings).

A record is plain JSON: the request's identifying parts, the raw response, its usage and
whether it validated. Snapshots are sorted by key so exporting twice gives identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import diskcache

from extract.errors import InputError
from extract.files import read_jsonl

RECORD_FORMAT = "extract.response/1"
#: How the diskcache store is opened. diskcache's defaults silently evict the oldest entries past
#: 1 GiB, but the store is the recording of paid responses: it never evicts (no eviction policy,
#: no culling, so ``size_limit`` is never consulted) and only ``extract cache clear`` empties it.
#: Settings persist in the store, so a store created with the defaults is switched on opening.
STORE_SETTINGS: dict[str, Any] = {"eviction_policy": "none", "cull_limit": 0}
#: The store's subfolder of request templates (``ResponseCache.put_template``): not responses, never exported.
TEMPLATES = "templates"


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace variance, unicode kept."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def cache_key(parts: Mapping[str, Any]) -> str:
    """sha256 of everything that changes the output; callers must never pass a secret."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def canonical_object(encoded: Mapping[str, str]) -> str:
    """``canonical_json`` of an object whose values are given already encoded (canonical JSON each):
    the same text, without encoding a big shared value (a schema, the messages) more than once."""
    return "{" + ",".join(f"{canonical_json(k)}:{v}" for k, v in sorted(encoded.items())) + "}"


def encoded_key(encoded: Mapping[str, str]) -> str:
    """``cache_key`` of an object whose values are given already encoded: the same key."""
    return hashlib.sha256(canonical_object(encoded).encode()).hexdigest()


def read_snapshot(path: Path) -> dict[str, dict[str, Any]]:
    """Load a JSONL snapshot; a truncated or corrupt line is an error naming that line."""
    records: dict[str, dict[str, Any]] = {}
    for n, record in read_jsonl(path):
        if record.get("format") != RECORD_FORMAT or "key" not in record:
            raise InputError(f"not a {RECORD_FORMAT} record", path=str(path), line=n)
        records[record["key"]] = record
    return records


class ResponseCache:
    """A writable diskcache directory over any number of read-only snapshot layers."""

    def __init__(self, directory: Path, *, snapshots: Sequence[Path] = ()) -> None:
        self.directory = directory
        self.snapshots = tuple(snapshots)
        self._layers = [read_snapshot(p) for p in self.snapshots]
        self._store: diskcache.Cache | None = None

    @property
    def store(self) -> diskcache.Cache:
        if self._store is None:  # opened lazily so read-only commands never create the folder
            self._store = diskcache.Cache(str(self.directory), **STORE_SETTINGS)
        return self._store

    def get(self, key: str) -> dict[str, Any] | None:
        """The writable store first (so a --refresh wins), then the snapshots in order."""
        record = self.store.get(key)
        if record is not None:
            return json.loads(record)
        for layer in self._layers:
            if key in layer:
                return layer[key]
        return None

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        self.store.set(key, canonical_json({**record, "format": RECORD_FORMAT, "key": key}))

    def template(self, key: str) -> dict[str, Any] | None:
        """A request template stored by ``put_template`` (None: not stored, or unreadable)."""
        try:
            return json.loads((self.directory / TEMPLATES / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put_template(self, key: str, template: Mapping[str, Any]) -> None:
        """Keep a request template beside the responses (``templates/KEY.json``, written whole or
        not at all), so a later run the cache answers needs not rebuild it. A read-only folder keeps none."""
        folder = self.directory / TEMPLATES
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
            # In its own key order, never sorted: a schema's property order is the grammar's order.
            partial.write_text(json.dumps(template, ensure_ascii=False), encoding="utf-8")
            partial.replace(folder / f"{key}.json")
        except OSError:
            pass

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of the writable store and the snapshots, each key once, sorted by key."""
        merged: dict[str, dict[str, Any]] = {}
        for layer in reversed(self._layers):
            merged.update(layer)
        for key in self.store.iterkeys():
            merged[key] = json.loads(self.store[key])
        for key in sorted(merged):
            yield merged[key]

    def export(self, path: Path, *, keys: set[str] | None = None) -> int:
        """Write records (optionally only ``keys``) to a sorted JSONL snapshot; returns the count."""
        lines = [canonical_json(r) for r in self.records() if keys is None or r["key"] in keys]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return len(lines)

    def import_(self, path: Path) -> int:
        """Copy a snapshot's records into the writable store; returns the count."""
        records = read_snapshot(path)
        for key, record in records.items():
            self.put(key, record)
        return len(records)

    def stats(self) -> dict[str, Any]:
        """Entries and size on disk (bytes of every file of the store, its database's WAL included)."""
        return {
            "directory": str(self.directory),
            "entries": len(self.store),
            "templates": len(list((self.directory / TEMPLATES).glob("*.json"))),
            "bytes": sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file()),
            "eviction_policy": self.store.eviction_policy,
            "snapshots": {str(p): len(layer) for p, layer in zip(self.snapshots, self._layers)},
        }

    def clear(self) -> int:
        return int(self.store.clear())

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
