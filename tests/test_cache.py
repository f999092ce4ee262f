"""Response cache: keys, the diskcache store, JSONL snapshots and several processes at once."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import diskcache
import pytest

from extract.cache import (
    RECORD_FORMAT,
    STORE_SETTINGS,
    ResponseCache,
    cache_key,
    canonical_json,
    read_snapshot,
)
from extract.errors import InputError

PARTS: dict[str, Any] = {
    "model": "qwen2.5-coder-1.5b-instruct",
    "prompt": "0123456789abcdef",
    "article": "000_a3c408a06a87a4ae#1",
    "params": {"temperature": 0.0, "seed": 1234, "max_tokens": 2048},
    "messages": [{"role": "system", "content": "Ünïcode “quotes”"}],
}


def _record(i: int) -> dict[str, Any]:
    return {"raw": f'{{"events": [{i}]}}', "usage": {"prompt_tokens": i, "completion_tokens": 2 * i}, "valid": True}


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    c = ResponseCache(tmp_path / "store")
    yield c
    c.close()


def test_cache_key_stable_and_order_independent() -> None:
    key = cache_key(PARTS)
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert cache_key(PARTS) == key
    reordered = {k: PARTS[k] for k in reversed(list(PARTS))}
    reordered["params"] = {"max_tokens": 2048, "seed": 1234, "temperature": 0.0}
    assert cache_key(reordered) == key


@pytest.mark.parametrize(
    "change",
    [
        {"model": "other-model"},
        {"prompt": "fedcba9876543210"},
        {"article": "000_a3c408a06a87a4ae#2"},
        {"params": {"temperature": 0.0, "seed": 1235, "max_tokens": 2048}},
        {"params": {"temperature": 0.1, "seed": 1234, "max_tokens": 2048}},
        {"messages": [{"role": "system", "content": "Unicode “quotes”"}]},
        {"extra": None},
    ],
)
def test_cache_key_changes_with_any_part(change: dict[str, Any]) -> None:
    assert cache_key({**PARTS, **change}) != cache_key(PARTS)


def test_canonical_json_is_compact_sorted_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_put_get_round_trip(cache: ResponseCache) -> None:
    key = cache_key(PARTS)
    assert cache.get(key) is None
    cache.put(key, _record(1))
    got = cache.get(key)
    assert got == {**_record(1), "format": RECORD_FORMAT, "key": key}


def test_put_survives_reopen(tmp_path: Path) -> None:
    first = ResponseCache(tmp_path / "store")
    first.put("k", _record(3))
    first.close()
    second = ResponseCache(tmp_path / "store")
    assert second.get("k") == {**_record(3), "format": RECORD_FORMAT, "key": "k"}
    second.close()


def test_export_sorted_and_byte_identical(cache: ResponseCache, tmp_path: Path) -> None:
    keys = [cache_key({**PARTS, "article": f"a#{i}"}) for i in range(10)]
    for i, key in enumerate(keys):
        cache.put(key, _record(i))
    first, second = tmp_path / "one" / "snap.jsonl", tmp_path / "two.jsonl"
    assert cache.export(first) == 10
    assert cache.export(second) == 10
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text(encoding="utf-8").splitlines()
    exported_keys = [json.loads(line)["key"] for line in lines]
    assert exported_keys == sorted(keys)
    assert all(json.loads(line)["format"] == RECORD_FORMAT for line in lines)
    subset = tmp_path / "subset.jsonl"
    assert cache.export(subset, keys={keys[0], keys[1]}) == 2
    assert [json.loads(line)["key"] for line in subset.read_text().splitlines()] == sorted(keys[:2])


def test_import_into_fresh_cache(cache: ResponseCache, tmp_path: Path) -> None:
    for i in range(5):
        cache.put(f"key{i}", _record(i))
    cache.put("odd", {"raw": "line\u2028separator\x85and next\u2029", "valid": False})
    snapshot = tmp_path / "snap.jsonl"
    cache.export(snapshot)
    fresh = ResponseCache(tmp_path / "fresh")
    try:
        assert fresh.import_(snapshot) == 6
        assert list(fresh.records()) == list(cache.records())
        assert fresh.get("odd") == cache.get("odd")
        again = tmp_path / "again.jsonl"
        fresh.export(again)
        assert again.read_bytes() == snapshot.read_bytes()
    finally:
        fresh.close()


def test_snapshot_layer_is_read_only_and_the_store_wins(tmp_path: Path) -> None:
    snapshot = tmp_path / "snap.jsonl"
    snap_record = {**_record(1), "format": RECORD_FORMAT, "key": "shared"}
    snapshot.write_text(canonical_json(snap_record) + "\n", encoding="utf-8")
    before = snapshot.read_bytes()
    layered = ResponseCache(tmp_path / "store", snapshots=[snapshot])
    try:
        assert layered.get("shared") == snap_record
        stored = {**_record(2), "format": RECORD_FORMAT, "key": "shared"}
        layered.put("shared", _record(2))  # goes to the store (a --refresh), which wins on read
        layered.put("new", _record(3))
        assert layered.get("shared") == stored
        assert layered.get("new") == {**_record(3), "format": RECORD_FORMAT, "key": "new"}
        assert snapshot.read_bytes() == before
        stats = layered.stats()
        assert stats["entries"] == 2
        assert stats["snapshots"] == {str(snapshot): 1}
        assert [r["key"] for r in layered.records()] == ["new", "shared"]
        assert next(r for r in layered.records() if r["key"] == "shared") == stored
    finally:
        layered.close()
    plain = ResponseCache(tmp_path / "store")
    try:
        assert plain.get("shared") == {**_record(2), "format": RECORD_FORMAT, "key": "shared"}
    finally:
        plain.close()


def test_snapshot_earlier_layer_wins(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(canonical_json({"format": RECORD_FORMAT, "key": "k", "raw": "a"}) + "\n", encoding="utf-8")
    b.write_text(canonical_json({"format": RECORD_FORMAT, "key": "k", "raw": "b"}) + "\n", encoding="utf-8")
    layered = ResponseCache(tmp_path / "store", snapshots=[a, b])
    try:
        assert layered.get("k")["raw"] == "a"  # type: ignore[index]
        assert [r["raw"] for r in layered.records()] == ["a"]
    finally:
        layered.close()


def test_truncated_snapshot_names_the_line(tmp_path: Path) -> None:
    snapshot = tmp_path / "snap.jsonl"
    good = canonical_json({**_record(1), "format": RECORD_FORMAT, "key": "k1"})
    truncated = canonical_json({**_record(2), "format": RECORD_FORMAT, "key": "k2"})[:-7]
    snapshot.write_text(good + "\n" + truncated + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_snapshot(snapshot)
    assert f"{snapshot}:2:" in str(info.value)
    assert "corrupt JSON line" in str(info.value)
    with pytest.raises(InputError, match=":2:"):
        ResponseCache(tmp_path / "store", snapshots=[snapshot])


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    snapshot = tmp_path / "snap.jsonl"
    good = canonical_json({"format": RECORD_FORMAT, "key": "k1"})
    snapshot.write_text(good + "\n\n\nnot json\n", encoding="utf-8")
    with pytest.raises(InputError, match=":4:"):
        read_snapshot(snapshot)


@pytest.mark.parametrize(
    "record",
    [
        {"format": "extract.response/0", "key": "k"},
        {"key": "k", "raw": "no format"},
        {"format": RECORD_FORMAT, "raw": "no key"},
    ],
)
def test_wrong_record_format(tmp_path: Path, record: Any) -> None:
    snapshot = tmp_path / "snap.jsonl"
    snapshot.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf":1: not a {RECORD_FORMAT} record"):
        read_snapshot(snapshot)


def test_non_object_record(tmp_path: Path) -> None:
    snapshot = tmp_path / "snap.jsonl"
    snapshot.write_text(json.dumps(["format", RECORD_FORMAT]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=":1: expected a JSON object"):
        read_snapshot(snapshot)


def test_unreadable_snapshot(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_snapshot(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not UTF-8"):
        read_snapshot(bad)


def test_stats_and_clear(cache: ResponseCache, tmp_path: Path) -> None:
    assert cache.stats()["entries"] == 0
    for i in range(3):
        cache.put(f"k{i}", _record(i))
    stats = cache.stats()
    assert stats["entries"] == 3
    assert stats["directory"] == str(tmp_path / "store")
    assert stats["bytes"] > 0
    assert stats["snapshots"] == {}
    assert stats["templates"] == 0
    cache.put_template("t1", {"format": "x"})
    assert cache.template("t1") == {"format": "x"} and cache.stats()["templates"] == 1
    assert cache.template("t2") is None
    assert cache.clear() == 3
    assert cache.stats()["entries"] == 0
    assert cache.get("k0") is None
    assert list(cache.records()) == []


def test_store_opened_lazily(tmp_path: Path) -> None:
    directory = tmp_path / "never"
    ResponseCache(directory).close()
    assert not directory.exists()


def _writer(directory: str, prefix: str, count: int, barrier: Any) -> None:
    cache = ResponseCache(Path(directory))
    try:
        cache.get("warm-up")  # open the store before waiting, so both start writing together
        barrier.wait(timeout=30)
        for i in range(count):
            cache.put(f"{prefix}-{i:03d}", {"raw": f"{prefix} {i}", "valid": True})
    finally:
        cache.close()


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(directory), p, 50, barrier)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    cache = ResponseCache(directory)
    try:
        assert cache.stats()["entries"] == 100
        for prefix in ("a", "b"):
            for i in range(50):
                record = cache.get(f"{prefix}-{i:03d}")
                assert record is not None and record["raw"] == f"{prefix} {i}"
        assert len(list(cache.records())) == 100
    finally:
        cache.close()


def test_the_store_never_evicts(tmp_path: Path) -> None:
    """diskcache's defaults drop the oldest entries past size_limit; the store of paid responses must not."""
    directory = tmp_path / "store"
    diskcache.Cache(str(directory), size_limit=4096).close()  # a store made with the defaults, and a tiny limit
    cache = ResponseCache(directory)
    try:
        assert (cache.store.eviction_policy, cache.store.cull_limit) == ("none", 0) == tuple(STORE_SETTINGS.values())
        for i in range(300):
            cache.put(f"k{i:03d}", {"raw": "x" * 1000, "i": i})
        assert cache.stats()["entries"] == 300 and cache.get("k000") is not None
    finally:
        cache.close()
    reopened = diskcache.Cache(str(directory))  # the settings persist in the store itself
    try:
        assert reopened.eviction_policy == "none" and len(reopened) == 300
    finally:
        reopened.close()


def test_stats_give_the_size_on_disk(cache: ResponseCache, tmp_path: Path) -> None:
    cache.put("k", {"raw": "y" * 100_000})
    stats = cache.stats()
    on_disk = sum(p.stat().st_size for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert stats["bytes"] == on_disk > 100_000
    assert stats["eviction_policy"] == "none"
