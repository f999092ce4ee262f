"""Reading text and JSONL files with one-line errors that name the file and the line; jinja
environments whose compiled templates are kept between runs."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import yaml

from extract.errors import InputError


def read_text(path: Path) -> str:
    """The file's text; unreadable or non-UTF-8 files raise InputError."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=str(path)) from e
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 (byte {e.start})", path=str(path)) from e


def read_jsonl(path: Path, *, text: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a corrupt or non-object line raises InputError.

    Lines are split on newlines only: JSON may hold U+2028 and friends unescaped.
    """
    for n, line in enumerate((read_text(path) if text is None else text).split("\n"), start=1):
        if line.strip():
            yield n, _record(line, path=path, n=n)


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``read_jsonl`` reading one line at a time, so a big file is never held whole.

    A NUL byte makes it a binary file, and a file of blank lines an empty document.
    """
    blank, offset = True, 0
    try:
        with path.open("rb") as f:
            for n, raw in enumerate(f, start=1):
                if b"\x00" in raw:
                    raise InputError("binary file, expected UTF-8 text", path=str(path))
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise InputError(f"not UTF-8 (byte {offset + e.start})", path=str(path)) from e
                offset += len(raw)
                if line.strip():
                    blank = False
                    yield n, _record(line, path=path, n=n)
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=str(path)) from e
    if blank:
        raise InputError("empty document", path=str(path))


def _record(line: str, *, path: Path, n: int) -> dict[str, Any]:
    """One JSONL line as an object; a corrupt or non-object line raises InputError naming it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"corrupt JSON line ({e.msg})", path=str(path), line=n) from e
    if not isinstance(record, dict):
        raise InputError("expected a JSON object", path=str(path), line=n)
    return record


def yaml_line(error: yaml.YAMLError) -> int:
    """The 1-based line a YAML error points at (1 when it names none)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def yaml_message(error: yaml.YAMLError) -> str:
    """A YAML error in one line, without its position (the caller names the file and line)."""
    if isinstance(error, yaml.MarkedYAMLError):
        return " ".join(p for p in (error.context, error.problem) if p)
    return str(error).splitlines()[0]


def jinja_environment(loader: jinja2.BaseLoader, **options: Any) -> jinja2.Environment:
    """A jinja Environment whose compiled templates are kept between runs (in a private folder of
    the temporary directory), so a run renders its prompts and report without compiling them again.
    The kept code is keyed by each template's name and source and by ``options``, which change it."""
    tag = hashlib.sha256(repr(sorted(options.items())).encode()).hexdigest()[:12]
    return jinja2.Environment(loader=loader, bytecode_cache=_compiled_templates(tag), **options)


@functools.cache
def _compiled_templates(tag: str) -> jinja2.BytecodeCache | None:
    try:
        return jinja2.FileSystemBytecodeCache(pattern=f"__extract_{tag}_%s.cache")
    except (OSError, RuntimeError):  # jinja refuses a folder another user owns
        return None
