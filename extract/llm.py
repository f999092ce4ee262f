"""Structured calls to an OpenAI-compatible endpoint, through the response cache.

The only module that imports openai and instructor. instructor turns the response model
into the request (schema prompt, response format) and parses the answer; every raw
answer is cached under a key of everything that changes it, so replays are byte for byte.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException
from instructor.core.exceptions import ValidationError as InstructorValidationError
from instructor.processing.response import handle_reask_kwargs
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from extract.cache import ResponseCache, cache_key
from extract.config import Config
from extract.errors import CacheMissError, ConfigError, InvalidOutputError, LLMError, ServerUnreachableError

T = TypeVar("T", bound=BaseModel)


@dataclass
class Usage:
    """Token usage and cache accounting of one or more calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cache_hits: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    server_seconds: float = 0.0
    #: Server time the cached responses took when they were recorded.
    cached_server_seconds: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        """The usage an ``LLMError`` carries (``to_json``'s output), unknown keys ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def add(self, other: Usage) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["server_seconds"] = round(self.server_seconds, 3)
        data["cached_server_seconds"] = round(self.cached_server_seconds, 3)
        return data

    @property
    def recorded_seconds(self) -> float:
        """Server time of every response used, live or recorded: comparable across replays."""
        return self.server_seconds + self.cached_server_seconds

    def count(self, response: dict[str, Any], *, cached: bool, seconds: float = 0.0) -> None:
        """Account one response (``seconds``: the live call's duration)."""
        tokens = response["usage"]
        if cached:
            self.cache_hits += 1
            self.cached_prompt_tokens += tokens["prompt_tokens"]
            self.cached_completion_tokens += tokens["completion_tokens"]
            self.cached_server_seconds += response.get("seconds", 0.0)
        else:
            self.calls += 1
            self.server_seconds += seconds
            self.prompt_tokens += tokens["prompt_tokens"]
            self.completion_tokens += tokens["completion_tokens"]


@dataclass
class Result(Generic[T]):
    """A validated response and what it cost; ``keys`` are the cache keys it used."""

    value: T
    usage: Usage
    keys: list[str] = field(default_factory=list)


def _completion(response: dict[str, Any], *, model: str) -> ChatCompletion:
    """Rebuild the SDK object instructor parses, from a stored response."""
    return ChatCompletion.model_validate(
        {
            "id": "extract-cached",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": response["content"]},
                    "finish_reason": response["finish_reason"] or "stop",
                }
            ],
        }
    )


def _response(completion: ChatCompletion, *, seconds: float) -> dict[str, Any]:
    """What is stored of an answer: its text, why it stopped, its tokens and the server time."""
    choice, usage = completion.choices[0], completion.usage
    return {
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
        },
        "seconds": round(seconds, 3),
    }


def _request_info(
    body: dict[str, Any], *, article_id: str, label: str, model_identity: str, prompt_hash: str
) -> dict[str, Any]:
    """What is stored of a request besides its key: what it was for, never the messages themselves."""
    return {
        "article_id": article_id,
        "label": label,
        "model": model_identity,
        "params": {k: body.get(k) for k in ("max_tokens", "seed", "temperature")},
        "prompts": prompt_hash,
        "messages_sha256": cache_key({"m": body.get("messages")}),
    }


def _lookup(
    config: Config, cache: ResponseCache, key: str, *, article_id: str, label: str, prompt_hash: str
) -> dict[str, Any] | None:
    """The cached record for ``key`` under the cache policy; offline, a miss is an error."""
    record = None if config.cache_policy == "refresh" else cache.get(key)
    if record is None and config.cache_policy == "offline":
        raise CacheMissError(
            f"offline and no cached response for article {article_id} (pass {label}, prompts "
            f"{prompt_hash}, model {config.model}, key {key[:12]}); record it by running "
            "without --offline, or import a snapshot with `extract cache import`",
            article_id=article_id,
            prompt=prompt_hash,
            model=config.model,
            key=key,
        )
    return record


def _mode(config: Config) -> instructor.Mode:
    try:
        return instructor.Mode(config.mode)
    except ValueError as e:
        known = ", ".join(m.value for m in (instructor.Mode.JSON_SCHEMA, instructor.Mode.JSON, instructor.Mode.TOOLS))
        raise ConfigError(f"unknown instructor mode {config.mode!r} (e.g. {known})") from e


class LLMClient:
    """Cached structured extraction against one model; safe to share between threads.

    ``endpoint`` returns the base URL; it is called once, on the first cache miss, so a run
    served entirely from the cache never starts (or needs) a server.
    """

    def __init__(
        self,
        config: Config,
        *,
        cache: ResponseCache,
        endpoint: Callable[[], str],
        model_identity: str,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.model_identity = model_identity
        self.mode = _mode(config)
        self._endpoint = endpoint
        self._http_client = http_client
        self._sdk: openai.OpenAI | None = None
        self._lock = threading.Lock()

    @property
    def _client(self) -> openai.OpenAI:
        """The SDK client, created on the first cache miss (which may start the embedded server)."""
        with self._lock:
            if self._sdk is None:
                self._sdk = openai.OpenAI(
                    base_url=self._endpoint(),
                    api_key=self.config.api_key or "not-needed",
                    max_retries=self.config.max_retries,
                    timeout=self.config.timeout_s,
                    http_client=self._http_client,
                )
            return self._sdk

    def _request(self, kwargs: dict[str, Any], *, max_tokens: int | None) -> dict[str, Any]:
        """The request body; llama.cpp wants the schema as ``json_object`` + ``schema``."""
        body = {**kwargs, **self.config.params.to_json(), "model": self.config.model}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        fmt = body.get("response_format")
        if self.config.llama_cpp_format and fmt and fmt.get("type") == "json_schema":
            body["response_format"] = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
        return body

    def _key(self, body: dict[str, Any], prompt_hash: str) -> str:
        return cache_key(
            {
                "model": self.model_identity,
                "mode": self.mode.value,
                "prompts": prompt_hash,
                "request": {k: v for k, v in body.items() if k != "model"},
            }
        )

    def _call(self, body: dict[str, Any], *, article_id: str) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        try:
            completion = self._client.chat.completions.create(**body)
        except openai.APITimeoutError as e:
            raise LLMError(
                f"no answer within {self.config.timeout_s:.0f}s", article_id=article_id,
                attempts=self.config.max_retries + 1,
            ) from e
        except openai.APIConnectionError as e:
            raise ServerUnreachableError(
                f"cannot reach the model server at {self._client.base_url} ({e})", article_id=article_id
            ) from e
        except openai.APIStatusError as e:
            raise LLMError(
                f"model server answered HTTP {e.status_code}: {e.message}",
                article_id=article_id,
                attempts=self.config.max_retries + 1,
            ) from e
        seconds = time.monotonic() - started
        return _response(completion, seconds=seconds), seconds

    def _fetch(
        self, body: dict[str, Any], key: str, *, article_id: str, label: str, prompt_hash: str, usage: Usage
    ) -> tuple[dict[str, Any], bool]:
        """The response for ``body``: from the cache, or from the server. True when it was cached."""
        record = _lookup(self.config, self.cache, key, article_id=article_id, label=label, prompt_hash=prompt_hash)
        if record is not None:
            usage.count(record["response"], cached=True)
            return record["response"], True
        response, seconds = self._call(body, article_id=article_id)
        usage.count(response, cached=False, seconds=seconds)
        return response, False

    def _parse(
        self, prepared: Any, response_model: type[T], completion: ChatCompletion, *, max_tokens: int
    ) -> tuple[T | None, str | None]:
        """Validate a completion: the model instance, or None and the reason."""
        try:
            parsed = prepared.from_response(completion, mode=self.mode)
            return response_model.model_validate(parsed.model_dump()), None
        except IncompleteOutputException:
            return None, f"output cut at max_tokens={max_tokens}"
        except (ValidationError, InstructorValidationError, ValueError) as e:
            return None, str(e)[:2000]

    def extract(
        self,
        response_model: type[T],
        *,
        messages: list[dict[str, str]],
        article_id: str,
        prompt_hash: str,
        label: str = "extract",
        prompt_model: type[BaseModel] | None = None,
        max_tokens: int | None = None,
    ) -> Result[T]:
        """One validated ``response_model`` for ``messages``, reasking on invalid output.

        ``prompt_model`` (JSON modes only) is the schema instructor shows in the prompt, while
        the response format still constrains the answer to ``response_model``: passes that
        ask for different types then share one prompt prefix the server evaluates once.
        ``max_tokens`` overrides the configured limit for this call (part of the cache key).
        Every response is cached with its validation outcome, invalid ones included, so a
        replay retraces the same reasks.
        """
        prepared, kwargs = instructor.handle_response_model(
            response_model, mode=self.mode, messages=copy.deepcopy(messages)
        )
        if prompt_model is not None and self.mode in (instructor.Mode.JSON, instructor.Mode.JSON_SCHEMA):
            _, shown = instructor.handle_response_model(
                prompt_model, mode=self.mode, messages=copy.deepcopy(messages)
            )
            kwargs["messages"] = shown["messages"]
        usage, keys, error = Usage(), [], ""
        for attempt in range(1, self.config.max_reasks + 2):
            body = self._request(kwargs, max_tokens=max_tokens)
            key = self._key(body, prompt_hash)
            keys.append(key)
            response, cached = self._fetch(
                body, key, article_id=article_id, label=label, prompt_hash=prompt_hash, usage=usage
            )
            completion = _completion(response, model=self.config.model)
            value, error = self._parse(prepared, response_model, completion, max_tokens=body["max_tokens"])
            if not cached:
                request = _request_info(
                    body, article_id=article_id, label=label, model_identity=self.model_identity, prompt_hash=prompt_hash
                ) | {"attempt": attempt, "mode": self.mode.value}
                validation = {"ok": error is None, "error": error}
                self.cache.put(key, {"request": request, "response": response, "validation": validation})
            if value is not None:
                return Result(value=value, usage=usage, keys=keys)
            if response["finish_reason"] == "length":
                break  # a reask would only append the runaway output to the prompt
            kwargs = handle_reask_kwargs(copy.deepcopy(kwargs), self.mode, completion, ValueError(error))
        raise InvalidOutputError(
            f"no valid output for article {article_id} after {len(keys)} attempts: {error}",
            article_id=article_id,
            attempts=len(keys),
            usage=usage.to_json(),
            content=response["content"],
            keys=keys,
        )



#: The base URL handed to clients behind a RecordingTransport; the transport sends misses to the real one.
RECORDED_BASE_URL = "http://recorded.invalid/v1"


class RecordingTransport(httpx.BaseTransport):
    """The HTTP boundary for a client this package does not drive itself (langextract's).

    Chat completions are answered from the response cache, keyed like LLMClient's calls on the
    model identity and the whole request body; a miss goes to ``endpoint()`` (started lazily)
    and is recorded. Set ``article_id`` before each document so records say what they were for.
    """

    def __init__(
        self,
        config: Config,
        *,
        cache: ResponseCache,
        endpoint: Callable[[], str],
        model_identity: str,
        label: str,
        prompt_hash: str,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.model_identity = model_identity
        self.label = label
        self.prompt_hash = prompt_hash
        self.article_id = ""
        self.usage = Usage()
        self.keys: list[str] = []
        self._endpoint = endpoint
        self._base_url: str | None = None
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        key = cache_key(
            {
                "model": self.model_identity,
                "client": self.label,
                "prompts": self.prompt_hash,
                "request": {k: v for k, v in body.items() if k != "model"},
            }
        )
        self.keys.append(key)
        record = _lookup(
            self.config, self.cache, key, article_id=self.article_id, label=self.label, prompt_hash=self.prompt_hash
        )
        if record is not None:
            self.usage.count(record["response"], cached=True)
            return self._answer(request, record["response"], model=body.get("model", ""))
        if self._base_url is None:
            self._base_url = self._endpoint().rstrip("/")  # may start the embedded server: once
        started = time.monotonic()
        path = request.url.path.removeprefix(httpx.URL(RECORDED_BASE_URL).path)
        forwarded = httpx.Request(
            request.method,
            self._base_url + path,
            headers={"content-type": "application/json"},
            content=request.content,
            extensions=request.extensions,
        )
        upstream = self._inner.handle_request(forwarded)
        upstream.read()
        if upstream.status_code != 200:
            return upstream
        seconds = time.monotonic() - started
        response = _response(ChatCompletion.model_validate(upstream.json()), seconds=seconds)
        self.usage.count(response, cached=False, seconds=seconds)
        request_info = _request_info(
            body, article_id=self.article_id, label=self.label, model_identity=self.model_identity,
            prompt_hash=self.prompt_hash,
        )
        self.cache.put(key, {"request": request_info, "response": response, "validation": {"ok": True, "error": None}})
        return self._answer(request, response, model=body.get("model", ""))

    @staticmethod
    def _answer(request: httpx.Request, response: dict[str, Any], *, model: str) -> httpx.Response:
        completion = _completion(response, model=model).model_dump(mode="json")
        completion["usage"] = {**response["usage"], "total_tokens": sum(response["usage"].values())}
        return httpx.Response(200, json=completion, request=request)

    def close(self) -> None:
        self._inner.close()


def recording_openai_client(transport: RecordingTransport) -> openai.OpenAI:
    """An OpenAI SDK client whose every call goes through ``transport`` (no SDK retries: the
    transport's server is local, and a cache miss offline must surface at once)."""
    return openai.OpenAI(
        base_url=RECORDED_BASE_URL,
        api_key=transport.config.api_key or "not-needed",
        max_retries=0,
        timeout=transport.config.timeout_s,
        http_client=httpx.Client(transport=transport),
    )
