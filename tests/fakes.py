"""Fakes at the HTTP boundary: an httpx.MockTransport server, a loopback server, and the CLI as a function."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from extract import cli
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


def asks_for_types(body: dict[str, Any]) -> bool:
    """Whether a request is a detect call: its schema asks for type names, not events."""
    fmt = body.get("response_format") or {}
    schema = fmt.get("schema") or fmt.get("json_schema", {}).get("schema", {})
    return "types" in schema.get("properties", {})


def detecting_nothing(answer: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
    """A fake model that answers windows calls with ``answer`` and detects no type in any detect
    call (so a hybrid run's calls are its windows and detect calls, and no fill)."""
    return lambda body: json.dumps({"types": []}) if asks_for_types(body) else answer(body)


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
    #: The bytes of each request body, as posted.
    raw: list[bytes] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.headers.append(request.headers)
        self.raw.append(request.content)
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


Answer = Callable[[dict], "str | int | None"]


@contextmanager
def loopback(answer: Answer) -> Iterator[tuple[str, list[dict]]]:
    """A fake OpenAI-compatible server on 127.0.0.1: ``answer(body)`` gives the content, an HTTP
    status to fail with, or None to never answer. Yields the base URL and the bodies received."""
    bodies: list[dict] = []
    hold = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            reply = answer(body)
            if reply is None:
                hold.wait(30)  # accepted, never answered
                return
            status, payload = (reply, {"error": {"message": "boom"}}) if isinstance(reply, int) else (200, completion(reply))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    finally:
        hold.set()
        server.shutdown()
        server.server_close()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    old = sys.argv
    sys.argv = ["extract", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err
