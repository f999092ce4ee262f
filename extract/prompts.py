"""Prompt templates: files in a task's ``prompts/``, rendered with Jinja2 and versioned by content hash.

The message order is fixed so a server's prefix cache can reuse work: the static rules, type
definitions and few-shot turns first, identical for every window call of a run; then the window.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml
from pydantic import ValidationError

from extract.config import EXTRACTORS
from extract.documents import Article
from extract.errors import ConfigError, InputError
from extract.files import jinja_environment
from extract.schema import Event
from extract.task import Task

#: The tags that frame an article's text in the windows, detect and fill prompts.
_FRAME_TAG = re.compile(r"<(/?)(article)>", re.IGNORECASE)


def as_data(text: str) -> str:
    """An article's text as it goes between its tags: a frame tag inside it is broken ("</ article>"),
    so the text cannot close its frame and speak as the prompt. Other texts are unchanged."""
    return _FRAME_TAG.sub(r"<\1 \2>", text)


EXAMPLES_FORMAT = "extract.examples/1"
#: The strategy whose templates every task must have; the others (detect, the benchmark's baselines) are optional.
MAIN_STRATEGY = "windows"
#: Files a strategy uses when the task has them: more few-shot examples, after those of examples.yaml.
OPTIONAL_FILES = frozenset({"more_examples.yaml"})


def strategy_files(event_types: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The files each strategy's prompts are made of: its prompt hash covers exactly these, so
    editing one strategy's prompt never invalidates another's recorded responses."""
    type_templates = tuple(f"types/{t}.j2" for t in event_types)
    windows = ("window_system.j2", "window.j2", "rules.j2", "examples.yaml", "more_examples.yaml", *type_templates)
    detect = (
        "detect_system.j2", "detect.j2", "fill_system.j2", "fill.j2", "rules.j2", "examples.yaml",
        "more_examples.yaml", *type_templates,
    )  # fmt: skip
    return {
        MAIN_STRATEGY: windows,
        "detect": detect,
        "hybrid": tuple(dict.fromkeys(windows + detect)),
        "thorough": tuple(dict.fromkeys(windows + detect)),
        "naive": ("system.j2", "rules.j2", "article.j2", "naive.j2"),
        "langextract": ("langextract.j2", "rules.j2", "examples.yaml", *type_templates),
    }


@dataclass(frozen=True)
class Example:
    """A few-shot example: an invented text and its events, labeled by the guidelines."""

    text: str
    events: tuple[Event, ...]


@dataclass(frozen=True)
class PromptSet:
    """A task's loaded templates and their content hashes.

    The main strategy's files are required; a baseline's (naive, langextract) are loaded when
    the folder has them, and naming a baseline whose files are missing is a ConfigError.
    """

    directory: Path
    sources: dict[str, str]
    task: Task

    @classmethod
    def load(cls, task: Task, directory: Path | None = None) -> PromptSet:
        """The templates of ``directory`` (default: the task's ``prompts/``)."""
        directory = task.prompts_dir if directory is None else directory
        files = strategy_files(task.event_types)
        required = set(files[MAIN_STRATEGY]) - OPTIONAL_FILES
        sources = {}
        for name in dict.fromkeys(n for names in files.values() for n in names):
            path = directory / name
            if name not in required and not path.is_file():
                continue
            try:
                sources[name] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"cannot read prompt template: {e}", path=str(path)) from e
        return cls(directory=directory, sources=sources, task=task)

    @functools.cached_property
    def strategies(self) -> dict[str, tuple[str, ...]]:
        """The strategies whose files are all present, with their files (hybrid: also a task that
        names its ``detect_types``)."""
        files = strategy_files(self.task.event_types)
        if not self.task.detect_types:
            del files["hybrid"]
        present = {name: tuple(n for n in names if n in self.sources) for name, names in files.items()}
        return {
            name: present[name]
            for name, names in files.items()
            if all(n in self.sources or n in OPTIONAL_FILES for n in names)
        }

    @functools.cached_property
    def best_strategy(self) -> str:
        """The first of ``EXTRACTORS`` (best first) whose templates are all here: what a run uses unless told."""
        return next(name for name in EXTRACTORS if name in self.strategies)

    @functools.cached_property
    def hashes(self) -> dict[str, str]:
        """sha256 (first 16 hex digits) of each template's text (computed once: every call names it)."""
        return {n: hashlib.sha256(s.encode()).hexdigest()[:16] for n, s in sorted(self.sources.items())}

    @functools.cached_property
    def hash(self) -> str:
        """The hash of the windows strategy's prompts: part of its cache keys and run records."""
        return self.hash_of(MAIN_STRATEGY)

    def hash_of(self, strategy: str) -> str:
        """One hash over the files a strategy's prompts are made of."""
        if strategy not in self.strategies:
            raise ConfigError(f"the prompts in {self.directory} have no templates for the {strategy} strategy")
        hashes = self.hashes
        joined = "\n".join(f"{n}:{hashes[n]}" for n in sorted(self.strategies[strategy]))
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    @functools.cached_property
    def _env(self) -> jinja2.Environment:
        """One Environment per prompt set: each template is compiled once, not on every call."""
        return jinja_environment(jinja2.DictLoader(self.sources), undefined=jinja2.StrictUndefined, autoescape=False)

    def render(self, name: str, **context: object) -> str:
        try:
            return self._env.get_template(name).render(**context).strip()
        except jinja2.TemplateError as e:
            raise InputError(f"template error: {e}", path=str(self.directory / name)) from e

    def window_messages(self, article: Article, *, start: int, end: int, part: int, parts: int) -> list[dict[str, str]]:
        """Chat messages for one window of an article: rules and type definitions, the few-shot
        examples as earlier turns (together a prefix shared by every call of a run), then the window."""
        text = article.text[start:end].strip()
        window = self.render("window.j2", article=article, part=part, parts=parts, text=as_data(text))
        return [*self._window_prefix, {"role": "user", "content": window}]

    @functools.cached_property
    def _window_prefix(self) -> tuple[dict[str, str], ...]:
        """The system message and the few-shot turns: the same for every window, built once."""
        messages = [{"role": "system", "content": self.render("window_system.j2", event_types=self.task.event_types)}]
        for example in self._shots:
            answer = {"events": [e.model_dump(mode="json", exclude_none=True) for e in example.events]}
            messages.append({"role": "user", "content": self.render("window.j2", article=None, text=example.text)})
            messages.append({"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)})
        return tuple(messages)

    @functools.cached_property
    def _shots(self) -> tuple[Example, ...]:
        """The few-shot examples of every strategy but langextract: those of examples.yaml, then
        those of more_examples.yaml when the task has it."""
        more = self.examples("more_examples.yaml") if "more_examples.yaml" in self.sources else []
        return (*self.examples(), *more)

    @functools.cached_property
    def _detect_prefix(self) -> tuple[dict[str, str], ...]:
        """The detect calls' system message and few-shot turns (each example's text and the types of
        its events), built once per run."""
        messages = [{"role": "system", "content": self.render("detect_system.j2", event_types=self.task.event_types)}]
        for example in self._shots:
            answer = {"types": list(dict.fromkeys(e.type for e in example.events))}
            messages.append({"role": "user", "content": self.render("detect.j2", published=None, text=example.text)})
            messages.append({"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)})
        return tuple(messages)

    def detect_messages(self, article: Article, text: str) -> list[dict[str, str]]:
        """Chat messages that ask which types of event a passage reports."""
        window = self.render("detect.j2", published=article.published, text=as_data(text))
        return [*self._detect_prefix, {"role": "user", "content": window}]

    @functools.cached_property
    def _fill_prefixes(self) -> dict[str, tuple[dict[str, str], ...]]:
        """Each type's fill system message and few-shot turns: every example text that holds events of
        the type, and those events only. Built once per run; the same for every fill call of a type."""
        prefixes = {}
        for event_type in self.task.event_types:
            messages = [{"role": "system", "content": self.render("fill_system.j2", event_type=event_type)}]
            for example in self._shots:
                events = [e.model_dump(mode="json", exclude_none=True) for e in example.events if e.type == event_type]
                if events:
                    user = self.render("fill.j2", context=None, published=None, text=example.text)
                    messages.append({"role": "user", "content": user})
                    messages.append({"role": "assistant", "content": json.dumps({"events": events}, ensure_ascii=False)})
            prefixes[event_type] = tuple(messages)
        return prefixes

    def fill_messages(self, article: Article, event_type: str, *, text: str, context: str) -> list[dict[str, str]]:
        """Chat messages that ask for one type's events in a passage, after its context."""
        user = self.render("fill.j2", context=as_data(context), published=article.published, text=as_data(text))
        return [*self._fill_prefixes[event_type], {"role": "user", "content": user}]

    def naive_messages(self, article: Article) -> list[dict[str, str]]:
        """The obvious single call: the same rules and article, then one question for every type."""
        return [
            {"role": "system", "content": self.render("system.j2", per_type=False)},
            {"role": "user", "content": self.render("article.j2", article=article)},
            {"role": "user", "content": self.render("naive.j2", event_types=self.task.event_types)},
        ]

    def langextract_description(self) -> str:
        """The task description langextract puts before its examples."""
        return self.render("langextract.j2", event_types=self.task.event_types)

    def examples(self, name: str = "examples.yaml") -> list[Example]:
        """The few-shot examples of ``examples.yaml`` (or another such file), validated against the schema."""
        path = str(self.directory / name)
        try:
            data = yaml.safe_load(self.sources[name])
        except yaml.YAMLError as e:
            raise InputError(f"not valid YAML: {e}", path=path) from e
        if not isinstance(data, dict) or data.get("format") != EXAMPLES_FORMAT:
            raise InputError(f"not an {EXAMPLES_FORMAT} file", path=path)
        examples = []
        for n, item in enumerate(data.get("examples") or [], start=1):
            try:
                events = tuple(self.task.parse_event(e) for e in item["events"])
            except (KeyError, TypeError, ValidationError) as e:
                raise InputError(f"example {n} is not valid: {e}", path=path) from e
            for event in events:
                if event.evidence not in item["text"]:
                    raise InputError(f"example {n}: evidence {event.evidence!r} is not in its text", path=path)
            examples.append(Example(text=item["text"], events=events))
        return examples
