"""Extract events from articles: the windows strategy (one cached call per window of a few
sentences), the grounding every strategy's events go through, and the run's files. The detect
strategy (``extract.detect``) plans its own calls and runs through ``run_articles`` too.

Every call shows the model the same prefix (rules, type definitions, few-shot examples as
earlier turns), which the server evaluates once per run, then a window of whole sentences
(sentencex) up to 300 characters; the grammar holds the answer to the event union. Events whose evidence cannot
be found in the article, does not state a required number or has no cue word of the type
are rejected (written to rejected.jsonl with the reason), never silently kept.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import queue
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ValidationError
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from extract.aliases import Aliases
from extract.align import Span, align, anchor, located
from extract.cache import canonical_json
from extract.config import WINDOW_MAX_TOKENS
from extract.documents import Article
from extract.errors import (
    CacheMissError,
    ConfigError,
    InvalidOutputError,
    LLMError,
    ServerUnreachableError,
)
from extract.llm import LLMClient, Request, Result, Usage
from extract.normalize import (
    counts_beside,
    countries_beside,
    names_its_actors,
    normalize,
    states_its_type,
    type_cue_pattern,
)
from extract.prompts import PromptSet
from extract.schema import EVENTS_FORMAT, AnyEvents, Event, choice_fields, slot_value
from extract.sentences import article_sentences, sentence_windows
from extract.task import Task

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
    article: Article, events: Sequence[Event], *, task: Task, aliases: Aliases | None = None
) -> tuple[list[EventRecord], list[EventRecord]]:
    """Align, repair and normalize events; return (kept, rejected).

    A quote that places other counts in other countries gives those events too (``counts_beside``),
    and so does one that states a fact without a figure for several countries (``countries_beside``),
    or another fact by the task's own rules (``Task.beside``).
    A quote found only approximately, or traced by its names to the sentence the model rewrote
    (``align.anchor``), is replaced by the article's own words, and a quote from
    the headline by the body sentence that restates it, if any (the guidelines quote the body);
    the body's own event of a fact goes first, so it wins over the headline's. A kept event's
    ``Task.implied`` events (a reduction done to a level is also the level) are grounded too. Rejected:
    events whose evidence is not in the article, does not state a required number, or has
    no cue word of the event's type, and events whose actor fields name no one. Duplicates
    (after normalization) are dropped: events equal in every field (the first one wins), and
    kept events that ``same_fact`` says state one fact (from two views, or repeated in the
    article's headline and body), of which the first statement in the body is kept (the
    guidelines keep the first clear statement). Last, a kept event that states part of another (``part_of``:
    an attack's own dead written as a toll) is rejected.
    """
    kept, rejected, seen = [], [], set()
    beside = task.beside or (lambda _: [])
    events = [e for event in events for e in (event, *counts_beside(event), *countries_beside(event), *beside(event))]
    aligned = [(event, _located(event, article)) for event in events]
    aligned.sort(key=lambda pair: _in_headline(article, pair[1]))  # the body's statement of a fact wins
    work, implying = deque(aligned), task.implied
    while work:
        event, span, reason = _checked(*work.popleft(), article=article, task=task, aliases=aliases)
        fingerprint = canonical_json(event.model_dump(mode="json"))
        if fingerprint not in seen:
            seen.add(fingerprint)
            record = EventRecord(article.id, event, span, article.source, rejected=reason)
            if reason:
                rejected.append(record)
            elif (twin := next((other for other in kept if same_fact(record, other)), None)) is None:
                kept.append(record)
            elif _earlier(record, twin, article):
                kept[kept.index(twin)] = record
        if not work and implying is not None:  # once each fact's statement is settled, what it implies
            work.extend((more, r.span) for r in kept for more in implying(r.event))
            implying = None
    parts = [r for r in kept if any(part_of(r, other, task=task) for other in kept)]
    rejected.extend(dataclasses.replace(r, rejected=f"part of a kept {_whole(r, kept, task)} event") for r in parts)
    return [r for r in kept if r not in parts], rejected


def _earlier(record: EventRecord, other: EventRecord, article: Article) -> bool:
    """Whether a body statement of a fact comes before another one (the guidelines keep the first)."""
    a, b = record.span, other.span
    if a.start is None or b.start is None or _in_headline(article, a) or _in_headline(article, b):
        return False
    return a.start < b.start and not _overlap(a, b)


def _located(event: Event, article: Article) -> Span:
    """Where an event's quote is in the article: aligned, or else traced by the names its key
    fields give (a free-text key field the quote writes: a person, a target) to the sentence the
    model rewrote."""
    span = align(event.evidence, article)
    if span.status != "not_found":
        return span
    quote = event.evidence.casefold()
    names = [
        value
        for name in type(event).key_fields
        if name not in choice_fields(type(event))
        and isinstance(value := getattr(event, name, None), str)
        and value.casefold() in quote
    ]
    return anchor(event.evidence, article, names=names)


def _checked(
    event: Event, span: Span, *, article: Article, task: Task, aliases: Aliases | None
) -> tuple[Event, Span, str | None]:
    """One located event, its quote repaired and its fields normalized, with the reason it is
    rejected (None: kept)."""
    if span.status in ("normalized", "fuzzy") and span.start is not None:
        event = event.model_copy(update={"evidence": article.text[span.start : span.end]})
    if _in_headline(article, span) and (body := _restatement(article, event, task=task)) is not None:
        span = located(article, *body)
        event = event.model_copy(update={"evidence": article.text[body[0] : body[1]]})
    reason = "evidence not in the article" if span.status == "not_found" else None
    if reason is None and addresses_the_model(_sentence_of(article.text, span)):
        reason = "the evidence is an instruction to the model, not reporting"
    if reason is None and task.no_event_pattern is not None and task.no_event_pattern.search(event.evidence):
        reason = "the evidence reports no event (speculation or a conditional threat)"
    if reason is None and (denied := task.not_of_type_patterns.get(event.type)) and denied.search(event.evidence):
        reason = f"the evidence reports no single {event.type}"
    if reason is None and (needed := task.only_of_type_patterns.get(event.type)) and not needed.search(event.evidence):
        reason = f"the evidence lacks what every {event.type} states"
    before = article.text[: span.start] if span.start is not None else ""  # where "the country" was named
    normalized = normalize(event, aliases, task=task, before=before, published=article.published)
    if normalized is None:
        return event, span, reason or "a required number is not in the evidence"
    if not states_its_type(normalized, task):
        return normalized, span, reason or f"the evidence has no cue word of {normalized.type}"
    if not names_its_actors(normalized, aliases):
        return normalized, span, reason or "an actor field names no one"
    return normalized, span, reason


def _in_headline(article: Article, span: Span) -> bool:
    """Whether a located quote starts in the article's headline (the first line of its text)."""
    headline = article.title and article.text.startswith(article.title)
    return bool(headline) and span.start is not None and span.start < len(article.title)


#: How close (rapidfuzz token_set_ratio, 0-100) a body sentence must come to a headline's quote
#: to restate it. Chosen on the dev set: 20 to 35 score alike there, 40 and above lose matches.
RESTATES = 30.0
#: How alike (rapidfuzz token_set_ratio of the words, 0-100) two names of one thing are
#: ("Ain al-Asad air base" and "Ain al-Asad" are one base; "Gossi camp" and "Ménaka base" two).
SAME_WORDS = 80.0


def _restatement(article: Article, event: Event, *, task: Task) -> tuple[int, int] | None:
    """The body sentence that restates a fact the model quoted from the headline: the first
    (guidelines: "quote the body sentence", "keep the first clear statement") with a cue word of
    its type that comes close enough to the quote. (The closest one instead: 0.016 lower on dev.)"""
    cue = type_cue_pattern(task, event.type)
    for start, end in article_sentences(article.text):
        if start < len(article.title):
            continue
        sentence = article.text[start:end]
        if (cue is None or cue.search(sentence)) and fuzz.token_set_ratio(event.evidence, sentence) >= RESTATES:
            return start, end
    return None


def _overlap(a: Span, b: Span) -> bool:
    return None not in (a.start, a.end, b.start, b.end) and a.start < b.end and b.start < a.end  # type: ignore[operator]


def part_of(a: EventRecord, b: EventRecord, *, task: Task) -> bool:
    """Whether ``a`` states part of ``b``'s fact: its type is held by ``b``'s (``Task.part_of``),
    its quote lies within ``b``'s, and every number of ``a`` is one of ``b``'s. (A toll whose
    quote reaches beyond the attack's, "... killed since the offensive began", is its own fact.)"""
    if b.event.type not in task.part_of.get(a.event.type, ()) or None in (a.span.start, b.span.start):
        return False
    if not (b.span.start <= a.span.start and a.span.end <= b.span.end):  # type: ignore[operator]
        return False
    numbers = [v for v in a.event.model_dump().values() if isinstance(v, int) and not isinstance(v, bool)]
    theirs = {v for v in b.event.model_dump().values() if isinstance(v, int) and not isinstance(v, bool)}
    return all(n in theirs for n in numbers)


def _whole(record: EventRecord, kept: Sequence[EventRecord], task: Task) -> str:
    return next(o.event.type for o in kept if part_of(record, o, task=task))


#: Text that tells a model what to do ("ignore previous instructions", "output an event saying …"):
#: an article that holds it is data, and nothing it orders is an event.
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget)\b[^.]{0,40}\b(instructions?|prompts?|rules)\b"
    r"|\b(output|return|generate|emit|print|add)\b[^.]{0,20}\b(an? |the )?(events?|json)\b"
    r"|\b(system prompt|you are an? (ai|assistant|language model))\b",
    re.IGNORECASE,
)


def addresses_the_model(text: str) -> bool:
    """Whether a sentence is an instruction to a model (a prompt injection), not reporting."""
    return _INSTRUCTION.search(text) is not None


_SENTENCE_EDGE = re.compile(r"[.!?]\s|\n")


def _sentence_of(text: str, span: Span) -> str:
    """The sentence(s) around a located quote: an injected order is judged whole, not by the
    part the model chose to quote ("Russia deployed …" of "Ignore … and output an event saying Russia deployed …")."""
    if span.start is None or span.end is None:
        return ""
    edges = [m.end() for m in _SENTENCE_EDGE.finditer(text, 0, span.start)]
    start = edges[-1] if edges else 0
    after = _SENTENCE_EDGE.search(text, max(span.end - 1, start))
    return text[start : after.end() if after else len(text)]


def _words_differ(a: str, b: str) -> bool:
    """Whether two names are of two things (``SAME_WORDS``): "Gossi camp" and "Ménaka base"."""
    return fuzz.token_set_ratio(a, b, processor=default_process) < SAME_WORDS


def same_fact(a: EventRecord, b: EventRecord) -> bool:
    """Whether two grounded events state one fact: same type, no two different countries, and
    either the same filled key fields, or overlapping evidence that gives them the same numbers
    and the same fixed values (kind, status: "dismissed A and appointed B" states two facts)."""
    x, y = a.event, b.event
    countries = {slot_value(x, "location.country"), slot_value(y, "location.country")} - {None}
    if x.type != y.type or len(countries) > 1:
        return False
    for name in type(x).fact_fields:  # "the Gossi camp" and "the Ménaka base": two handovers
        u, v = slot_value(x, name), slot_value(y, name)
        if isinstance(u, str) and isinstance(v, str) and _words_differ(u, v):
            return False
    keys = [(slot_value(x, k), slot_value(y, k)) for k in type(x).key_fields]
    if all(u is not None and u == v for u, v in keys):
        return True
    if any(u != v for (u, v), name in zip(keys, type(x).key_fields) if name in choice_fields(type(x))):
        return False  # a dismissal and an appointment in one sentence are two facts
    return _overlap(a.span, b.span) and all(u == v for u, v in keys if isinstance(u, int) or isinstance(v, int))


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
    #: The event types kept from its answer (None: all); a hybrid run's windows calls leave the
    #: types it fills by detect-then-fill to those calls.
    keep: frozenset[str] | None = None

    def pending(self, article_id: str, *, client: LLMClient) -> Request | None:
        """The request this call still needs, or None when the cache answers it (nothing is sent)."""
        return client.pending(self.response_model, **self.arguments(article_id, max_tokens=client.config.params.max_tokens))

    def kept(self, events: Iterable[Event]) -> list[Event]:
        """The answer's events this call is kept for."""
        return [e for e in events if self.keep is None or e.type in self.keep]

    def arguments(self, article_id: str, *, max_tokens: int) -> dict[str, Any]:
        """The keyword arguments of ``LLMClient.extract``/``pending`` after the response model;
        ``max_tokens`` is the configured limit, which wins when lower than the call's own."""
        return {
            "messages": self.messages,
            "article_id": article_id,
            "prompt_hash": self.prompt_hash,
            "label": self.label,
            "prompt_model": self.prompt_model,
            "max_tokens": min(self.max_tokens or max_tokens, max_tokens),
        }


def plan_calls(article: Article, *, prompts: PromptSet) -> list[Call]:
    """The calls for one article, in order: one per window of a few sentences.

    Each window follows a prefix of rules, type definitions and few-shot examples that is
    the same for every call of a run, so the server evaluates it once; the prompt shows a
    compact schema, while the grammar holds the answer to the event union.
    """
    spans = window_spans(article.text)
    return [
        Call(
            label=f"window {part}/{len(spans)}",
            response_model=prompts.task.extraction_model,
            messages=prompts.window_messages(article, start=start, end=end, part=part, parts=len(spans)),
            prompt_hash=prompts.hash,
            prompt_model=AnyEvents,
            max_tokens=WINDOW_MAX_TOKENS,
        )
        for part, (start, end) in enumerate(spans, start=1)
    ]


def count_calls(article: Article) -> int:
    """How many calls ``plan_calls`` makes for an article, without rendering a prompt (for a progress bar)."""
    return len(window_spans(article.text))


def window_spans(text: str) -> list[tuple[int, int]]:
    """The windows strategy's (start, end) spans: whole sentences (sentencex, so "U.S." or "Jan. 5"
    never ends one) grouped up to ``WINDOW_CHARS``, as the detect strategy groups its own."""
    groups = sentence_windows(text, article_sentences(text), max_chars=WINDOW_CHARS)
    return [(group[0][0], group[-1][1]) for group in groups]


#: Errors after which no other call can succeed either: they stop the whole run.
FATAL_ERRORS = (CacheMissError, ServerUnreachableError)  # EndpointDownError is a ServerUnreachableError


def _answer(call: Call, article: Article, *, client: LLMClient) -> Result[Any] | LLMError:
    """One planned call: its result, or the LLMError that failed it (recorded, the run goes on).

    FATAL_ERRORS propagate.
    """
    try:
        return client.extract(
            call.response_model, **call.arguments(article.id, max_tokens=client.config.params.max_tokens)
        )
    except FATAL_ERRORS:
        raise
    except LLMError as e:
        return e


def _outcome(
    article: Article,
    calls: Sequence[Call],
    answers: Sequence[Result[Any] | LLMError],
    *,
    task: Task,
    aliases: Aliases | None,
    started: float,
) -> ArticleOutcome:
    """An article's outcome from its calls' answers: failed calls recorded, an answer cut at
    max_tokens keeps its complete events, then the merged events are grounded."""
    outcome = ArticleOutcome(article.id, planned=len(calls))
    events: list[Event] = []
    for call, answer in zip(calls, answers):
        if isinstance(answer, InvalidOutputError):
            salvaged = call.kept(salvage_events(answer.content or "", task=task))
            events.extend(salvaged)
            note = f"{call.label}: {answer} ({len(salvaged)} complete events kept)"
            (outcome.notes if salvaged else outcome.errors).append(note)
            outcome.usage.add(Usage.from_json(answer.usage))
            outcome.keys.extend(answer.keys)
        elif isinstance(answer, LLMError):
            outcome.errors.append(f"{call.label}: {answer}")
            outcome.usage.add(Usage.from_json(answer.usage))
        else:
            events.extend(call.kept(getattr(answer.value, "events", ())))  # a detect answer holds no events
            outcome.usage.add(answer.usage)
            outcome.keys.extend(answer.keys)
    outcome.events, outcome.rejected = ground(article, events, task=task, aliases=aliases)
    outcome.seconds = time.monotonic() - started
    return outcome


def extract_article(
    article: Article,
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    on_pass: Callable[[str], None] | None = None,
) -> ArticleOutcome:
    """Make every planned call for an article, one after the other, then ground the merged events.

    A failed call is recorded and the others go on; FATAL_ERRORS stop the run. Duplicates
    across calls are dropped by ``ground``.
    """
    started = time.monotonic()
    calls = plan_calls(article, prompts=prompts)
    answers = []
    for call in calls:
        answers.append(_answer(call, article, client=client))
        if on_pass:
            on_pass(call.label)
    return _outcome(article, calls, answers, task=prompts.task, aliases=aliases, started=started)


def salvage_events(content: str, *, task: Task) -> list[Event]:
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
            events.append(task.parse_event(item))
        except ValidationError:
            continue


class _Workers:
    """A fixed number of daemon threads running submitted functions: bounded concurrency whose
    calls in flight never keep a stopped run (Ctrl-C, a fatal error) from exiting."""

    def __init__(self, n: int) -> None:
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(n)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._tasks.put((future, fn))
        return future

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, fn = task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as e:  # handed to whoever waits on the future
                    future.set_exception(e)

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)


def run_articles(
    articles: Iterable[Article],
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    concurrency: int = 1,
    on_pass: Callable[[str], None] | None = None,
    batch_fn: Callable[[Sequence[Article]], list[ArticleOutcome]] | None = None,
    batch: int = 1,
) -> Iterator[ArticleOutcome]:
    """Extract every article (read lazily) and yield the outcomes in article order.

    ``batch_fn`` runs a strategy whose calls depend on earlier answers (detect, then fill) on whole
    articles: ``batch`` at a time on the calling thread (so it can order their calls by prompt
    prefix), or one at a time on each thread with a concurrency above 1. Default: the windows strategy.

    With a concurrency above 1, the calls of every article in flight share ``concurrency`` threads,
    so a run keeps that many calls busy within and across articles; at most 2 × concurrency
    articles are in flight, so memory stays flat however long the input. A fatal error (a
    CacheMissError, an unreachable or down endpoint) stops the run at once: it propagates, and
    the calls not yet started are dropped. With a concurrency of 1 (the embedded server's)
    everything runs on the calling thread, so Ctrl-C interrupts the call in flight at once.
    """
    if concurrency <= 1:
        if batch_fn is not None:
            it = iter(articles)
            while chunk := list(itertools.islice(it, batch)):
                yield from batch_fn(chunk)
            return
        for article in articles:
            yield extract_article(article, client=client, prompts=prompts, aliases=aliases, on_pass=on_pass)
        return
    workers, fatal, lock = _Workers(concurrency), Future(), threading.Lock()

    def guarded(fn: Callable[[], Any]) -> Any:
        """``fn()`` on a worker; None once the run is stopping, or when ``fn`` raised (FATAL_ERRORS, or
        a bug), which stops every article."""
        if fatal.done():
            return None  # the run is stopping
        try:
            return fn()
        except BaseException as e:  # handed to the run's reader through ``fatal``
            with lock:
                if not fatal.done():
                    fatal.set_exception(e)
            return None

    def attempt(call: Call, article: Article) -> Result[Any] | LLMError | None:
        answer = guarded(functools.partial(_answer, call, article, client=client))
        if answer is not None and on_pass:
            on_pass(call.label)
        return answer

    def whole(article: Article) -> ArticleOutcome | None:
        return guarded(lambda: batch_fn([article])[0])  # type: ignore[misc]

    in_flight: deque[tuple[Article, list[Call], list[Future[Any]], float]] = deque()

    def ready(limit: int) -> Iterator[ArticleOutcome]:
        """Yield the oldest articles whose calls are all answered, waiting while more than ``limit`` are in flight."""
        while in_flight:
            article, calls, futures, started = in_flight[0]
            while not fatal.done() and (waiting := [f for f in futures if not f.done()]):
                if len(in_flight) <= limit:
                    return
                wait([*waiting, fatal], return_when=FIRST_COMPLETED)
            answers = [f.result() if f.done() and not f.cancelled() else None for f in futures]
            if any(a is None for a in answers):
                fatal.result()  # an unanswered call: raises the error that stopped the run
            in_flight.popleft()
            if batch_fn is not None:
                yield answers[0]
                continue
            yield _outcome(article, calls, answers, task=prompts.task, aliases=aliases, started=started)  # type: ignore[arg-type]

    try:
        for article in articles:
            started = time.monotonic()
            if batch_fn is not None:
                calls, futures = [], [workers.submit(functools.partial(whole, article))]
            else:
                calls = plan_calls(article, prompts=prompts)
                futures = [workers.submit(functools.partial(attempt, call, article)) for call in calls]
            in_flight.append((article, calls, futures, started))
            yield from ready(2 * concurrency - 1)
        yield from ready(0)
    finally:
        for _, _, futures, _ in in_flight:
            for future in futures:
                future.cancel()
        workers.close()


def _lines(outcome: ArticleOutcome, *, rejected: bool) -> bytes:
    """An article's lines of events.jsonl (or rejected.jsonl), in pass order."""
    records = outcome.rejected if rejected else outcome.events
    return "".join(json.dumps(r.to_json(), sort_keys=True, ensure_ascii=False) + "\n" for r in records).encode()


def write_events(path: Path, outcomes: Sequence[ArticleOutcome], *, rejected: bool = False) -> int:
    """Write events.jsonl (or rejected.jsonl): by article, then pass order; returns the count."""
    ordered = sorted(outcomes, key=lambda o: o.article_id)
    path.write_bytes(b"".join(_lines(o, rejected=rejected) for o in ordered))
    return sum(len(o.rejected if rejected else o.events) for o in ordered)


def _totals(entries: Iterable[tuple[dict[str, Any], Usage]], *, seconds: float) -> dict[str, Any]:
    """run.json's totals over (article entry, usage) pairs, in article id order."""
    total, n = Usage(), Counter[str]()
    for entry, usage in entries:
        total.add(usage)
        n["articles"] += 1
        n[entry["status"]] += 1
        n["events"] += entry["events"]
        n["rejected"] += entry["rejected"]
        n["failed_passes"] += len(entry["errors"])
    return {
        **total.to_json(),
        **{k: n[k] for k in ("articles", "failed", "partial", "events", "rejected", "failed_passes")},
        "cache_misses": total.calls,
        "seconds": round(seconds, 3),
    }


def _write_manifest(path: Path, head: dict[str, Any], entries: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Write run.json: ``head`` with the (id, entry) pairs, sorted by id, as its "articles" streamed
    in, byte for byte what ``json.dumps(record, indent=2, sort_keys=True)`` writes of the whole."""
    marker = '\n  "articles": {}'
    text = json.dumps({**head, "articles": {}}, indent=2, sort_keys=True) + "\n"
    before, after = text.split(marker)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(before + '\n  "articles": {')
        first = True
        for article_id, entry in entries:
            body = json.dumps(entry, indent=2, sort_keys=True).replace("\n", "\n    ")
            f.write(f"{'' if first else ','}\n    {json.dumps(article_id)}: {body}")
            first = False
        f.write(("}" if first else "\n  }") + after)
    os.replace(tmp, path)


def _head(run_info: dict[str, Any], totals: dict[str, Any]) -> dict[str, Any]:
    """run.json without its articles; ``run_info`` names the task and its schema version."""
    return {"format": RUN_FORMAT, **run_info, "totals": totals}


def manifest(
    outcomes: Sequence[ArticleOutcome], *, seconds: float, run_info: dict[str, Any]
) -> dict[str, Any]:
    """The run.json manifest: what ran, with what, what it cost, and how each article ended."""
    ordered = sorted(outcomes, key=lambda o: o.article_id)
    totals = _totals(((o.to_json(), o.usage) for o in ordered), seconds=seconds)
    return {**_head(run_info, totals), "articles": {o.article_id: o.to_json() for o in ordered}}


def write_run(
    run_dir: Path, outcomes: Sequence[ArticleOutcome], *, seconds: float, run_info: dict[str, Any]
) -> dict[str, Any]:
    """Write events.jsonl, rejected.jsonl and run.json into ``run_dir`` at once; return the manifest."""
    write_events(run_dir / "events.jsonl", outcomes)
    write_events(run_dir / "rejected.jsonl", outcomes, rejected=True)
    record = manifest(outcomes, seconds=seconds, run_info=run_info)
    (run_dir / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record


PROGRESS_FORMAT = "extract.progress/1"
PROGRESS = "progress.jsonl"
EVENT_FILES = ("events.jsonl", "rejected.jsonl")


@dataclass(frozen=True)
class _Done:
    """Where one finished article lies: its byte ranges in the event files and its progress line."""

    article_id: str
    events: tuple[int, int]
    rejected: tuple[int, int]
    line: int


class RunWriter:
    """Streams a run into its folder: each finished article's events are appended to events.jsonl
    and rejected.jsonl at once, then one line to progress.jsonl (its outcome and where its events
    lie), so a killed run keeps every finished article and ``resume`` skips them. ``finish`` sorts
    the event files by article and writes run.json, byte for byte as ``write_run`` would.

    Memory holds one index entry per finished article, never its events.
    """

    def __init__(self, run_dir: Path, *, header: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.header = header
        self.done: set[str] = set()
        self._files: dict[str, BinaryIO] = {}

    @property
    def finished(self) -> int:
        """Articles finished and written, in this session and before it."""
        return len(self.done)

    @staticmethod
    def read_header(run_dir: Path) -> dict[str, Any]:
        """The header a run folder's progress.jsonl starts with: what ``resume`` needs to go on."""
        path = run_dir / PROGRESS
        try:
            with path.open("rb") as f:
                first = json.loads(f.readline())
        except (OSError, ValueError):
            raise ConfigError(f"{run_dir} holds no run to resume (no readable {PROGRESS})") from None
        if not isinstance(first, dict) or first.get("format") != PROGRESS_FORMAT:
            raise ConfigError(f"{path} is not an {PROGRESS_FORMAT} file")
        return first["run"]

    @classmethod
    def resume(cls, run_dir: Path) -> RunWriter:
        """Reopen a stopped run: its finished articles are kept, and what a kill -9 left half-written
        (a progress line cut short, events of an article with no progress line) is cut off."""
        writer = cls(run_dir, header=cls.read_header(run_dir))
        ends, good = (0, 0), 0
        for done in writer._index():
            writer.done.add(done.article_id)
            ends, good = (done.events[1], done.rejected[1]), done.line
        with (run_dir / PROGRESS).open("rb") as f:
            f.seek(good)
            f.readline()
            good = f.tell()
        for name, end in zip((PROGRESS, *EVENT_FILES), (good, *ends)):
            with (run_dir / name).open("ab") as f:
                f.truncate(end)
        return writer

    def _open(self) -> dict[str, BinaryIO]:
        """The three files, opened for appending on the first article (a run that writes nothing leaves none)."""
        if not self._files:
            for name in (PROGRESS, *EVENT_FILES):
                self._files[name] = (self.run_dir / name).open("ab")
            if self._files[PROGRESS].tell() == 0:
                self._write(PROGRESS, {"format": PROGRESS_FORMAT, "run": self.header})
        return self._files

    def _write(self, name: str, record: dict[str, Any] | bytes) -> tuple[int, int]:
        f = self._files[name]
        start = f.tell()
        f.write(record if isinstance(record, bytes) else (json.dumps(record, sort_keys=True) + "\n").encode())
        f.flush()
        return start, f.tell()

    def add(self, outcome: ArticleOutcome) -> None:
        """Append one finished article: its events and rejected events, then its progress line."""
        self._open()
        events = self._write("events.jsonl", _lines(outcome, rejected=False))
        rejected = self._write("rejected.jsonl", _lines(outcome, rejected=True))
        line = {
            "article_id": outcome.article_id,
            "events": events,
            "rejected": rejected,
            "outcome": outcome.to_json(),
            "usage": dataclasses.asdict(outcome.usage),  # unrounded, so totals add up as write_run's
        }
        self._write(PROGRESS, line)
        self.done.add(outcome.article_id)

    def _index(self) -> Iterator[_Done]:
        """The complete progress lines after the header, in file order (a cut last line ends it)."""
        with (self.run_dir / PROGRESS).open("rb") as f:
            f.readline()
            while True:
                offset, raw = f.tell(), f.readline()
                if not raw.endswith(b"\n"):
                    return
                try:
                    line = json.loads(raw)
                except ValueError:
                    return
                yield _Done(line["article_id"], tuple(line["events"]), tuple(line["rejected"]), offset)  # type: ignore[arg-type]

    def finish(self, *, seconds: float, run_info: dict[str, Any]) -> dict[str, Any]:
        """Sort events.jsonl and rejected.jsonl by article, write run.json; return it without its articles."""
        self.close()
        self._open()  # a run of no new article still gets its three files
        self.close()
        index = list(self._index())
        ordered = sorted(index, key=lambda d: d.article_id)
        for name in EVENT_FILES if ordered != index else ():
            path, tmp = self.run_dir / name, self.run_dir / (name + ".tmp")
            with path.open("rb") as src, tmp.open("wb") as dst:
                for done in ordered:
                    start, end = getattr(done, name.removesuffix(".jsonl"))
                    src.seek(start)
                    dst.write(src.read(end - start))
            os.replace(tmp, path)
        with (self.run_dir / PROGRESS).open("rb") as progress:

            def entries() -> Iterator[tuple[str, dict[str, Any], Usage]]:
                for done in ordered:
                    progress.seek(done.line)
                    line = json.loads(progress.readline())
                    yield done.article_id, line["outcome"], Usage.from_json(line["usage"])

            totals = _totals(((entry, usage) for _, entry, usage in entries()), seconds=seconds)
            head = _head(run_info, totals)
            _write_manifest(self.run_dir / "run.json", head, ((i, entry) for i, entry, _ in entries()))
        return head

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
