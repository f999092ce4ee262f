"""Prompt templates: files in ``prompts/``, rendered with Jinja2 and versioned by content hash.

The message order is fixed so a server's prefix cache can reuse work: the static rules, type
definitions and few-shot turns first, identical for every window call of a run; then the window.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml
from pydantic import ValidationError

from extract.errors import InputError
from extract.seeds import Article

from extract.schema import EVENT_TYPES, Event, parse_event

TYPE_TEMPLATES = tuple(f"types/{t}.j2" for t in EVENT_TYPES)
#: The files each strategy's prompts are made of: its prompt hash covers exactly these, so
#: editing one strategy's prompt never invalidates another's recorded responses.
STRATEGY_FILES: dict[str, tuple[str, ...]] = {
    "extract": ("window_system.j2", "window.j2", "rules.j2", "examples.yaml", *TYPE_TEMPLATES),
    "naive": ("system.j2", "rules.j2", "article.j2", "naive.j2"),
    "langextract": ("langextract.j2", "rules.j2", "examples.yaml", *TYPE_TEMPLATES),
}
TEMPLATES = tuple(dict.fromkeys(name for names in STRATEGY_FILES.values() for name in names))
EXAMPLES_FORMAT = "extract.examples/1"


@dataclass(frozen=True)
class Example:
    """A few-shot example: an invented text and its events, labeled by the guidelines."""

    text: str
    events: tuple[Event, ...]


@dataclass(frozen=True)
class PromptSet:
    """The loaded templates and their content hashes."""

    directory: Path
    sources: dict[str, str]

    @classmethod
    def load(cls, directory: Path) -> PromptSet:
        sources = {}
        for name in TEMPLATES:
            path = directory / name
            try:
                sources[name] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"cannot read prompt template: {e}", path=str(path)) from e
        return cls(directory=directory, sources=sources)

    @functools.cached_property
    def hashes(self) -> dict[str, str]:
        """sha256 (first 16 hex digits) of each template's text (computed once: every call names it)."""
        return {n: hashlib.sha256(s.encode()).hexdigest()[:16] for n, s in sorted(self.sources.items())}

    @functools.cached_property
    def hash(self) -> str:
        """The hash of the project strategy's prompts: part of its cache keys and run records."""
        return self.hash_of("extract")

    def hash_of(self, strategy: str) -> str:
        """One hash over the files a strategy's prompts are made of."""
        hashes = self.hashes
        joined = "\n".join(f"{n}:{hashes[n]}" for n in sorted(STRATEGY_FILES[strategy]))
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    @functools.cached_property
    def _env(self) -> jinja2.Environment:
        """One Environment per prompt set: each template is compiled once, not on every call."""
        return jinja2.Environment(loader=jinja2.DictLoader(self.sources), undefined=jinja2.StrictUndefined, autoescape=False)

    def render(self, name: str, **context: object) -> str:
        try:
            return self._env.get_template(name).render(**context).strip()
        except jinja2.TemplateError as e:
            raise InputError(f"template error: {e}", path=str(self.directory / name)) from e

    def window_messages(self, article: Article, *, start: int, end: int, part: int, parts: int) -> list[dict[str, str]]:
        """Chat messages for one window of an article: rules and type definitions, the few-shot
        examples as earlier turns (together a prefix shared by every call of a run), then the window."""
        text = article.text[start:end].strip()
        window = self.render("window.j2", article=article, part=part, parts=parts, text=text)
        return [*self._window_prefix, {"role": "user", "content": window}]

    @functools.cached_property
    def _window_prefix(self) -> tuple[dict[str, str], ...]:
        """The system message and the few-shot turns: the same for every window, built once."""
        messages = [{"role": "system", "content": self.render("window_system.j2", event_types=EVENT_TYPES)}]
        for example in self.examples():
            answer = {"events": [e.model_dump(mode="json", exclude_none=True) for e in example.events]}
            messages.append({"role": "user", "content": self.render("window.j2", article=None, text=example.text)})
            messages.append({"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)})
        return tuple(messages)

    def naive_messages(self, article: Article) -> list[dict[str, str]]:
        """The obvious single call: the same rules and article, then one question for every type."""
        return [
            {"role": "system", "content": self.render("system.j2", per_type=False)},
            {"role": "user", "content": self.render("article.j2", article=article)},
            {"role": "user", "content": self.render("naive.j2", event_types=EVENT_TYPES)},
        ]

    def langextract_description(self) -> str:
        """The task description langextract puts before its examples."""
        return self.render("langextract.j2", event_types=EVENT_TYPES)

    def examples(self) -> list[Example]:
        """The few-shot examples of ``examples.yaml``, validated against the schema."""
        path = str(self.directory / "examples.yaml")
        try:
            data = yaml.safe_load(self.sources["examples.yaml"])
        except yaml.YAMLError as e:
            raise InputError(f"not valid YAML: {e}", path=path) from e
        if not isinstance(data, dict) or data.get("format") != EXAMPLES_FORMAT:
            raise InputError(f"not an {EXAMPLES_FORMAT} file", path=path)
        examples = []
        for n, item in enumerate(data.get("examples") or [], start=1):
            try:
                events = tuple(parse_event(e) for e in item["events"])
            except (KeyError, TypeError, ValidationError) as e:
                raise InputError(f"example {n} is not valid: {e}", path=path) from e
            for event in events:
                if event.evidence not in item["text"]:
                    raise InputError(f"example {n}: evidence {event.evidence!r} is not in its text", path=path)
            examples.append(Example(text=item["text"], events=events))
        return examples
