"""The detect-then-fill strategy: small questions a small model answers well.

1. Detect: the article is cut into windows of whole sentences (``extract.sentences``); for each
   window the model names the types of event it reports (the grammar holds the answer to the
   task's type names; none is an empty list).
2. Fill: for each type, and each window that reports it, the model fills only that type's
   events (the grammar holds it to that type), after the sentence before as context.

Calls are made type by type, so the server keeps one prompt prefix (a type's definition and its
few-shot turns) for a run of calls. The events are grounded as the windows strategy's are.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from extract.aliases import Aliases
from extract.config import WINDOW_MAX_TOKENS
from extract.documents import Article
from extract.llm import LLMClient, Result
from extract.pipeline import ArticleOutcome, Call, _answer, _outcome
from extract.prompts import PromptSet
from extract.sentences import Span, sentence_spans, sentence_windows

STRATEGY = "detect"
#: A detect window: one to three whole sentences. Tried first on one dev article (dev03): numbered
#: sentences in 500-character windows (the model named the wrong sentence in 1 of 4 windows), then
#: the types of 600-character windows (it named 1 or 2 types where the gold has 4 or 5).
DETECT_CHARS = 300
#: A detect answer names a few type names.
DETECT_MAX_TOKENS = 64


def detect_windows(article: Article) -> list[list[Span]]:
    """The article's sentences, grouped into detect windows."""
    return sentence_windows(article.text, sentence_spans(article.text), max_chars=DETECT_CHARS)


def count_calls(article: Article) -> int:
    """The detect calls of an article: the fills are known only once they have answered."""
    return len(detect_windows(article))


def detect_article(
    article: Article,
    *,
    client: LLMClient,
    prompts: PromptSet,
    aliases: Aliases | None = None,
    on_pass: Callable[[str], None] | None = None,
) -> ArticleOutcome:
    """Detect the types each window reports, fill each type's events window by window, then ground them all."""
    started, task, text = time.monotonic(), prompts.task, article.text
    prompt_hash = prompts.hash_of(STRATEGY)
    groups = detect_windows(article)
    windows = [(group[0][0], group[-1][1]) for group in groups]
    # The sentence before each window: it often names the country or force the window's facts are about.
    context = [text[slice(*groups[i - 1][-1])] if i else "" for i in range(len(groups))]
    calls: list[Call] = []
    answers: list[Result | Exception] = []

    def ask(call: Call) -> Result | Exception:
        answer = _answer(call, article, client=client)
        calls.append(call)
        answers.append(answer)
        if on_pass:
            on_pass(call.label)
        return answer

    found: dict[str, list[int]] = defaultdict(list)
    for part, (start, end) in enumerate(windows, start=1):
        answer = ask(
            Call(
                label=f"detect {part}/{len(windows)}",
                response_model=task.detection_model,
                messages=prompts.detect_messages(article, text[start:end]),
                prompt_hash=prompt_hash,
                prompt_model=None,
                max_tokens=DETECT_MAX_TOKENS,
            )
        )
        if isinstance(answer, Result):
            for event_type in dict.fromkeys(answer.value.types):
                found[event_type].append(part)
    for event_type in task.event_types:  # type by type: one prompt prefix for a run of calls
        for part in found[event_type]:
            start, end = windows[part - 1]
            ask(
                Call(
                    label=f"fill {event_type} {part}/{len(windows)}",
                    response_model=task.fill_models[event_type],
                    messages=prompts.fill_messages(article, event_type, text=text[start:end], context=context[part - 1]),
                    prompt_hash=prompt_hash,
                    prompt_model=None,
                    max_tokens=WINDOW_MAX_TOKENS,
                )
            )
    return _outcome(article, calls, answers, task=task, aliases=aliases, started=started)
