"""Batch files for an existing engine: a run's missing calls as an OpenAI Batch API input file, and
the engine's output file loaded into the response cache, so that ``extract run --offline`` then
finishes the run (the OpenAI Batch API, ``vllm run-batch``, any OpenAI-compatible batch service).

Export plans the calls as the run does (``pipeline.plan_calls``) and asks ``LLMClient.pending`` for
the request each call still needs, so keys and bodies are the ones a live call would use. What
import needs to know of each exported request (what it was for, which model validates its answer)
waits in a pending store beside the response cache (``<cache dir>.batch``, a diskcache Index,
which never evicts) until its answer is stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache

from extract import detect
from extract.cache import ResponseCache, canonical_json
from extract.config import Config
from extract.documents import Article
from extract.errors import BatchError, ConfigError
from extract.files import read_jsonl
from extract.llm import LLMClient, Request
from extract.pipeline import plan_calls
from extract.prompts import PromptSet
from extract.server import model_identity
from extract.task import load_task

#: The endpoint every line of a batch input file names.
BATCH_URL = "/v1/chat/completions"


def _no_model() -> str:
    raise ConfigError("batch export and import never call a model")


def batch_client(config: Config, cache: ResponseCache) -> LLMClient:
    """A client that builds requests and stores answers but cannot send (its endpoint refuses)."""
    identity = model_identity(config)
    return LLMClient(config.with_(cache_policy="default"), cache=cache, endpoint=_no_model, model_identity=identity)


class PendingStore:
    """The exported requests still waiting for an answer, by cache key: what import checks and records."""

    def __init__(self, cache_dir: Path) -> None:
        self.directory = cache_dir.with_name(cache_dir.name + ".batch")
        self._index: diskcache.Index | None = None

    @property
    def index(self) -> diskcache.Index:
        if self._index is None:  # opened lazily, like the response cache
            self._index = diskcache.Index(str(self.directory))
        return self._index

    def put(self, request: Request, *, task: str | None) -> None:
        """Remember an exported request with the task and the name of the response model that validates its answer."""
        record = {"info": request.info, "model": request.response_model.__name__, "task": task}
        self.index[request.key] = canonical_json(record)

    def get(self, key: str) -> Request | None:
        """The request exported under ``key`` (its body is not kept: import does not need it)."""
        entry = self.index.get(key)
        if entry is None:
            return None
        data = json.loads(entry)
        if "task" not in data:
            raise ConfigError(f"pending request {key[:12]} was exported by an older extract: export it again")
        model = load_task(data["task"]).response_model(data.get("model", "Extraction"))
        return Request(key=key, body={}, info=data["info"], response_model=model)

    def remove(self, key: str) -> None:
        self.index.pop(key, None)

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class ExportSummary:
    """What an export found: the planned calls, those the cache answers, the requests written."""

    calls: int
    answered: int
    exported: int


def pending_requests(
    articles: Iterable[Article], *, client: LLMClient, prompts: PromptSet, strategy: str = "windows"
) -> Iterator[Request | None]:
    """For each planned call of the run, in order: the request it still needs, or None when the cache
    answers it. A detect run's fills are planned once the cache holds its detections."""
    for article in articles:
        if strategy != "windows":
            yield from detect.pending_requests(article, client=client, prompts=prompts, strategy=strategy)
            continue
        for call in plan_calls(article, prompts=prompts):
            yield call.pending(article.id, client=client)


def export_batch(
    articles: Iterable[Article],
    out: Path,
    *,
    client: LLMClient,
    prompts: PromptSet,
    pending: PendingStore,
    task_spec: str | None = None,
    strategy: str = "windows",
) -> ExportSummary:
    """Write every planned call the cache does not answer yet as one batch input line (custom_id: the
    cache key; body: the exact request), and remember it in ``pending`` with the task that names it
    (``task_spec``, as ``load_task`` takes it; None for the built-in task). Sends nothing."""
    calls = answered = 0
    keys: set[str] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as f:
            for request in pending_requests(articles, client=client, prompts=prompts, strategy=strategy):
                calls += 1
                if request is None:
                    answered += 1
                elif request.key not in keys:  # identical windows are one request (custom_ids are unique)
                    keys.add(request.key)
                    pending.put(request, task=task_spec)
                    line = {"custom_id": request.key, "method": "POST", "url": BATCH_URL, "body": request.body}
                    # In the body's own key order, never sorted: an engine's grammar follows the order of
                    # the schema's properties, and the discriminator "type" must come first.
                    f.write(json.dumps(line, ensure_ascii=False) + "\n")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return ExportSummary(calls=calls, answered=answered, exported=len(keys))


@dataclass(frozen=True)
class ImportSummary:
    """What an import stored: answers (``invalid`` of them do not validate: their reasks are the
    next export), lines already in the cache, and requests still pending."""

    stored: int
    invalid: int
    already_cached: int
    pending: int


def _failure(record: dict[str, Any]) -> str | None:
    """Why a batch output line holds no answer (an error, a non-200 status), or None."""
    response = record.get("response") or {}
    if record.get("error"):
        error = record["error"]
        return str(error.get("message") or error) if isinstance(error, dict) else str(error)
    if response.get("status_code") != 200:
        return f"HTTP {response.get('status_code')}"
    if not isinstance(response.get("body"), dict):
        return "no response body"
    return None


def import_batch(path: Path, *, config: Config, cache: ResponseCache, pending: PendingStore) -> ImportSummary:
    """Store every answer of a batch output file whose custom_id is a pending request, exactly as a
    live call stores its own. Unknown ids and failed lines are never stored: BatchError lists them
    (after the good lines are stored). A corrupt line stops the import before anything is stored."""
    records = list(read_jsonl(path))
    clients: dict[str, LLMClient] = {}
    problems: list[str] = []
    stored = invalid = already = 0
    for n, record in records:
        key = record.get("custom_id")
        request = pending.get(key) if isinstance(key, str) else None
        if request is None:
            if isinstance(key, str) and cache.get(key) is not None:
                already += 1
            else:
                problems.append(f"{path}:{n}: custom_id {key!r} is not a request exported from this cache")
            continue
        failure = _failure(record)
        if failure is not None:
            call = f"{request.info['article_id']}, {request.info['label']}"
            problems.append(f"{path}:{n}: {key[:12]} ({call}) failed: {failure}")
            continue
        mode = request.info["mode"]
        client = clients.setdefault(mode, batch_client(config.with_(mode=mode), cache))
        try:
            error = client.store(request, record["response"]["body"])
        except ValueError as e:  # pydantic's ValidationError too: not a chat completion
            problems.append(f"{path}:{n}: {key[:12]}: not a chat completion ({str(e).splitlines()[0]})")
            continue
        pending.remove(key)
        stored += 1
        invalid += error is not None
    if problems:
        raise BatchError(
            f"{len(problems)} of {len(records)} lines of {path} not stored ({stored} answers stored): {problems[0]}",
            path=str(path),
            problems=problems,
        )
    return ImportSummary(stored=stored, invalid=invalid, already_cached=already, pending=len(pending))
