"""The hand-labeled gold file: load it, check it against the seeds and the guidelines, write it.

Lines come from PyYAML's node graph, so every problem points at the line an annotator edits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from extract.aliases import Aliases
from extract.documents import Article
from extract.errors import InputError
from extract.files import read_text, yaml_line, yaml_message
from extract.schema import Event
from extract.task import Task
from extract.text import fold

GOLD_FORMAT = "extract.gold/1"

_DATE_FIELDS = ("date", "period_start", "period_end")
_ISO_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")
_TOP_KEYS = ("format", "schema_version", "articles")
_ARTICLE_KEYS = ("id", "events")
#: Marks a drafted event (``reviewed: false``) until an analyst has checked it; not an event field.
_REVIEWED = "reviewed"
UNREVIEWED_MESSAGE = "unreviewed draft event: review it, then remove `reviewed: false`"

FieldPath = tuple[str | int, ...]


# --- gold file -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldArticle:
    """The labeled events of one article, with the 1-based line of each event in the gold file."""

    id: str
    events: tuple[Event, ...]
    lines: tuple[int, ...]
    #: Drafted events still marked ``reviewed: false``: scores against them are provisional.
    unreviewed: int = 0


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the gold file, located for an editor."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class _RawEvent:
    event: Event
    line: int
    field_lines: dict[FieldPath, int]
    #: False for a drafted event nobody has checked yet (``reviewed: false``).
    reviewed: bool = True

    def line_of(self, loc: FieldPath) -> int:
        """The line of the field at ``loc`` (or of its deepest written parent), else the event's line."""
        return _line_of(loc, lines=self.field_lines, default=self.line)


@dataclass
class _RawArticle:
    id: str
    line: int
    events: list[_RawEvent]


@dataclass
class _Parsed:
    articles: list[_RawArticle] = field(default_factory=list)
    articles_line: int = 1
    problems: list[Problem] = field(default_factory=list)
    #: The file is not a gold file at all: its articles cannot be checked further.
    fatal: bool = False


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's when PyYAML has it: the dev gold in 37 ms instead of 284 ms) that keeps
    unquoted dates as the strings written: the schema's dates are ISO strings."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _keyed(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """The scalar keys of a mapping node with their key and value nodes (the last one wins, like PyYAML)."""
    return {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _duplicate_keys(root: yaml.Node, *, path: str) -> list[Problem]:
    """PyYAML silently keeps the last of two equal keys; an annotator never means that."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # anchors can make the graph cyclic
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in first:
                        problems.append(
                            Problem(path, _line(key), f"duplicate key {key.value!r} (first at line {first[key.value]})")
                        )
                    first.setdefault(key.value, _line(key))
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return problems


def _field_lines(
    node: yaml.Node, *, prefix: FieldPath = (), seen: frozenset[int] = frozenset()
) -> dict[FieldPath, int]:
    """Map each field path inside an event (``("location", "country")``, ``("parties", 1)``) to its line."""
    if id(node) in seen:
        return {}
    seen = seen | {id(node)}
    lines: dict[FieldPath, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[(*prefix, key.value)] = _line(key)
                lines.update(_field_lines(value, prefix=(*prefix, key.value), seen=seen))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*prefix, i)] = _line(item)
            lines.update(_field_lines(item, prefix=(*prefix, i), seen=seen))
    return lines


def _line_of(loc: FieldPath, *, lines: dict[FieldPath, int], default: int) -> int:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return default


def _schema_problems(
    error: ValidationError, data: Any, *, node: yaml.Node, lines: dict[FieldPath, int], path: str
) -> list[Problem]:
    """One problem per pydantic error, each on the line of the field it is about."""
    tag = data.get("type") if isinstance(data, dict) else None
    problems = []
    for err in error.errors():
        loc: FieldPath = tuple(err["loc"])
        if loc and loc[0] == tag:  # the discriminated union prefixes every location with the tag
            loc = loc[1:]
        if err["type"] == "union_tag_invalid":
            loc = ("type",)
        where = ".".join(str(p) for p in loc)
        if err["type"] == "string_pattern_mismatch" and loc and loc[-1] in _DATE_FIELDS:
            message = f"{where}: {err['input']!r} is not an ISO date (YYYY, YYYY-MM or YYYY-MM-DD)"
        else:
            message = f"{where}: {err['msg']}" if where else err["msg"]
        problems.append(Problem(path, _line_of(loc, lines=lines, default=_line(node)), message))
    return problems


def _parse_events(
    loader: _Loader, node: yaml.Node | None, *, owner: yaml.Node, path: str, task: Task
) -> tuple[list[_RawEvent], list[Problem]]:
    """Validate every event of one article separately, so that all their errors are reported."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return [], [Problem(path, _line(owner), "missing 'events' (write 'events: []' when there are none)")]
    if not isinstance(node, yaml.SequenceNode):
        return [], [Problem(path, _line(node), "'events' must be a list")]
    events: list[_RawEvent] = []
    problems: list[Problem] = []
    for item in node.value:
        if not isinstance(item, yaml.MappingNode):
            problems.append(Problem(path, _line(item), "an event must be a mapping"))
            continue
        data = loader.construct_object(item, deep=True)
        lines = _field_lines(item)
        reviewed = data.pop(_REVIEWED, True)  # the review marker is stripped before validation
        if not isinstance(reviewed, bool):
            problems.append(Problem(path, lines.get((_REVIEWED,), _line(item)), "reviewed: expected true or false"))
            reviewed = False
        try:
            event = task.parse_event(data)
        except ValidationError as e:
            problems.extend(_schema_problems(e, data, node=item, lines=lines, path=path))
            continue
        events.append(_RawEvent(event=event, line=_line(item), field_lines=lines, reviewed=reviewed))
    return events, problems


def _parse(text: str, *, path: str, task: Task) -> _Parsed:
    """Read a gold file into articles and events, collecting every structural and schema problem."""
    parsed = _Parsed()
    problems = parsed.problems
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            loader.construct_document(root)  # surfaces bad tags and merge keys now, with their line
    except yaml.YAMLError as e:
        problems.append(Problem(path, yaml_line(e), f"malformed YAML: {yaml_message(e)}"))
        parsed.fatal = True
        return parsed
    if not isinstance(root, yaml.MappingNode):
        line = _line(root) if root is not None else 1
        problems.append(Problem(path, line, f"expected a mapping with keys {', '.join(_TOP_KEYS)}"))
        parsed.fatal = True
        return parsed
    problems.extend(_duplicate_keys(root, path=path))
    top = _keyed(root)
    for name, (key, _) in top.items():
        if name not in _TOP_KEYS:
            problems.append(Problem(path, _line(key), f"unknown key {name!r}"))
    fmt = loader.construct_object(top["format"][1], deep=True) if "format" in top else None
    if fmt != GOLD_FORMAT:
        line = _line(top["format"][1]) if "format" in top else 1
        problems.append(Problem(path, line, f"format is {fmt!r}, expected {GOLD_FORMAT!r}"))
    version = loader.construct_object(top["schema_version"][1], deep=True) if "schema_version" in top else None
    if version is None or str(version) != task.schema_version:
        line = _line(top["schema_version"][1]) if "schema_version" in top else 1
        problems.append(Problem(path, line, f"schema_version is {version!r}, expected {task.schema_version!r}"))
    if "articles" not in top or not isinstance(top["articles"][1], yaml.SequenceNode):
        line = _line(top["articles"][1]) if "articles" in top else 1
        problems.append(Problem(path, line, "'articles' must be a list of {id, events} mappings"))
        parsed.fatal = True
        return parsed
    parsed.articles_line = _line(top["articles"][0])
    first_line: dict[str, int] = {}
    for item in top["articles"][1].value:
        if not isinstance(item, yaml.MappingNode):
            problems.append(Problem(path, _line(item), "an article must be a mapping with 'id' and 'events'"))
            continue
        fields = _keyed(item)
        for name, (key, _) in fields.items():
            if name not in _ARTICLE_KEYS:
                problems.append(Problem(path, _line(key), f"unknown key {name!r} in an article"))
        events_node = fields["events"][1] if "events" in fields else None
        events, event_problems = _parse_events(loader, events_node, owner=item, path=path, task=task)
        problems.extend(event_problems)
        article_id = loader.construct_object(fields["id"][1], deep=True) if "id" in fields else None
        id_line = _line(fields["id"][1]) if "id" in fields else _line(item)
        if not isinstance(article_id, str) or not article_id.strip():
            problems.append(Problem(path, id_line, f"article id must be a non-empty string, not {article_id!r}"))
            continue
        if article_id in first_line:
            problems.append(
                Problem(path, id_line, f"article {article_id!r} listed twice (first at line {first_line[article_id]})")
            )
        first_line.setdefault(article_id, id_line)
        parsed.articles.append(_RawArticle(id=article_id, line=id_line, events=events))
    return parsed


def load_gold(path: Path, *, task: Task) -> dict[str, GoldArticle]:
    """Load the gold file into articles ordered by id; any structural or schema problem raises InputError."""
    parsed = _parse(read_text(path), path=str(path), task=task)
    if parsed.problems:
        first = min(parsed.problems, key=lambda p: p.line)
        more = len(parsed.problems) - 1
        suffix = f" (and {more} more problem{'s' * (more > 1)}; run the gold checker)" if more else ""
        raise InputError(first.message + suffix, path=first.path, line=first.line)
    return {
        a.id: GoldArticle(
            id=a.id,
            events=tuple(e.event for e in a.events),
            lines=tuple(e.line for e in a.events),
            unreviewed=sum(not e.reviewed for e in a.events),
        )
        for a in sorted(parsed.articles, key=lambda a: a.id)
    }


# --- checks --------------------------------------------------------------------------------


def _iso_date_problem(value: str) -> str | None:
    """Why ``value`` is not a real ISO date of the schema's precisions, or None when it is one."""
    if not _ISO_DATE.fullmatch(value):
        return "is not YYYY, YYYY-MM or YYYY-MM-DD"
    parts = [int(p) for p in value.split("-")]
    year, month, day = parts + [1] * (3 - len(parts))
    try:
        dt.date(year, month, day)
    except ValueError as e:
        return f"is not a real date ({e})"
    return None


def _evidence_problem(evidence: str, article: Article) -> str | None:
    if not evidence.strip():
        return "evidence is empty"
    if "\n\n" in evidence:
        return "evidence spans two paragraphs (quote one)"
    if evidence in article.text:
        return None
    hint = " (it differs in case, quotes or spacing)" if fold(evidence) in fold(article.text) else ""
    return f"evidence not found verbatim in article {article.id!r}{hint}"


def _actor_names(event: Event) -> list[tuple[FieldPath, str]]:
    """Every actor name of an event with its field path; ``location.country`` counts as one."""
    names: list[tuple[FieldPath, str]] = []
    for name in sorted(type(event).actor_fields):
        value = getattr(event, name, None)
        if isinstance(value, str):
            names.append(((name,), value))
        elif isinstance(value, list):
            names.extend(((name, i), v) for i, v in enumerate(value) if isinstance(v, str))
    if event.location is not None:
        names.append((("location", "country"), event.location.country))
    return names


def _event_problems(raw: _RawEvent, article: Article | None, *, aliases: Aliases, path: str) -> list[Problem]:
    event = raw.event
    problems: list[Problem] = []
    if not raw.reviewed:
        problems.append(Problem(path, raw.line_of((_REVIEWED,)), UNREVIEWED_MESSAGE))
    if article is not None and (message := _evidence_problem(event.evidence, article)):
        problems.append(Problem(path, raw.line_of(("evidence",)), message))
    for name in _DATE_FIELDS:
        value = getattr(event, name, None)
        if value is not None and (why := _iso_date_problem(value)):
            problems.append(Problem(path, raw.line_of((name,)), f"{name}: {value!r} {why}"))
    for loc, name in _actor_names(event):
        where = ".".join(str(p) for p in loc)
        if not aliases.is_canonical(name):
            problems.append(
                Problem(path, raw.line_of(loc), f"{where}: {name!r} is not canonical, write {aliases.canonical(name)!r}")
            )
        elif aliases.lookup(name) is None and (state := aliases.office_of(name)) is not None:
            problems.append(Problem(path, raw.line_of(loc), f"{where}: {name!r} acts in office, write {state!r}"))
    return problems


def check_gold(path: Path, *, articles: list[Article], aliases: Aliases, task: Task) -> list[Problem]:
    """Every problem of the gold file against the seed articles and the guidelines, sorted by line.

    An unreadable file raises InputError; anything wrong inside it is returned as a Problem.
    """
    parsed = _parse(read_text(path), path=str(path), task=task)
    problems = list(parsed.problems)
    if parsed.fatal:
        return problems
    by_id = {a.id: a for a in articles}
    previous: str | None = None
    for raw_article in parsed.articles:
        if previous is not None and raw_article.id < previous:
            problems.append(
                Problem(
                    str(path), raw_article.line, f"articles not sorted by id: {raw_article.id!r} after {previous!r}"
                )
            )
        previous = raw_article.id
        article = by_id.get(raw_article.id)
        if article is None:
            problems.append(Problem(str(path), raw_article.line, f"unknown article id {raw_article.id!r}"))
        first_line: dict[str, int] = {}
        for raw in raw_article.events:
            key = raw.event.model_dump_json()
            if key in first_line:
                problems.append(Problem(str(path), raw.line, f"duplicate of the event at line {first_line[key]}"))
                continue
            first_line[key] = raw.line
            problems.extend(_event_problems(raw, article, aliases=aliases, path=str(path)))
    labeled = {a.id for a in parsed.articles}
    for article in articles:
        if article.id not in labeled:
            problems.append(
                Problem(
                    str(path),
                    parsed.articles_line,
                    f"article {article.id!r} ({article.source}) is missing (write 'events: []' when it has none)",
                )
            )
    return sorted(problems, key=lambda p: p.line)


# --- writing -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """SafeDumper for the gold file; a class of its own so that its settings never leak elsewhere."""


def _event_mapping(event: Event, *, reviewed: bool = True) -> dict[str, Any]:
    """Every field of an event in schema order, ``type`` first (then ``reviewed: false`` for a draft), nulls included."""
    data = event.model_dump(mode="json", exclude_none=False)
    return {"type": data.pop("type"), **({} if reviewed else {_REVIEWED: False}), **data}


def dump_gold(articles: Mapping[str, Sequence[Event]], *, task: Task, reviewed: bool = True) -> str:
    """Write gold events as stable, diff-friendly YAML: sorted ids, schema field order, one quote a line.

    ``reviewed=False`` writes a draft: every event marked ``reviewed: false``, which the checker refuses.
    """
    options: dict[str, Any] = {
        "Dumper": _Dumper,
        "sort_keys": False,
        "allow_unicode": True,
        "default_flow_style": False,
        "width": 1_000_000,
    }
    header = f"# Hand-labeled events of the {task.name} task: rules in its GUIDELINES.md, names in its aliases.yaml.\n"
    if not reviewed:
        header = "# Draft events from a run: correct each one, then remove its `reviewed: false`.\n" + header
    header += yaml.dump({"format": GOLD_FORMAT, "schema_version": task.schema_version}, **options)
    if not articles:
        return header + "articles: []\n"
    blocks = [
        yaml.dump(
            [{"id": article_id, "events": [_event_mapping(e, reviewed=reviewed) for e in articles[article_id]]}],
            **options,
        )
        for article_id in sorted(articles)
    ]
    return header + "articles:\n" + "\n".join(blocks)
