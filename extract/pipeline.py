"""Extract events from articles: prompt, call (cached), validate, align evidence, write the run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract.align import Span, align
from extract.cache import canonical_json
from extract.errors import CacheMissError, LLMError, ServerUnreachableError
from extract.llm import LLMClient, Usage
from extract.prompts import PromptSet
from extract.schema import SCHEMA_VERSION, Event, Extraction
from extract.seeds import Article

EVENTS_FORMAT = "extract.events/1"
RUN_FORMAT = "extract.run/1"


@dataclass(frozen=True)
class EventRecord:
    """One extracted event with its grounding in the original file."""

    article_id: str
    event: Event
    span: Span
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "event": self.event.model_dump(mode="json"),
            "format": EVENTS_FORMAT,
            "span": self.span.to_json(),
            "source": self.source,
        }


@dataclass
class ArticleOutcome:
    """What happened to one article: its events, or why it failed."""

    article_id: str
    status: str = "ok"
    events: list[EventRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    error: str | None = None
    keys: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        grounded = sum(r.span.status == "exact" for r in self.events)
        return {
            "status": self.status,
            "events": len(self.events),
            "grounded_exact": grounded,
            "not_found": sum(r.span.status == "not_found" for r in self.events),
            "usage": self.usage.to_json(),
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "cache_keys": self.keys,
        }


def ground(article: Article, events: Sequence[Event]) -> list[EventRecord]:
    """Align each event's evidence to the article and drop exact duplicates (first one wins)."""
    records, seen = [], set()
    for event in events:
        fingerprint = canonical_json(event.model_dump(mode="json"))
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        records.append(EventRecord(article.id, event, align(event.evidence, article), article.source))
    return records


def extract_article(article: Article, *, client: LLMClient, prompts: PromptSet) -> ArticleOutcome:
    """Run the extraction prompt on one article. Model failures become a failed outcome."""
    started = time.monotonic()
    outcome = ArticleOutcome(article.id)
    try:
        result = client.extract(
            Extraction, messages=prompts.messages(article), article_id=article.id, prompt_hash=prompts.hash
        )
    except (CacheMissError, ServerUnreachableError):
        raise  # nothing else can succeed either: stop the run
    except LLMError as e:
        outcome.status, outcome.error = "failed", str(e)
        outcome.usage.add(Usage(**{k: v for k, v in e.usage.items() if k in Usage.__dataclass_fields__}))
    else:
        outcome.events = ground(article, result.value.events)
        outcome.usage, outcome.keys = result.usage, result.keys
    outcome.seconds = time.monotonic() - started
    return outcome


def run_articles(
    articles: Sequence[Article],
    *,
    client: LLMClient,
    prompts: PromptSet,
    concurrency: int = 1,
    on_done: Callable[[ArticleOutcome], None] | None = None,
) -> list[ArticleOutcome]:
    """Extract every article with bounded concurrency; outcomes come back in article order."""
    outcomes: dict[str, ArticleOutcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(extract_article, a, client=client, prompts=prompts) for a in articles]
        try:
            for future in as_completed(futures):
                outcome = future.result()
                outcomes[outcome.article_id] = outcome
                if on_done:
                    on_done(outcome)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return [outcomes[a.id] for a in articles]


def write_events(path: Path, outcomes: Sequence[ArticleOutcome]) -> int:
    """Write events.jsonl: sorted by article, then in the model's order; returns the count."""
    lines = [
        json.dumps(r.to_json(), sort_keys=True, ensure_ascii=False)
        for o in sorted(outcomes, key=lambda o: o.article_id)
        for r in o.events
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def manifest(
    outcomes: Sequence[ArticleOutcome], *, seconds: float, run_info: dict[str, Any]
) -> dict[str, Any]:
    """The run.json manifest: what ran, with what, what it cost, and how each article ended."""
    total = Usage()
    for o in outcomes:
        total.add(o.usage)
    return {
        "format": RUN_FORMAT,
        "schema_version": SCHEMA_VERSION,
        **run_info,
        "articles": {o.article_id: o.to_json() for o in sorted(outcomes, key=lambda o: o.article_id)},
        "totals": {
            **total.to_json(),
            "articles": len(outcomes),
            "failed": sum(o.status != "ok" for o in outcomes),
            "events": sum(len(o.events) for o in outcomes),
            "cache_misses": total.calls,
            "seconds": round(seconds, 3),
        },
    }
