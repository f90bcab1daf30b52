"""Call policy as Backend -> Backend wrappers: batching, retrying and caching compose around any
backend (a MockBackend here) through the same protocol."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from skillgap.backends import CachedBackend, Generation, GenerationRequest, Message, MockBackend, TextPart
from skillgap.backends._batching import Batcher
from skillgap.backends._retry import RetryingBackend


def _ask(text: str) -> GenerationRequest:
    return GenerationRequest(messages=(Message(content=(TextPart(text=text),)),))


def test_retry_wraps_any_backend_and_gives_up_with_the_count(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    def flaky(request: GenerationRequest) -> Generation | str:
        text = request.messages[0].text
        seen[text] = seen.get(text, 0) + 1
        if text == "down" or (text == "flaky" and seen[text] < 3):
            return Generation(text="", finish_reason="error", error="HTTP 503", retry_after_s=0.0)
        if text == "bad":
            return Generation(text="", finish_reason="error", error="HTTP 400")  # final: not retried
        return "ok"

    retrying = RetryingBackend(MockBackend(handler=flaky), max_retries=3, backoff_s=0.001,
                               rng=random.Random(0))
    with CachedBackend(retrying, tmp_path / "calls.sqlite") as backend:  # composed once, in order
        fine, flaky_answer, down, bad = asyncio.run(backend.generate(
            [_ask("fine"), _ask("flaky"), _ask("down"), _ask("bad")]))
    assert (fine.text, flaky_answer.text) == ("ok", "ok") and seen["flaky"] == 3
    assert down.error == "HTTP 503 (gave up after 4 attempts)" and seen["down"] == 4
    assert bad.error == "HTTP 400" and seen["bad"] == 1
    assert retrying.describe()["max_retries"] == 3


def test_batcher_isolates_a_failing_request_and_drops_abandoned_ones() -> None:
    def answer(request: GenerationRequest) -> str:
        if request.messages[0].text == "boom":
            raise RuntimeError("cannot run this one")
        return "ok"

    inner = MockBackend(handler=answer, max_batch_size=1)
    batcher = Batcher(inner, max_batch_size=8, batch_wait_s=0.01)

    async def run() -> list[Generation | BaseException]:
        abandoned = asyncio.ensure_future(batcher.generate([_ask("never")]))
        await asyncio.sleep(0)
        abandoned.cancel()  # a caller that gave up (a server's deadline) costs no model call
        calls = [batcher.generate([_ask(text)]) for text in ("a", "boom", "b")]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    a, boom, b = asyncio.run(run())
    assert isinstance(a, list) and a[0].text == "ok" and isinstance(b, list) and b[0].text == "ok"
    assert isinstance(boom, RuntimeError)
    assert "never" not in [request.messages[0].text for request in inner.requests]
    inner.close()
