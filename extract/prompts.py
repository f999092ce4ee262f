"""Prompt templates: files in ``prompts/``, rendered with Jinja2 and versioned by content hash.

The message order is fixed so a server's prefix cache can reuse work: the static rules
(and the schema instructor appends to them) first, identical for every call of a run;
then the article, identical for every pass over it; then the pass's question.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2

from extract.errors import InputError
from extract.seeds import Article

from extract.schema import EVENT_TYPES, answer_shape

TEMPLATES = ("system.j2", "article.j2", "pass.j2", *(f"types/{t}.j2" for t in EVENT_TYPES))


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

    @property
    def hashes(self) -> dict[str, str]:
        """sha256 (first 16 hex digits) of each template's text."""
        return {n: hashlib.sha256(s.encode()).hexdigest()[:16] for n, s in sorted(self.sources.items())}

    @property
    def hash(self) -> str:
        """One hash for the whole set: part of every cache key and run record."""
        joined = "\n".join(f"{n}:{h}" for n, h in self.hashes.items())
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def render(self, name: str, **context: object) -> str:
        env = jinja2.Environment(
            loader=jinja2.DictLoader(self.sources), undefined=jinja2.StrictUndefined, autoescape=False
        )
        try:
            return env.get_template(name).render(**context).strip()
        except jinja2.TemplateError as e:
            raise InputError(f"template error: {e}", path=str(self.directory / name)) from e

    def messages(self, article: Article, *, event_type: str) -> list[dict[str, str]]:
        """Chat messages for one pass: rules, article (a stable prefix), then the question."""
        return [
            {"role": "system", "content": self.render("system.j2")},
            {"role": "user", "content": self.render("article.j2", article=article)},
            {"role": "user", "content": self.render("pass.j2", event_type=event_type, shape=answer_shape(event_type))},
        ]
