"""A fake OpenAI-compatible server at the HTTP boundary (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from extract.cache import ResponseCache
from extract.config import Config
from extract.llm import LLMClient

Reply = str | Callable[[dict[str, Any]], httpx.Response | str]


def completion(content: str, *, prompt_tokens: int = 100, completion_tokens: int = 20) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": "fake",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def completion_cut(content: str) -> dict[str, Any]:
    """A completion stopped by max_tokens (``finish_reason: length``)."""
    body = completion(content, completion_tokens=2048)
    body["choices"][0]["finish_reason"] = "length"
    return body


@dataclass
class FakeServer:
    """Answers each chat completion with the next reply; records every request body and headers."""

    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[httpx.Headers] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.headers.append(request.headers)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if callable(reply):
            reply = reply(body)
        if isinstance(reply, httpx.Response):
            return reply
        return httpx.Response(200, json=completion(reply))

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))


def fake_client(tmp_path: Path, server: FakeServer, **changes: object) -> LLMClient:
    """An LLMClient whose HTTP goes to ``server``, caching under ``tmp_path``; no retries."""
    config = Config(cache_dir=tmp_path / "cache", max_retries=0).with_(**changes)
    return LLMClient(
        config,
        cache=ResponseCache(config.cache_dir),
        endpoint=lambda: "http://fake.invalid/v1",
        model_identity="test-model",
        http_client=server.client(),
    )
