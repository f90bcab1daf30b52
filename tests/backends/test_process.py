"""ProcessBackend: a registered backend built and run in a real worker process."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from skillgap.backends import Generation, GenerationRequest, ImagePart, ImageRef, Message, TextPart
from skillgap.backends._process import ProcessBackend, WorkerError
from skillgap.backends._registry import load_backend
from skillgap.backends._transformers import TransformersBackend

pytestmark = pytest.mark.slow


def _request(text: str, *images: ImageRef, **options: object) -> GenerationRequest:
    parts = (TextPart(text=text), *(ImagePart(image=ref) for ref in images))
    return GenerationRequest(messages=(Message(content=parts),), **options)


async def _each(backend: object, requests: list[GenerationRequest]) -> list[Generation]:
    """Every request as its own call, all at once (as the eval's graphs send them)."""
    answers = await asyncio.gather(*(backend.generate([r]) for r in requests))  # type: ignore[attr-defined]
    return [answer[0] for answer in answers]


def _wait_exit(backend: ProcessBackend, timeout_s: float = 20.0) -> int | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = backend._process.poll()
        if code is not None:
            return code
        time.sleep(0.05)
    return None


def test_a_worker_answers_as_the_backend_does_in_process() -> None:
    backend = ProcessBackend("mock", "scripted", {"max_batch_size": 8})
    try:
        here = load_backend("mock", "scripted", max_batch_size=8)
        assert backend.describe() == here.describe()
        assert (backend.name, backend.model_id, backend.max_batch_size) == ("mock", "scripted", 8)
        assert backend.pid != os.getpid()
        broken = ImageRef(uri="data:image/png;base64,bm90IGFuIGltYWdl")  # "not an image"
        requests = [_request(f"question {i}") for i in range(4)] + [_request("and this?", broken)]
        got = asyncio.run(backend.generate(requests))
        want = asyncio.run(here.generate(requests))
        assert [(g.text, g.error) for g in got] == [(w.text, w.error) for w in want]
        assert got[-1].error is not None and "image" in got[-1].error  # that request's error only
        assert [g.error for g in got[:-1]] == [None] * 4
        # Batched there as here: the four text-only requests together, the one with an image apart.
        assert [g.batch_size for g in got] == [w.batch_size for w in want] == [4, 4, 4, 4, 1]
    finally:
        backend.close()
    assert backend._process.returncode == 0  # it ended on its own when the socket closed


def test_the_embedded_model_answers_the_same_in_a_worker(tiny_model_path: Path) -> None:
    picture = Image.new("RGB", (64, 64), "white")
    for x in range(10, 30):
        for y in range(20, 40):
            picture.putpixel((x, y), (0, 0, 200))
    image = ImageRef.from_pil(picture)  # a mem:// image: it lives in this process only
    requests = [_request("3+4-2 ="), _request("What is written in the image?", image, max_tokens=12),
                _request("2+2 =", max_tokens=4), _request("Describe it.", image, max_tokens=6)]
    worker = ProcessBackend("transformers", str(tiny_model_path), {"batch_wait_s": 0.01})
    try:
        here = TransformersBackend(tiny_model_path, batch_wait_s=0.01)
        assert worker.describe() == here.describe()  # so a run resumes across the two
        assert worker.native_layout == here.native_layout
        got = asyncio.run(_each(worker, requests))
        want = asyncio.run(_each(here, requests))
    finally:
        worker.close()
    assert [g.error for g in got] == [None] * len(requests)
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.output_tokens for g in got] == [w.output_tokens for w in want]


def test_a_backend_that_cannot_be_built_raises_its_error_here(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError) as in_process:
        load_backend("transformers", missing)
    backend = ProcessBackend("transformers", missing)
    with pytest.raises(ValueError) as in_worker:
        backend.describe()
    assert str(in_worker.value) == str(in_process.value)
    assert "model folder not found" in str(in_worker.value)
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        ProcessBackend("nope").describe()
    assert _wait_exit(backend) == 0  # a worker that failed to start does not linger


def test_a_killed_worker_fails_its_calls_with_a_clear_error(tiny_model_path: Path) -> None:
    backend = ProcessBackend("transformers", str(tiny_model_path))
    backend.load()  # built; the weights are still loading, so no call can be answered yet

    async def call_then_kill() -> BaseException:
        pending = asyncio.ensure_future(backend.generate([_request("1+1 =")]))
        await asyncio.sleep(0.2)
        os.kill(backend.pid, signal.SIGKILL)
        try:
            await asyncio.wait_for(pending, timeout=30)
        except WorkerError as exc:
            return exc
        raise AssertionError("a call to a killed worker returned an answer")

    error = asyncio.run(call_then_kill())
    assert f"pid {backend.pid}" in str(error) and "killed by signal 9" in str(error)
    with pytest.raises(WorkerError, match="killed by signal 9"):  # later calls fail at once
        asyncio.run(asyncio.wait_for(backend.generate([_request("2+2 =")]), timeout=10))
    backend.close()
