"""langextract as a baseline: its OpenAI-compatible provider, our few-shot examples, schema v1 out.

The only module that imports langextract. Its SDK client is swapped for one whose HTTP
transport is the response cache (``llm.RecordingTransport``), so its calls are recorded and
replay offline like ours. Extractions become schema v1 events: the class is the type, the
extraction text the evidence, the attributes the fields.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

import langextract as lx
from langextract.core.exceptions import LangExtractError
from langextract.providers.openai import OpenAILanguageModel
from pydantic import ValidationError
from rapidfuzz import fuzz, process

from extract.config import Config
from extract.documents import Article
from extract.errors import ExtractError, LLMError
from extract.llm import RecordingTransport, Usage, recording_openai_client
from extract.prompts import Example, PromptSet
from extract.schema import Event
from extract.task import Task

#: langextract's own defaults, kept: the baseline is what a user gets out of the box.
MAX_CHAR_BUFFER = 1000
LOCATION_ATTRIBUTES = ("country", "place")


def _attribute(value: Any) -> str | list[str]:
    return [str(v) for v in value] if isinstance(value, list) else str(value)


def to_example(example: Example) -> lx.data.ExampleData:
    """One of our examples in langextract's form: fields become string attributes."""
    extractions = []
    for event in example.events:
        fields = event.model_dump(exclude_none=True, exclude={"type", "evidence", "location"})
        if event.location is not None:
            fields |= event.location.model_dump(exclude_none=True)
        extractions.append(
            lx.data.Extraction(
                extraction_class=event.type,
                extraction_text=event.evidence,
                attributes={k: _attribute(v) for k, v in fields.items()},
            )
        )
    return lx.data.ExampleData(text=example.text, extractions=extractions)


NULL_WORDS = frozenset({"", "null", "none", "n/a", "unknown", "not specified", "not given"})


def _choice(value: str, choices: tuple[str, ...]) -> str:
    """A free-text enum value as the closest choice ("rockets" -> rocket), else as given."""
    word = value.strip().lower().replace(" ", "_").replace("-", "_")
    for candidate in (word, word.removesuffix("s")):
        if candidate in choices:
            return candidate
    best = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=70)
    return best[0] if best else "other" if "other" in choices else value


def _value(value: Any, annotation: Any) -> Any:
    """An attribute string as the field wants it: "1,100" -> 1100, "a, b" -> a list, "unknown" -> None."""
    if isinstance(value, str) and value.strip().lower() in NULL_WORDS:
        return None
    choices = next((get_args(a) for a in (annotation, *get_args(annotation)) if get_origin(a) is Literal), None)
    if choices and isinstance(value, str):
        return _choice(value, choices)
    text = repr(annotation)
    if "int" in text and isinstance(value, str):
        digits = re.sub(r"(?<=\d)[,\s](?=\d{3})", "", value.strip())
        return int(digits) if digits.isdigit() else value
    if "list" in text and isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def to_event(extraction: lx.data.Extraction, *, task: Task) -> Event | None:
    """A langextract extraction as an event of the task, or None when it cannot be one.

    An optional field whose value does not fit (a date like "Sept. 23") is dropped, as a
    lenient user would; an unusable required field makes the extraction invalid.
    """
    cls = task.by_type.get(extraction.extraction_class)
    if cls is None:
        return None
    attributes = dict(extraction.attributes or {})
    data: dict[str, Any] = {"type": extraction.extraction_class, "evidence": extraction.extraction_text}
    country, place = (_value(attributes.pop(name, None) or "", str) for name in LOCATION_ATTRIBUTES)
    if country:
        data["location"] = {"country": str(country), "place": place}
    for name, value in attributes.items():
        if name in cls.model_fields and name not in ("type", "evidence", "location"):
            data[name] = _value(value, cls.model_fields[name].annotation)
    data = {k: v for k, v in data.items() if v is not None}
    while True:
        try:
            return task.parse_event(data)
        except ValidationError as e:
            bad = {str(err["loc"][1]) for err in e.errors() if len(err["loc"]) > 1}
            droppable = {f for f in bad if f in data and not cls.model_fields[f].is_required()}
            if not droppable or droppable != bad:
                return None
            data = {k: v for k, v in data.items() if k not in droppable}


def _cause(error: BaseException) -> ExtractError | None:
    """The ExtractError (e.g. an offline cache miss) langextract and the SDK wrapped, if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ExtractError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class LangExtract:
    """langextract, configured once for a run, pointed at our (recorded) model endpoint."""

    def __init__(self, config: Config, *, prompts: PromptSet, transport: RecordingTransport) -> None:
        self.transport = transport
        self.task = prompts.task
        self.description = prompts.langextract_description()
        self.examples = [to_example(e) for e in prompts.examples()]
        self.model = OpenAILanguageModel(
            model_id=config.model,
            api_key=config.api_key or "not-needed",
            temperature=config.params.temperature,
            max_workers=1,
            seed=config.params.seed,
            max_output_tokens=config.params.max_tokens,
        )
        # langextract builds its own SDK client and takes no transport: replace it with ours.
        self.model._client = recording_openai_client(transport)
        logging.getLogger("absl").setLevel(logging.ERROR)  # its per-chunk warnings would break the progress display

    @property
    def usage(self) -> Usage:
        """What every call so far cost (counted by the transport)."""
        return self.transport.usage

    def extractions(self, article: Article) -> Iterator[lx.data.Extraction]:
        """langextract's raw extractions for one article (calls recorded under its id)."""
        self.transport.article_id = article.id
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="'use_schema_constraints' is ignored", category=UserWarning)
            try:
                document = lx.extract(
                    article.text,
                    prompt_description=self.description,
                    examples=self.examples,
                    model=self.model,
                    max_char_buffer=MAX_CHAR_BUFFER,
                    max_workers=1,
                    show_progress=False,
                )
            except LangExtractError as e:
                raise _cause(e) or LLMError(f"langextract failed: {e}", article_id=article.id) from e
        yield from document.extractions or ()

    def extract(self, article: Article) -> tuple[list[Event], int]:
        """The task's events of one article, and how many extractions did not map onto the schema."""
        events, invalid = [], 0
        for extraction in self.extractions(article):
            event = to_event(extraction, task=self.task)
            if event is None:
                invalid += 1
            else:
                events.append(event)
        return events, invalid
