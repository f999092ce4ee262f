"""The detect-then-fill strategy: small questions a small model answers well.

1. Detect: the article is cut into windows of whole sentences (``extract.sentences``); for each
   window the model names the types of event it reports (the grammar holds the answer to the
   task's type names; none is an empty list).
2. Fill: for each type, and each window that reports it, the model fills only that type's
   events (the grammar holds it to that type), after the sentence before as context.

Articles go in batches (``BATCH``): every detection of the batch first, then the fills type by
type across it, so a server that keeps one prompt prefix (llama.cpp) reads each prefix (the
detection rules, or one type's definition and few-shot turns: ~1,500-2,000 tokens, ~40 s on 2
cores) once per batch. The events are grounded as the windows strategy's are.

The hybrid strategy detects in the same way but only the task's ``detect_types``; it takes the
other types from the windows strategy's calls (``extract.pipeline.plan_calls``), asked first in
the batch. A type of the task's ``fill_cues`` is also filled, with no detect call, in every window
whose words report it: the windows calls' events and the fills' are both kept, and a fact quoted
twice is kept once when grounded.

The thorough strategy is the hybrid with every type detected and filled, beside every event of
the windows calls: more events found on articles nobody tuned on, for about 1.8 times the hybrid's
calls and 1.7 times its server time (README, "After the held-out check").

A window that, with its context, holds no cue word of a type (``Task.type_cues``) is never
filled for it, and one with no cue word of any type filled is not asked to detect: an event whose
quote holds no cue word of its type is rejected anyway, so those calls could only cost time.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from extract.aliases import Aliases
from extract.config import WINDOW_MAX_TOKENS
from extract.documents import Article
from extract.llm import LLMClient, Request, Result
from extract.normalize import type_cue_pattern
from extract.pipeline import ArticleOutcome, Call, _answer, _outcome, plan_calls
from extract.pipeline import count_calls as count_window_calls
from extract.prompts import PromptSet
from extract.sentences import Span, article_sentences, sentence_windows
from extract.task import Task

STRATEGY = "detect"
#: Articles whose calls are ordered together by prefix: more reuses each prefix longer, fewer
#: streams the results sooner (a batch's outcomes come when its last fill is answered).
BATCH = 32
#: A detect window: one to three whole sentences. Tried first on one dev article (dev03): numbered
#: sentences in 500-character windows (the model named the wrong sentence in 1 of 4 windows), then
#: the types of 600-character windows (it named 1 or 2 types where the gold has 4 or 5).
DETECT_CHARS = 300
#: A detect answer names a few type names.
DETECT_MAX_TOKENS = 64


def detect_windows(article: Article) -> list[list[Span]]:
    """The article's sentences, grouped into detect windows."""
    return sentence_windows(article.text, article_sentences(article.text), max_chars=DETECT_CHARS)


def count_calls(article: Article, *, task: Task, strategy: str = STRATEGY) -> int:
    """The detect calls of an article (and a hybrid or thorough run's windows calls and the fills
    its cue words route): the fills of detected types are known only once detection has answered."""
    work = _Work.of(article)
    detects = len(work.asked(task, detected_types(task, strategy=strategy)))
    return detects + (count_window_calls(article) + work.routed(task) if strategy != STRATEGY else 0)


def detected_types(task: Task, *, strategy: str) -> tuple[str, ...]:
    """The types detect calls look for, in the task's order: all of them, or the hybrid's."""
    return tuple(t for t in task.event_types if strategy != "hybrid" or t in task.detect_types)


def fill_types(task: Task, *, strategy: str) -> tuple[str, ...]:
    """The types filled, in the task's order: the detected ones and those the task's cue words
    route to a fill (``Task.fill_cues``, for the hybrid and the thorough)."""
    routed = task.fill_cues if strategy != STRATEGY else {}
    return tuple(t for t in task.event_types if t in detected_types(task, strategy=strategy) or t in routed)


def detect_calls(article: Article, prompts: PromptSet, *, strategy: str = STRATEGY) -> list[Call]:
    """An article's detect calls, one per detect window that holds a cue word of a type detected."""
    return [call for _, call in _Work.of(article).detect_calls(prompts, detected_types(prompts.task, strategy=strategy))]


def routed_calls(article: Article, prompts: PromptSet) -> list[Call]:
    """A hybrid run's fills that its cue words route (``Task.fill_cues``): known before any answer."""
    work = _Work.of(article)
    work.routed(prompts.task)
    return [call for event_type in prompts.task.fill_cues for call in work.fill_calls(prompts, event_type)]


def window_calls(article: Article, prompts: PromptSet, *, strategy: str = "hybrid") -> list[Call]:
    """A hybrid run's windows calls, kept for the types it does not fill by detect-then-fill (a
    thorough run keeps them all)."""
    if strategy == "thorough":
        return plan_calls(article, prompts=prompts)
    others = frozenset(prompts.task.event_types) - set(prompts.task.detect_types)
    return [dataclasses.replace(call, keep=others) for call in plan_calls(article, prompts=prompts)]


@dataclass
class _Work:
    """One article of a batch: its windows, the sentence before each, and its calls so far."""

    article: Article
    windows: list[tuple[int, int]]
    context: list[str]
    started: float = field(default_factory=time.monotonic)
    found: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    calls: list[Call] = field(default_factory=list)
    answers: list[Result | Exception] = field(default_factory=list)

    @classmethod
    def of(cls, article: Article) -> _Work:
        groups = detect_windows(article)
        # The sentence before each window: it often names the country or force of the window's facts.
        context = [article.text[slice(*groups[i - 1][-1])] if i else "" for i in range(len(groups))]
        return cls(article, [(g[0][0], g[-1][1]) for g in groups], context)

    def cued(self, task: Task, event_type: str, part: int) -> bool:
        """Whether a window or its context (a fill may quote either) holds a cue word of a type (a
        type without cue words: always)."""
        pattern = type_cue_pattern(task, event_type)
        text = f"{self.context[part - 1]} {self.article.text[slice(*self.windows[part - 1])]}"
        return pattern is None or pattern.search(text) is not None

    def asked(self, task: Task, types: Sequence[str]) -> list[int]:
        """The windows worth a detect call: those with a cue word of one of ``types``."""
        return [part for part in range(1, len(self.windows) + 1) if any(self.cued(task, t, part) for t in types)]

    def detect_calls(self, prompts: PromptSet, types: Sequence[str]) -> list[tuple[int, Call]]:
        """One call per window worth it, with its window's number: which types does it report?"""
        n, text = len(self.windows), self.article.text
        return [
            (
                part,
                Call(
                    label=f"detect {part}/{n}",
                    response_model=prompts.task.detection_model,
                    messages=prompts.detect_messages(self.article, text[slice(*self.windows[part - 1])]),
                    prompt_hash=prompts.hash_of(STRATEGY),
                    prompt_model=None,
                    max_tokens=DETECT_MAX_TOKENS,
                ),
            )
            for part in self.asked(prompts.task, types)
        ]

    def routed(self, task: Task) -> int:
        """Note, for each type of the task's ``fill_cues``, the windows whose words report it (a
        fill is asked for each, with no detect call); how many were noted."""
        noted = 0
        for event_type, pattern in task.fill_cue_patterns.items():
            for part, (start, end) in enumerate(self.windows, start=1):
                if (
                    pattern.search(self.article.text, start, end)
                    and part not in self.found[event_type]
                    and self.cued(task, event_type, part)
                ):
                    self.found[event_type].append(part)
                    noted += 1
        return noted

    def detected(self, part: int, answer: Result | Exception, types: Sequence[str]) -> None:
        """Note the types of ``types`` a window's detect call answered (a failed call detects nothing)."""
        if isinstance(answer, Result):
            for event_type in dict.fromkeys(answer.value.types):
                if event_type in types:
                    self.found[event_type].append(part)

    def fill_calls(self, prompts: PromptSet, event_type: str) -> list[Call]:
        """One call per window that reports ``event_type``: its events of that type."""
        calls = []
        for part in self.found[event_type]:
            if not self.cued(prompts.task, event_type, part):
                continue
            start, end = self.windows[part - 1]
            messages = prompts.fill_messages(
                self.article, event_type, text=self.article.text[start:end], context=self.context[part - 1]
            )
            calls.append(
                Call(
                    label=f"fill {event_type} {part}/{len(self.windows)}",
                    response_model=prompts.task.fill_models[event_type],
                    messages=messages,
                    prompt_hash=prompts.hash_of(STRATEGY),
                    prompt_model=None,
                    max_tokens=WINDOW_MAX_TOKENS,
                )
            )
        return calls


def detect_batch(
    articles: Sequence[Article],
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    on_pass: Callable[[str], None] | None = None,
    strategy: str = STRATEGY,
) -> list[ArticleOutcome]:
    """Detect in every window of every article, then fill type by type across the batch, then ground
    each article. Ordering the calls by prompt prefix means a server that keeps one prefix (llama.cpp)
    reads each type's definition and examples once per batch, not once per article. A hybrid or
    thorough ``strategy``: the windows calls of every article first (and, for the hybrid, detection
    and fills for the task's ``detect_types`` only)."""
    windows = strategy != STRATEGY
    work = [_Work.of(article) for article in articles]

    def ask(item: _Work, call: Call) -> Result | Exception:
        answer = _answer(call, item.article, client=client)
        item.calls.append(call)
        item.answers.append(answer)
        if on_pass:
            on_pass(call.label)
        return answer

    if windows:
        for item in work:
            for call in window_calls(item.article, prompts, strategy=strategy):
                ask(item, call)
    detected = detected_types(prompts.task, strategy=strategy)
    for item in work:
        for part, call in item.detect_calls(prompts, detected):
            item.detected(part, ask(item, call), detected)
        if windows:
            item.routed(prompts.task)
    for event_type in fill_types(prompts.task, strategy=strategy):  # type by type: one prompt prefix for a run of calls
        for item in work:
            for call in item.fill_calls(prompts, event_type):
                ask(item, call)
    return [
        _outcome(item.article, item.calls, item.answers, task=prompts.task, aliases=aliases, started=item.started)
        for item in work
    ]


def batch_runner(
    strategy: str,
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    on_pass: Callable[[str], None] | None = None,
) -> Callable[[Sequence[Article]], list[ArticleOutcome]]:
    """``detect_batch`` for the detect, hybrid or thorough strategy, bound to a run's client and prompts."""
    return functools.partial(
        detect_batch, client=client, prompts=prompts, aliases=aliases, on_pass=on_pass, strategy=strategy
    )


def pending_requests(
    article: Article, *, client: LLMClient, prompts: PromptSet, strategy: str = STRATEGY
) -> Iterator[Request | None]:
    """For each call an article needs as far as the cache knows, the request it still needs (None:
    the cache answers it): its detect calls (and a hybrid's or thorough's windows calls), then, once
    the cache answers all detect calls, its fill calls (what ``extract batch export`` writes, round by round)."""
    item, windows = _Work.of(article), strategy != STRATEGY
    if windows:
        for call in window_calls(article, prompts, strategy=strategy):
            yield call.pending(article.id, client=client)
    detected = detected_types(prompts.task, strategy=strategy)
    calls = item.detect_calls(prompts, detected)
    requests = [c.pending(article.id, client=client) for _, c in calls]
    yield from requests
    if any(requests):
        return
    for part, call in calls:
        item.detected(part, _answer(call, article, client=client), detected)  # from the cache: nothing is sent
    if windows:
        item.routed(prompts.task)
    for event_type in fill_types(prompts.task, strategy=strategy):
        for call in item.fill_calls(prompts, event_type):
            yield call.pending(article.id, client=client)


def detect_article(
    article: Article,
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    on_pass: Callable[[str], None] | None = None,
    strategy: str = STRATEGY,
) -> ArticleOutcome:
    """One article alone: a batch of one."""
    (outcome,) = detect_batch([article], client=client, prompts=prompts, aliases=aliases, on_pass=on_pass, strategy=strategy)
    return outcome
