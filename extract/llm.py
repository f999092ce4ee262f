"""Structured calls to an OpenAI-compatible endpoint, through the response cache.

The only module that imports openai and instructor. instructor turns the response model
into the request (schema prompt, response format) and parses the answer; every raw
answer is cached under a key of everything that changes it, so replays are byte for byte.
"""

from __future__ import annotations

import copy
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

    def add(self, other: Usage) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["server_seconds"] = round(self.server_seconds, 3)
        return data


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

    def _request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The request body; llama.cpp wants the schema as ``json_object`` + ``schema``."""
        body = {**kwargs, **self.config.params.to_json(), "model": self.config.model}
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
        choice = completion.choices[0]
        usage = completion.usage
        response = {
            "content": choice.message.content,
            "finish_reason": choice.finish_reason,
            "usage": {
                "prompt_tokens": usage.prompt_tokens if usage else 0,
                "completion_tokens": usage.completion_tokens if usage else 0,
            },
        }
        return response, time.monotonic() - started

    def _fetch(
        self, body: dict[str, Any], key: str, *, article_id: str, label: str, prompt_hash: str, usage: Usage
    ) -> tuple[dict[str, Any], bool]:
        """The response for ``body``: from the cache, or from the server. True when it was cached."""
        record = None if self.config.cache_policy == "refresh" else self.cache.get(key)
        if record is not None:
            response = record["response"]
            usage.cache_hits += 1
            usage.cached_prompt_tokens += response["usage"]["prompt_tokens"]
            usage.cached_completion_tokens += response["usage"]["completion_tokens"]
            return response, True
        if self.config.cache_policy == "offline":
            raise CacheMissError(
                f"offline and no cached response for article {article_id} (pass {label}, prompts "
                f"{prompt_hash}, model {self.config.model}, key {key[:12]}); record it by running "
                "without --offline, or import a snapshot with `extract cache import`",
                article_id=article_id,
                prompt=prompt_hash,
                model=self.config.model,
                key=key,
            )
        response, seconds = self._call(body, article_id=article_id)
        usage.calls += 1
        usage.server_seconds += seconds
        usage.prompt_tokens += response["usage"]["prompt_tokens"]
        usage.completion_tokens += response["usage"]["completion_tokens"]
        return response, False

    def _parse(
        self, prepared: Any, response_model: type[T], completion: ChatCompletion
    ) -> tuple[T | None, str | None]:
        """Validate a completion: the model instance, or None and the reason."""
        try:
            parsed = prepared.from_response(completion, mode=self.mode)
            return response_model.model_validate(parsed.model_dump()), None
        except IncompleteOutputException:
            return None, f"output cut at max_tokens={self.config.params.max_tokens}"
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
    ) -> Result[T]:
        """One validated ``response_model`` for ``messages``, reasking on invalid output.

        ``prompt_model`` (JSON modes only) is the schema instructor shows in the prompt, while
        the response format still constrains the answer to ``response_model``: passes that
        ask for different types then share one prompt prefix the server evaluates once.
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
            body = self._request(kwargs)
            key = self._key(body, prompt_hash)
            keys.append(key)
            response, cached = self._fetch(
                body, key, article_id=article_id, label=label, prompt_hash=prompt_hash, usage=usage
            )
            completion = _completion(response, model=self.config.model)
            value, error = self._parse(prepared, response_model, completion)
            if not cached:
                request = {
                    "article_id": article_id,
                    "label": label,
                    "attempt": attempt,
                    "model": self.model_identity,
                    "mode": self.mode.value,
                    "params": self.config.params.to_json(),
                    "prompts": prompt_hash,
                    "messages_sha256": cache_key({"m": body["messages"]}),
                }
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
        )

