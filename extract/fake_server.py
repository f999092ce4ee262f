"""A fake OpenAI-compatible chat server for the scale benchmark: every answer after a fixed delay.

Standard library only, and run as its own process (``python -m extract.fake_server DELAY``), so
its CPU is not counted as the harness's. It prints its port on 127.0.0.1, then answers each chat
completion with a troop_level event quoting the first sentence of the window that states a
number (valid for the schema and grounded in the article), or no event.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

_SENTENCE = re.compile(r"[^.!?\n]*\d[\d,]*[^.!?\n]*[.!?]")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
_TAGS = re.compile(r"</?article>")


def window_of(body: dict[str, Any]) -> tuple[str, str]:
    """The header line of the window a request asks about, and the window's text without its frame tags."""
    header, _, text = body["messages"][-1]["content"].partition("\n")
    return header, _TAGS.sub("", text)


def answer(body: dict[str, Any]) -> str:
    """The fake model's answer to a request body: JSON events for the window it asks about."""
    _, window = window_of(body)
    sentence = _SENTENCE.search(window)
    if sentence is None:
        return json.dumps({"events": []})
    evidence = sentence.group().strip()
    count = int(_NUMBER.search(evidence).group().replace(",", ""))  # type: ignore[union-attr]
    event = {"type": "troop_level", "evidence": evidence, "force": "United States", "count": count,
             "location": {"country": "Iraq"}}  # fmt: skip
    return json.dumps({"events": [event]})


def completion(content: str) -> dict[str, Any]:
    """A chat completion holding ``content``."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delay: float) -> None:
    """Answer the requests of one keep-alive connection, each after ``delay`` seconds."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = json.loads(await reader.readexactly(length))
            await asyncio.sleep(delay)
            payload = json.dumps(completion(answer(body))).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(delay: float) -> None:
    """Listen on a free port of 127.0.0.1, print it, and serve until killed."""
    server = await asyncio.start_server(lambda r, w: _serve_connection(r, w, delay=delay), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1])))
