"""A misbehaving OpenAI-compatible server on 127.0.0.1, for the openai backend's failure tests.

Plain HTTP/1.1 over asyncio streams (no framework), so it can do what real servers and proxies do
when they fail: 503s, 429s with ``Retry-After``, stalls past the client's timeout, and connections
reset in the middle of an answer. ``plan(key, attempt)`` picks what happens to each request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

#: What the server can do with a request.
ACTIONS = ("ok", "503", "429", "stall", "reset", "400", "401")
Plan = Callable[[str, int], str]


class FaultServer:
    """Answers every chat completion with ``answer`` after the faults ``plan`` asks for.

    Args:
        plan: ``plan(key, attempt) -> action``; ``key`` identifies a request by its messages,
            ``attempt`` counts earlier arrivals of the same key.
        answer: The completion text of a successful answer.
        stall_s: How long a stalled request is held before the connection is dropped.
        known_fields: If set, a body with any other field gets a 400 (as the OpenAI API does).
    """

    def __init__(self, plan: Plan, *, answer: str = "3", stall_s: float = 2.0,
                 known_fields: set[str] | None = None):
        self.plan = plan
        self.answer = answer
        self.stall_s = stall_s
        self.known_fields = known_fields
        self.attempts: collections.Counter[str] = collections.Counter()
        self.actions: collections.Counter[str] = collections.Counter()
        self.bodies: list[dict[str, Any]] = []
        self.authorizations: set[str] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """Serve from a background thread for the ``with`` block; yields the API root."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: dict[str, Any] = {}

        async def start() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            holder["server"] = server
            holder["port"] = server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            loop.run_until_complete(start())
            loop.run_forever()

        thread = threading.Thread(target=run, daemon=True, name="fault-server")
        thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("the fault server did not start")
        try:
            yield f"http://127.0.0.1:{holder['port']}/v1"
        finally:
            async def stop() -> None:
                holder["server"].close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

            asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one connection carries many requests
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in header_lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._answer(request_line, headers, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a dropped client, or the server stopping
        finally:
            writer.close()

    async def _answer(self, request_line: str, headers: dict[str, str], raw: bytes,
                      writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must end."""
        if "authorization" in headers:
            self.authorizations.add(headers["authorization"])
        method, path, _ = request_line.split(" ", 2)
        if method == "GET" and path.endswith("/models"):
            await _send(writer, 200, {"object": "list", "data": [{"id": "faulty", "object": "model"}]})
            return True
        body = json.loads(raw)
        key = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
        with self._lock:
            attempt = self.attempts[key]
            self.attempts[key] += 1
            self.bodies.append(body)
        unknown = set(body) - self.known_fields if self.known_fields is not None else set()
        action = "400" if unknown else self.plan(key, attempt)
        self.actions[action] += 1
        if action == "ok":
            await _send(writer, 200, _completion(self.answer))
            return True
        if action == "400":
            message = f"Unrecognized request argument supplied: {', '.join(sorted(unknown)) or '?'}"
            await _send(writer, 400, {"error": {"message": message, "type": "invalid_request_error"}})
            return True
        if action == "401":  # as some servers do: the rejected key echoed in the message
            key = headers.get("authorization", "").removeprefix("Bearer ")
            await _send(writer, 401, {"error": {"message": f"Incorrect API key provided: {key}"}})
            return True
        if action == "503":
            await _send(writer, 503, {"error": {"message": "overloaded, try again"}})
            return True
        if action == "429":
            await _send(writer, 429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
            return True
        if action == "stall":
            await asyncio.sleep(self.stall_s)
            return False
        if action == "reset":  # headers and half the body, then a hard close
            payload = json.dumps(_completion(self.answer)).encode()
            writer.write(_head(200, len(payload)) + payload[: len(payload) // 2])
            await writer.drain()
            writer.transport.abort()
            return False
        raise ValueError(f"unknown action {action!r}; one of {ACTIONS}")


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 0,
        "model": "faulty",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }


def _head(status: int, length: int, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _send(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any],
                extra: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    writer.write(_head(status, len(data), extra) + data)
    await writer.drain()
