"""Structured calls to an OpenAI-compatible endpoint, through the response cache.

The only module that imports openai and instructor, and only when a call needs them, so importing
it is cheap. instructor turns a response model into the request (schema prompt, response format),
once per client and response model, and parses each answer; every raw answer is cached under a key
of everything that changes it, so replays are byte for byte. ``LLMClient.pending`` builds a call's
next request without sending it (batch files: extract.batch).
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from extract.cache import ResponseCache, cache_key, canonical_json, canonical_object, encoded_key
from extract.config import Config, redact_url
from extract.errors import (
    CacheMissError,
    ConfigError,
    EndpointDownError,
    InvalidOutputError,
    LLMError,
    ServerUnreachableError,
)

if TYPE_CHECKING:
    import httpx
    import instructor
    import openai
    from openai.types.chat import ChatCompletion

T = TypeVar("T", bound=BaseModel)

#: The end of every message that stops a run: nothing finished is lost.
RESUME_HINT = "every finished call is cached: rerun the same command to resume"
#: HTTP statuses worth another attempt (as the OpenAI SDK's own retry rule).
RETRY_STATUSES = frozenset({408, 409, 429})


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


@dataclass(frozen=True)
class Request:
    """One attempt of a call, built but not sent: its cache key, the exact body the SDK posts, what
    the cache records of it (``info``: never the messages or a secret), and the model that validates it."""

    key: str
    body: dict[str, Any]
    info: dict[str, Any]
    response_model: type[BaseModel]


def request_key(body: dict[str, Any], *, model_identity: str, prompt_hash: str, **tag: str) -> str:
    """The cache key of a request body: the model identity, the prompt hash, ``tag`` (``mode=`` for
    LLMClient, ``client=`` for a RecordingTransport) and the whole body except the model's name."""
    request = {k: v for k, v in body.items() if k != "model"}
    return cache_key({"model": model_identity, "prompts": prompt_hash, **tag, "request": request})


def encoded_request_key(encoded: dict[str, str], *, model_identity: str, prompt_hash: str, **tag: str) -> str:
    """``request_key`` of a body given as its entries' canonical JSON: the same key."""
    request = canonical_object({k: v for k, v in encoded.items() if k != "model"})
    parts = {"model": canonical_json(model_identity), "prompts": canonical_json(prompt_hash), "request": request}
    return encoded_key(parts | {k: canonical_json(v) for k, v in tag.items()})


def parse_completion(data: dict[str, Any]) -> ChatCompletion:
    """An OpenAI chat completion from its JSON (a batch result's body, an upstream answer)."""
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate(data)


def _completion(response: dict[str, Any], *, model: str) -> ChatCompletion:
    """Rebuild the SDK object instructor parses, from a stored response."""
    return parse_completion(
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


def stored_response(completion: ChatCompletion, *, seconds: float) -> dict[str, Any]:
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


class _CachedCalls:
    """What every cached caller of the model shares: the configuration, the cache, the model's
    identity in the keys, the endpoint (reached for only on a miss), and the one way a record is
    looked up under the cache policy and stored. LLMClient and RecordingTransport are its two kinds."""

    def __init__(
        self, config: Config, *, cache: ResponseCache, endpoint: Callable[[], str], model_identity: str
    ) -> None:
        self.config = config
        self.cache = cache
        self.model_identity = model_identity
        self._endpoint = endpoint

    def _lookup(self, key: str, *, article_id: str, label: str, prompt_hash: str) -> dict[str, Any] | None:
        """The cached record for ``key`` under the cache policy; offline, a miss is an error."""
        config = self.config
        record = None if config.cache_policy == "refresh" else self.cache.get(key)
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

    def _request_info(
        self, body: dict[str, Any], *, article_id: str, label: str, prompt_hash: str, messages_json: str | None = None
    ) -> dict[str, Any]:
        """What is stored of a request besides its key: what it was for, never the messages themselves
        (``messages_json``: their canonical JSON, when the caller has it already)."""
        if messages_json is None:
            messages_json = canonical_json(body.get("messages"))
        return {
            "article_id": article_id,
            "label": label,
            "model": self.model_identity,
            "params": {k: body.get(k) for k in ("max_tokens", "seed", "temperature")},
            "prompts": prompt_hash,
            "messages_sha256": encoded_key({"m": messages_json}),  # cache_key({"m": messages})
        }

    def _remember(self, key: str, info: dict[str, Any], response: dict[str, Any], *, error: str | None) -> None:
        """Store an answer with its request and its validation outcome: the one shape of a record."""
        self.cache.put(key, {"request": info, "response": response, "validation": {"ok": error is None, "error": error}})


def _mode(name: str) -> instructor.Mode:
    import instructor

    try:
        return instructor.Mode(name)
    except ValueError as e:
        known = ", ".join(m.value for m in (instructor.Mode.JSON_SCHEMA, instructor.Mode.JSON, instructor.Mode.TOOLS))
        raise ConfigError(f"unknown instructor mode {name!r} (e.g. {known})") from e


#: Stands for message ``i``'s content while instructor builds a request template.
_HOLE = "\x00extract-message-{}\x00"
_HOLES = re.compile("\x00extract-message-(\\d+)\x00")


def _fill(value: Any, contents: list[str]) -> Any:
    """``value`` with every hole replaced by its message's content (inserted as is, never rescanned)."""
    if isinstance(value, str):
        return _HOLES.sub(lambda m: contents[int(m.group(1))], value)
    if isinstance(value, list):
        return [_fill(v, contents) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, contents) for k, v in value.items()}
    return value


#: The format of a request template kept in the cache folder.
TEMPLATE_FORMAT = "extract.template/2"  # 1: written with sorted keys, which reordered the schema: never read


@dataclass(frozen=True)
class _Template:
    """What instructor makes of a response model and a sequence of roles: the request kwargs with
    a hole for each message's content. Built once per cache folder and instructor version."""

    kwargs: dict[str, Any]
    #: The kwargs that hold a hole (``messages``; a system prompt in some modes).
    holed: tuple[str, ...]

    @classmethod
    def build(cls, kwargs: dict[str, Any]) -> _Template:
        holed = tuple(k for k, v in kwargs.items() if "\\u0000extract-message-" in json.dumps(v, default=str))
        return cls(kwargs, holed)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> _Template | None:
        """A template as ``to_json`` wrote it (None: absent, or another format)."""
        if not isinstance(data, dict) or data.get("format") != TEMPLATE_FORMAT:
            return None
        kwargs, holed = data.get("kwargs"), data.get("holed")
        if not isinstance(kwargs, dict) or not isinstance(holed, list) or not set(holed) <= kwargs.keys():
            return None  # damaged: built again
        return cls(kwargs, tuple(holed))

    def to_json(self) -> dict[str, Any]:
        return {"format": TEMPLATE_FORMAT, "kwargs": self.kwargs, "holed": list(self.holed)}

    def fill(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        """The kwargs instructor.handle_response_model gives for ``messages`` (shared parts: never mutate)."""
        contents = [m["content"] for m in messages]
        return {**self.kwargs, **{k: _fill(self.kwargs[k], contents) for k in self.holed}}


def _instructor_version() -> str:
    """instructor's version, read without importing it."""
    from importlib.metadata import version

    return version("instructor")


def _templatable(messages: list[dict[str, str]]) -> bool:
    """Whether instructor's request for these messages depends on their roles alone: plain,
    non-empty text messages (instructor treats empty or structured content differently)."""
    return all(
        type(m) is dict
        and m.keys() == {"role", "content"}
        and isinstance(m["content"], str)
        and m["content"]
        and "\x00extract-message-" not in m["content"]
        for m in messages
    )


class _Deferred(Exception):
    """Raised instead of sending, by ``LLMClient.pending``."""

    def __init__(self, request: Request) -> None:
        super().__init__(request.key)
        self.request = request


class LLMClient(_CachedCalls):
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
        super().__init__(config, cache=cache, endpoint=endpoint, model_identity=model_identity)
        self._http_client = http_client
        self._sdk: openai.OpenAI | None = None
        self._lock = threading.Lock()
        #: Each template, with its entries that every call shares already encoded for the body.
        self._templates: dict[tuple[Any, ...], tuple[_Template, dict[str, str]]] = {}
        self._templates_lock = threading.Lock()
        #: instructor's reask as a template (empty kwargs: a mode whose reask is not one), built once.
        self._reask_template: _Template | None = None
        #: instructor's prepared response models (they parse what plain pydantic does not), built once.
        self._prepared: dict[type[BaseModel], Any] = {}
        #: Timeouts and connection failures in a row, over every call of this client.
        self._failures = 0

    @property
    def mode(self) -> instructor.Mode:
        return _mode(self.config.mode)

    @property
    def _client(self) -> openai.OpenAI:
        """The SDK client, created on the first cache miss (which may start the embedded server)."""
        with self._lock:
            if self._sdk is None:
                import httpx
                import openai

                timeout = self.config.timeout_s
                self._sdk = openai.OpenAI(
                    base_url=self._endpoint(),
                    api_key=self.config.api_key or "not-needed",
                    max_retries=0,  # _send retries: the SDK's retries would multiply them
                    timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                    http_client=self._http_client,
                )
            return self._sdk

    def _prepare(
        self, response_model: type[BaseModel], prompt_model: type[BaseModel] | None, messages: list[dict[str, str]]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """instructor's request kwargs for ``messages``, from a template built once per response
        model, prompt model and roles (instructor rebuilds the whole schema twice on every call),
        and kept in the cache folder, so a run the cache answers never imports instructor; with the
        body entries every call of the template shares (the schema), encoded once."""
        if not _templatable(messages):
            return self._instruct(response_model, prompt_model, messages)[1], {}
        roles = tuple(m["role"] for m in messages)
        with self._templates_lock:
            built = self._templates.get((response_model, prompt_model, roles))
            if built is None:
                probe = [{"role": r, "content": _HOLE.format(i)} for i, r in enumerate(roles)]
                template = self._kept_template(
                    self._template_key(response_model, prompt_model, roles),
                    lambda: _Template.build(self._instruct(response_model, prompt_model, probe)[1]),
                )
                shared = {k: v for k, v in self._body(template.kwargs, max_tokens=None).items() if k in template.kwargs}
                built = template, {k: canonical_json(v) for k, v in shared.items() if k not in template.holed}
                self._templates[(response_model, prompt_model, roles)] = built
        template, fixed = built
        return template.fill(messages), fixed

    def _reask(
        self, kwargs: dict[str, Any], fixed: dict[str, str], *, content: str | None, error: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """instructor's reask after an invalid answer: the answer and the correction asked for,
        appended to the messages, from a template kept like the request templates (so a replayed
        reask needs no instructor either). A mode whose reask changes more is asked each time."""
        with self._templates_lock:
            if self._reask_template is None:

                def build() -> _Template:
                    probe = self._instructor_reask({"messages": []}, content=_HOLE.format(0), error=_HOLE.format(1))
                    return _Template.build(probe) if probe.keys() == {"messages"} else _Template({}, ())

                key = cache_key({"format": TEMPLATE_FORMAT, "instructor": _instructor_version(), "mode": self.config.mode, "reask": True})
                self._reask_template = self._kept_template(key, build)
            template = self._reask_template
        if not template.kwargs or not content:
            return self._instructor_reask(copy.deepcopy(kwargs), content=content, error=error), {}
        added = _fill(template.kwargs["messages"], [content, error])
        return {**kwargs, "messages": [*kwargs["messages"], *added]}, fixed

    def _kept_template(self, key: str, build: Callable[[], _Template]) -> _Template:
        """The template kept in the cache folder under ``key``, else ``build()``'s, kept there."""
        template = _Template.from_json(self.cache.template(key))
        if template is None:
            template = build()
            self.cache.put_template(key, template.to_json())
        return template

    def _instructor_reask(self, kwargs: dict[str, Any], *, content: str | None, error: str) -> dict[str, Any]:
        from instructor.processing.response import handle_reask_kwargs

        completion = _completion({"content": content, "finish_reason": "stop"}, model=self.config.model)
        return handle_reask_kwargs(kwargs, self.mode, completion, ValueError(error))

    def _template_key(
        self, response_model: type[BaseModel], prompt_model: type[BaseModel] | None, roles: tuple[str, ...]
    ) -> str:
        """Everything instructor's request template depends on: its version, the mode, the roles and
        both models' JSON schemas (their names, fields and docstrings)."""
        schemas = [m.model_json_schema() if m is not None else None for m in (response_model, prompt_model)]
        recipe = {"instructor": _instructor_version(), "mode": self.config.mode, "roles": roles, "schemas": schemas}
        return cache_key({"format": TEMPLATE_FORMAT, **recipe})

    def _instruct(
        self, response_model: type[BaseModel], prompt_model: type[BaseModel] | None, messages: list[dict[str, str]]
    ) -> tuple[Any, dict[str, Any]]:
        """instructor.handle_response_model itself; ``prompt_model`` (JSON modes) supplies the messages."""
        import instructor

        mode = self.mode
        prepared, kwargs = instructor.handle_response_model(response_model, mode=mode, messages=copy.deepcopy(messages))
        if prompt_model is not None and mode in (instructor.Mode.JSON, instructor.Mode.JSON_SCHEMA):
            _, shown = instructor.handle_response_model(prompt_model, mode=mode, messages=copy.deepcopy(messages))
            kwargs["messages"] = shown["messages"]
        return prepared, kwargs

    def _body(self, kwargs: dict[str, Any], *, max_tokens: int | None) -> dict[str, Any]:
        """The request body; llama.cpp wants the schema as ``json_object`` + ``schema``."""
        body = {**kwargs, **self.config.params.to_json(), "model": self.config.model}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        fmt = body.get("response_format")
        if self.config.llama_cpp_format and fmt and fmt.get("type") == "json_schema":
            body["response_format"] = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
        return body

    def _key(self, encoded: dict[str, str], prompt_hash: str) -> str:
        """``request_key`` of the body (encoded by ``_encode``)."""
        return encoded_request_key(encoded, model_identity=self.model_identity, prompt_hash=prompt_hash, mode=self.config.mode)

    @staticmethod
    def _encode(body: dict[str, Any], fixed: dict[str, str]) -> dict[str, str]:
        """Each body entry as canonical JSON, taking the template's shared ones as encoded: the key
        and the record's messages hash both come from this one encoding."""
        return {k: fixed[k] if k in fixed else canonical_json(v) for k, v in body.items()}

    def _send(self, request: Request) -> tuple[dict[str, Any], float]:
        """POST one request: at most 1 + max_retries attempts, retrying timeouts, connection failures,
        408/409/429 and 5xx with backoff. Timeouts and connection failures in a row are counted over
        all calls; at ``max_consecutive_failures`` the run stops (EndpointDownError)."""
        import openai
        from openai.types.chat import ChatCompletion

        client, attempts = self._client, self.config.max_retries + 1
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                # The body is complete and plain JSON: posting it as is skips the SDK's walk of
                # every field (``chat.completions.create`` spends half the harness CPU there).
                # Posted in the body's own key order, never sorted: llama.cpp writes its grammar in the
                # order of the schema's properties, so a sorted schema would put "type" after "evidence".
                completion = client.post("/chat/completions", body=request.body, cast_to=ChatCompletion)
            except openai.APIConnectionError as e:  # APITimeoutError is one
                error, wait = self._down(e, article_id=request.info["article_id"], attempt=attempt), None
                if attempt == attempts:
                    raise error from e
            except openai.APIStatusError as e:
                self._up()
                error = LLMError(
                    f"model server answered HTTP {e.status_code}: {e.message}",
                    article_id=request.info["article_id"],
                    attempts=attempt,
                )
                if attempt == attempts or not (e.status_code in RETRY_STATUSES or e.status_code >= 500):
                    raise error from e
                wait = _retry_after(e.response)
            except openai.APIError as e:  # a 200 answer the SDK cannot read
                self._up()
                raise LLMError(
                    f"unusable answer from the model server: {e}", article_id=request.info["article_id"], attempts=attempt
                ) from e
            else:
                self._up()
                seconds = time.monotonic() - started
                return stored_response(completion, seconds=seconds), seconds
            backoff = min(8.0, self.config.retry_backoff_s * 2 ** (attempt - 1)) * random.uniform(0.75, 1.0)
            time.sleep(backoff if wait is None else wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _up(self) -> None:
        with self._lock:
            self._failures = 0

    def _down(self, e: Exception, *, article_id: str, attempt: int) -> LLMError:
        """Count a timeout or connection failure: the error of this attempt, or EndpointDownError
        (raised) when it makes ``max_consecutive_failures`` in a row."""
        import openai

        with self._lock:
            self._failures += 1
            failures = self._failures
        endpoint = redact_url(str(self._client.base_url))
        timeout = isinstance(e, openai.APITimeoutError)
        what = (
            f"no answer within {self.config.timeout_s:g}s from the model server at {endpoint}"
            if timeout
            else f"cannot reach the model server at {endpoint} ({e})"
        )
        if failures >= self.config.max_consecutive_failures:
            raise EndpointDownError(
                f"{what}: {failures} timeouts or connection failures in a row, the last at article "
                f"{article_id}; {RESUME_HINT}",
                article_id=article_id,
                attempts=attempt,
                endpoint=endpoint,
                failures=failures,
            ) from e
        if timeout:
            return LLMError(what, article_id=article_id, attempts=attempt)
        return ServerUnreachableError(f"{what}; {RESUME_HINT}", article_id=article_id, attempts=attempt)

    def _parse(self, response_model: type[T], response: dict[str, Any], *, max_tokens: int) -> tuple[T | None, str | None]:
        """Validate a response: the model instance, or None and the reason.

        A complete answer that is plain valid JSON of the model (grammar-constrained output always
        is) is read by pydantic alone; anything else goes to instructor, whose reasons the reasks quote.
        """
        if response["finish_reason"] != "length" and response["content"]:
            try:
                return response_model.model_validate_json(response["content"]), None
            except ValidationError:
                pass
        from instructor.core.exceptions import IncompleteOutputException
        from instructor.core.exceptions import (
            ValidationError as InstructorValidationError,
        )

        prepared = self._instructor_model(response_model)
        try:
            parsed = prepared.from_response(_completion(response, model=self.config.model), mode=self.mode)
            return response_model.model_validate(parsed.model_dump()), None
        except IncompleteOutputException:
            return None, f"output cut at max_tokens={max_tokens}"
        except (ValidationError, InstructorValidationError, ValueError) as e:
            return None, str(e)[:2000]

    def _replayed(
        self, record: dict[str, Any], response_model: type[T], *, max_tokens: int
    ) -> tuple[T | None, str | None]:
        """A cached answer as validated when it was stored: an invalid one keeps the reason it was
        given then (its reask is the one recorded), a valid one is parsed again."""
        validation = record.get("validation") or {"ok": True}
        if not validation["ok"]:
            return None, validation.get("error") or "invalid output"
        return self._parse(response_model, record["response"], max_tokens=max_tokens)

    def _instructor_model(self, response_model: type[BaseModel]) -> Any:
        """instructor's prepared form of a response model (it parses answers), built once."""
        with self._templates_lock:
            if response_model not in self._prepared:
                self._prepared[response_model] = self._instruct(response_model, None, [{"role": "user", "content": "-"}])[0]
            return self._prepared[response_model]

    def _settle(self, request: Request, response: dict[str, Any]) -> tuple[Any, str | None]:
        """Validate a new answer and store it with its outcome: the one way answers enter the cache."""
        max_tokens = request.info["params"]["max_tokens"]
        value, error = self._parse(request.response_model, response, max_tokens=max_tokens)
        self._remember(request.key, request.info, response, error=error)
        return value, error

    def store(self, request: Request, completion: dict[str, Any]) -> str | None:
        """Store an answer that came from elsewhere (a batch engine) exactly as a live call stores
        its own; returns why it does not validate, or None. The engine's time is not known: 0 s."""
        response = stored_response(parse_completion(completion), seconds=0.0)
        return self._settle(request, response)[1]

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
        return self._attempts(
            response_model, messages=messages, article_id=article_id, prompt_hash=prompt_hash,
            label=label, prompt_model=prompt_model, max_tokens=max_tokens, send=self._send,
        )  # fmt: skip

    def pending(
        self,
        response_model: type[BaseModel],
        *,
        messages: list[dict[str, str]],
        article_id: str,
        prompt_hash: str,
        label: str = "extract",
        prompt_model: type[BaseModel] | None = None,
        max_tokens: int | None = None,
    ) -> Request | None:
        """The request ``extract`` would send next for this call, built but not sent: its first
        attempt, or the reask after a cached invalid answer. None when the cache answers every
        attempt (validly or not). Sends nothing, stores nothing."""

        def defer(request: Request) -> tuple[dict[str, Any], float]:
            raise _Deferred(request)

        try:
            self._attempts(
                response_model, messages=messages, article_id=article_id, prompt_hash=prompt_hash,
                label=label, prompt_model=prompt_model, max_tokens=max_tokens, send=defer,
            )  # fmt: skip
        except _Deferred as d:
            return d.request
        except InvalidOutputError:
            pass
        return None

    def _attempts(
        self,
        response_model: type[T],
        *,
        messages: list[dict[str, str]],
        article_id: str,
        prompt_hash: str,
        label: str,
        prompt_model: type[BaseModel] | None,
        max_tokens: int | None,
        send: Callable[[Request], tuple[dict[str, Any], float]],
    ) -> Result[T]:
        """The attempts of one call: each looked up in the cache first, sent (``send``) on a miss."""
        kwargs, fixed = self._prepare(response_model, prompt_model, messages)
        usage, keys, error = Usage(), [], ""
        for attempt in range(1, self.config.max_reasks + 2):
            body = self._body(kwargs, max_tokens=max_tokens)
            encoded = self._encode(body, fixed)
            key = self._key(encoded, prompt_hash)
            keys.append(key)
            record = self._lookup(key, article_id=article_id, label=label, prompt_hash=prompt_hash)
            if record is not None:
                response = record["response"]
                usage.count(response, cached=True)
                value, error = self._replayed(record, response_model, max_tokens=body["max_tokens"])
            else:
                info = self._request_info(
                    body, article_id=article_id, label=label, prompt_hash=prompt_hash, messages_json=encoded["messages"]
                ) | {"attempt": attempt, "mode": self.config.mode}
                request = Request(key=key, body=body, info=info, response_model=response_model)
                try:
                    response, seconds = send(request)
                except LLMError as e:
                    e.usage = e.usage or usage.to_json()
                    raise
                usage.count(response, cached=False, seconds=seconds)
                value, error = self._settle(request, response)
            if value is not None:
                return Result(value=value, usage=usage, keys=keys)
            if response["finish_reason"] == "length" or attempt > self.config.max_reasks:
                break  # the last attempt, or a runaway answer: a reask would only append it to the prompt
            kwargs, fixed = self._reask(kwargs, fixed, content=response["content"], error=error)
        raise InvalidOutputError(
            f"no valid output for article {article_id} after {len(keys)} attempts: {error}",
            article_id=article_id,
            attempts=len(keys),
            usage=usage.to_json(),
            content=response["content"],
            keys=keys,
        )


def _retry_after(response: httpx.Response) -> float | None:
    """The seconds a 429/503 answer's Retry-After header asks for (at most 60), if it gives a number."""
    try:
        return min(60.0, max(0.0, float(response.headers.get("retry-after", ""))))
    except ValueError:
        return None


#: The base URL handed to clients behind a RecordingTransport; the transport sends misses to the real one.
RECORDED_BASE_URL = "http://recorded.invalid/v1"


class RecordingTransport(_CachedCalls):
    """The HTTP boundary for a client this package does not drive itself (langextract's).

    Chat completions are answered from the response cache, keyed like LLMClient's calls on the
    model identity and the whole request body; a miss goes to ``endpoint()`` (started lazily)
    and is recorded. Set ``article_id`` before each document so records say what they were for.
    An httpx transport by its interface (``handle_request``, ``close``, a context manager), not
    by subclassing httpx.BaseTransport, so that importing this module does not import httpx.
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
        super().__init__(config, cache=cache, endpoint=endpoint, model_identity=model_identity)
        self.label = label
        self.prompt_hash = prompt_hash
        self.article_id = ""
        self.usage = Usage()
        self.keys: list[str] = []
        self._base_url: str | None = None
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import httpx

        body = json.loads(request.content)
        key = request_key(body, model_identity=self.model_identity, prompt_hash=self.prompt_hash, client=self.label)
        self.keys.append(key)
        record = self._lookup(key, article_id=self.article_id, label=self.label, prompt_hash=self.prompt_hash)
        if record is not None:
            self.usage.count(record["response"], cached=True)
            return self._answer(request, record["response"], model=body.get("model", ""))
        if self._base_url is None:
            self._base_url = self._endpoint().rstrip("/")  # may start the embedded server: once
        if self._inner is None:
            self._inner = httpx.HTTPTransport()
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
        response = stored_response(parse_completion(upstream.json()), seconds=seconds)
        self.usage.count(response, cached=False, seconds=seconds)
        info = self._request_info(body, article_id=self.article_id, label=self.label, prompt_hash=self.prompt_hash)
        self._remember(key, info, response, error=None)
        return self._answer(request, response, model=body.get("model", ""))

    @staticmethod
    def _answer(request: httpx.Request, response: dict[str, Any], *, model: str) -> httpx.Response:
        import httpx

        completion = _completion(response, model=model).model_dump(mode="json")
        completion["usage"] = {**response["usage"], "total_tokens": sum(response["usage"].values())}
        return httpx.Response(200, json=completion, request=request)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def recording_openai_client(transport: RecordingTransport) -> openai.OpenAI:
    """An OpenAI SDK client whose every call goes through ``transport`` (no SDK retries: the
    transport's server is local, and a cache miss offline must surface at once)."""
    import httpx
    import openai

    return openai.OpenAI(
        base_url=RECORDED_BASE_URL,
        api_key=transport.config.api_key or "not-needed",
        max_retries=0,
        timeout=transport.config.timeout_s,
        http_client=httpx.Client(transport=transport),  # type: ignore[arg-type]
    )
