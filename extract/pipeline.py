"""Extract events from articles: one cached call per window of a few sentences, then grounding.

Every call shows the model the same prefix (rules, type definitions, few-shot examples as
earlier turns), which the server evaluates once per run, then a window of at most 300
characters; the grammar holds the answer to the event union. Events whose evidence cannot
be found in the article, does not state a required number or has no cue word of the type
are rejected (written to rejected.jsonl with the reason), never silently kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from extract.align import Span, align
from extract.cache import canonical_json
from extract.config import WINDOW_MAX_TOKENS
from extract.errors import CacheMissError, InvalidOutputError, LLMError, ServerUnreachableError
from extract.llm import LLMClient, Usage
from extract.gold import Aliases
from extract.normalize import names_its_actors, normalize, states_its_type
from extract.prompts import PromptSet
from extract.schema import EVENTS_FORMAT, KEY_FIELDS, SCHEMA_VERSION, AnyEvents, Event, Extraction, parse_event, slot_value
from extract.text import windows
from extract.seeds import Article

RUN_FORMAT = "extract.run/1"
#: Window size in characters: one to three sentences, the length of the few-shot texts.
#: Measured on the seeds (lenient F1): 1,000 characters 0.35, 500 0.41, 300 0.45 (README).
WINDOW_CHARS = 300


@dataclass(frozen=True)
class EventRecord:
    """One extracted event with its grounding in the original file."""

    article_id: str
    event: Event
    span: Span
    source: str
    rejected: str | None = None

    def to_json(self) -> dict[str, Any]:
        record = {
            "article_id": self.article_id,
            "event": self.event.model_dump(mode="json"),
            "format": EVENTS_FORMAT,
            "span": self.span.to_json(),
            "source": self.source,
        }
        return record | ({"rejected": self.rejected} if self.rejected else {})


@dataclass
class ArticleOutcome:
    """What happened to one article: its events, what was rejected, and which passes failed."""

    article_id: str
    events: list[EventRecord] = field(default_factory=list)
    rejected: list[EventRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    planned: int = 1
    #: Calls that went wrong but were recovered: an invalid (e.g. cut) answer whose complete events were kept.
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.errors:
            return "ok"
        return "failed" if len(self.errors) >= self.planned else "partial"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "events": len(self.events),
            "grounded_exact": sum(r.span.status == "exact" for r in self.events),
            "rejected": len(self.rejected),
            "usage": self.usage.to_json(),
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
            "notes": self.notes,
            "cache_keys": self.keys,
        }


def ground(
    article: Article, events: Sequence[Event], *, aliases: Aliases | None = None
) -> tuple[list[EventRecord], list[EventRecord]]:
    """Align, repair and normalize events; return (kept, rejected).

    A quote found only approximately is replaced by the article's own words. Rejected:
    events whose evidence is not in the article, does not state a required number, or has
    no cue word of the event's type, and events whose actor fields name no one. Duplicates
    (after normalization) are dropped, the first one wins: events equal in every field, and
    kept events that ``same_fact`` says state one fact (from two views, or repeated in the
    article's headline and body).
    """
    kept, rejected, seen = [], [], set()
    for event in events:
        span = align(event.evidence, article)
        if span.status in ("normalized", "fuzzy") and span.start is not None:
            event = event.model_copy(update={"evidence": article.text[span.start : span.end]})
        reason = "evidence not in the article" if span.status == "not_found" else None
        normalized = normalize(event, aliases)
        if normalized is None:
            reason = reason or "a required number is not in the evidence"
        else:
            event = normalized
            if not states_its_type(event):
                reason = reason or f"the evidence has no cue word of {event.type}"
            elif not names_its_actors(event, aliases):
                reason = reason or "an actor field names no one"
        fingerprint = canonical_json(event.model_dump(mode="json"))
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        record = EventRecord(article.id, event, span, article.source, rejected=reason)
        if reason:
            rejected.append(record)
        elif not any(same_fact(record, other) for other in kept):
            kept.append(record)
    return kept, rejected


def same_fact(a: EventRecord, b: EventRecord) -> bool:
    """Whether two grounded events state one fact: same type, no two different countries, and
    either the same filled key fields, or overlapping evidence that gives them the same numbers."""
    x, y = a.event, b.event
    countries = {slot_value(x, "location.country"), slot_value(y, "location.country")} - {None}
    if x.type != y.type or len(countries) > 1:
        return False
    keys = [(slot_value(x, k), slot_value(y, k)) for k in KEY_FIELDS[x.type]]
    if all(u is not None and u == v for u, v in keys):
        return True
    overlap = (
        None not in (a.span.start, a.span.end, b.span.start, b.span.end)
        and a.span.start < b.span.end  # type: ignore[operator]
        and b.span.start < a.span.end  # type: ignore[operator]
    )
    return overlap and all(u == v for u, v in keys if isinstance(u, int) or isinstance(v, int))


@dataclass(frozen=True)
class Call:
    """One model call of the strategy: its label, response model and messages."""

    label: str
    response_model: type[BaseModel]
    messages: list[dict[str, str]]
    prompt_hash: str
    #: The schema shown in the prompt (see ``llm.LLMClient.extract``).
    prompt_model: type[BaseModel] | None
    #: The call's answer limit (the configured one applies when it is lower).
    max_tokens: int | None = None


def plan_calls(article: Article, *, prompts: PromptSet) -> list[Call]:
    """The calls for one article, in order: one per window of a few sentences.

    Each window follows a prefix of rules, type definitions and few-shot examples that is
    the same for every call of a run, so the server evaluates it once; the prompt shows a
    compact schema, while the grammar holds the answer to the event union.
    """
    spans = windows(article.text, max_chars=WINDOW_CHARS)
    return [
        Call(
            label=f"window {part}/{len(spans)}",
            response_model=Extraction,
            messages=prompts.window_messages(article, start=start, end=end, part=part, parts=len(spans)),
            prompt_hash=prompts.hash,
            prompt_model=AnyEvents,
            max_tokens=WINDOW_MAX_TOKENS,
        )
        for part, (start, end) in enumerate(spans, start=1)
    ]


def extract_article(
    article: Article,
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    on_pass: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> ArticleOutcome:
    """Make every planned call for an article, then ground the merged events.

    A failed call is recorded and the others go on; an answer cut at max_tokens keeps its
    complete events. Duplicates across calls are dropped by ``ground``.
    """
    started = time.monotonic()
    calls = plan_calls(article, prompts=prompts)
    limit = client.config.params.max_tokens
    outcome = ArticleOutcome(article.id, planned=len(calls))
    events: list[Event] = []
    for call in calls:
        if stop is not None and stop.is_set():
            break  # the run is being abandoned; nothing of this article is kept
        try:
            result = client.extract(
                call.response_model,
                messages=call.messages,
                article_id=article.id,
                prompt_hash=call.prompt_hash,
                label=call.label,
                prompt_model=call.prompt_model,
                max_tokens=min(call.max_tokens or limit, limit),
            )
        except (CacheMissError, ServerUnreachableError):
            raise  # nothing else can succeed either: stop the run
        except InvalidOutputError as e:
            salvaged = salvage_events(e.content or "")
            events.extend(salvaged)
            note = f"{call.label}: {e} ({len(salvaged)} complete events kept)"
            (outcome.notes if salvaged else outcome.errors).append(note)
            outcome.usage.add(Usage.from_json(e.usage))
            outcome.keys.extend(e.keys)
        except LLMError as e:
            outcome.errors.append(f"{call.label}: {e}")
            outcome.usage.add(Usage.from_json(e.usage))
        else:
            events.extend(result.value.events)  # type: ignore[attr-defined]
            outcome.usage.add(result.usage)
            outcome.keys.extend(result.keys)
        if on_pass:
            on_pass(call.label)
    outcome.events, outcome.rejected = ground(article, events, aliases=aliases)
    outcome.seconds = time.monotonic() - started
    return outcome


def salvage_events(content: str) -> list[Event]:
    """The complete, valid events at the start of an answer cut at max_tokens.

    A small model sometimes repeats itself until the token limit; the events it finished
    before that are as good as any, and the duplicates are dropped later by ``ground``.
    """
    start = content.find("[")
    if start < 0:
        return []
    decoder, events, pos = json.JSONDecoder(), [], start + 1
    while True:
        while pos < len(content) and content[pos] in " \t\r\n,":
            pos += 1
        try:
            item, pos = decoder.raw_decode(content, pos)
        except json.JSONDecodeError:
            return events
        try:
            events.append(parse_event(item))
        except ValidationError:
            continue


def run_articles(
    articles: Sequence[Article],
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    concurrency: int = 1,
    on_pass: Callable[[str], None] | None = None,
    on_done: Callable[[ArticleOutcome], None] | None = None,
) -> list[ArticleOutcome]:
    """Extract every article with bounded concurrency; outcomes come back in article order.

    With a concurrency of 1 (the embedded server's) everything runs on the calling thread, so
    Ctrl-C interrupts the call in flight at once.
    """
    if concurrency <= 1:
        outcomes_in_order = []
        for article in articles:
            outcome = extract_article(
                article, client=client, prompts=prompts, aliases=aliases, on_pass=on_pass
            )
            outcomes_in_order.append(outcome)
            if on_done:
                on_done(outcome)
        return outcomes_in_order
    outcomes: dict[str, ArticleOutcome] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    stop = threading.Event()
    futures = [
        pool.submit(
            extract_article,
            a,
            client=client,
            prompts=prompts,
            aliases=aliases,
            on_pass=on_pass,
            stop=stop,
        )
        for a in articles
    ]
    try:
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.article_id] = outcome
            if on_done:
                on_done(outcome)
    except BaseException:
        # Ctrl-C or a fatal error: return at once, so the caller can stop the server
        # (which ends the calls in flight); finished responses are already cached.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [outcomes[a.id] for a in articles]


def write_events(path: Path, outcomes: Sequence[ArticleOutcome], *, rejected: bool = False) -> int:
    """Write events.jsonl (or rejected.jsonl): by article, then pass order; returns the count."""
    lines = [
        json.dumps(r.to_json(), sort_keys=True, ensure_ascii=False)
        for o in sorted(outcomes, key=lambda o: o.article_id)
        for r in (o.rejected if rejected else o.events)
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
            "failed": sum(o.status == "failed" for o in outcomes),
            "partial": sum(o.status == "partial" for o in outcomes),
            "events": sum(len(o.events) for o in outcomes),
            "rejected": sum(len(o.rejected) for o in outcomes),
            "failed_passes": sum(len(o.errors) for o in outcomes),
            "cache_misses": total.calls,
            "seconds": round(seconds, 3),
        },
    }


def write_run(
    run_dir: Path, outcomes: Sequence[ArticleOutcome], *, seconds: float, run_info: dict[str, Any]
) -> dict[str, Any]:
    """Write events.jsonl, rejected.jsonl and run.json into ``run_dir``; return the manifest."""
    write_events(run_dir / "events.jsonl", outcomes)
    write_events(run_dir / "rejected.jsonl", outcomes, rejected=True)
    record = manifest(outcomes, seconds=seconds, run_info=run_info)
    (run_dir / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record
