"""Dynamic batching as a wrapper: ``Batcher(backend)`` is a Backend that coalesces concurrent calls.

Callers (one graph per sample, one HTTP request per client) each ask for one generation; the
batcher queues requests that arrive within a short window and hands the wrapped backend one call of
up to ``max_batch_size`` compatible requests, so per-sample graphs keep their semantics while the
model still sees full batches. :class:`BatchingBackend` is the convenience base of in-process
providers (transformers, mock): a synchronous ``_generate_batch`` run on one worker thread, wrapped
in a :class:`Batcher` once, at construction.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ._types import Backend, Generation, GenerationRequest

BatchKey = Callable[[GenerationRequest], Hashable]


def default_batch_key(request: GenerationRequest) -> Hashable:
    """Requests with equal keys may share a model call (same decoding settings, same image count)."""
    sampling_seed = request.seed if request.temperature > 0 else None
    return (
        request.constraint.key() if request.constraint else None,
        request.max_tokens,
        request.temperature,
        sampling_seed,
        len(request.images),
    )


@dataclass
class _Pending:
    key: Hashable
    request: GenerationRequest
    future: asyncio.Future[Generation]
    #: When the request joined the queue (``time.perf_counter``), for queue-time measurements.
    enqueued_at: float = field(default_factory=time.perf_counter)


class Batcher:
    """Wrap ``backend`` so concurrent :meth:`generate` calls reach it as batches (Backend -> Backend).

    One batch is in flight at a time (one model). A request whose caller gave up (its future was
    cancelled, e.g. by a server's deadline) is dropped from the queue before it costs a model call.
    When a batch of several fails with an exception, each request is tried alone, so one bad
    request fails by itself instead of taking its batch-mates down.

    Args:
        backend: The backend called with each batch.
        max_batch_size: Most requests in one call.
        batch_wait_s: How long to wait for more requests before sending a partial batch.
        batch_key: Requests with equal keys may share a call (default: :func:`default_batch_key`).
    """

    def __init__(self, backend: Backend, *, max_batch_size: int = 16, batch_wait_s: float = 0.005,
                 batch_key: BatchKey = default_batch_key):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if batch_wait_s < 0:
            raise ValueError(f"batch_wait_s must be >= 0, got {batch_wait_s}")
        self.backend = backend
        self.name = backend.name
        self.model_id = backend.model_id
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.batch_key = batch_key
        self._pending: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def describe(self) -> dict[str, Any]:
        return {**self.backend.describe(), "max_batch_size": self.max_batch_size,
                "batch_wait_s": self.batch_wait_s}

    @property
    def queued(self) -> int:
        """Requests waiting for a model call (not counting the batch in flight)."""
        return len(self._pending)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (e.g. a second asyncio.run): state of the old one is unusable.
            self._loop, self._pending, self._worker = loop, [], None
        items = [_Pending(self.batch_key(request), request, loop.create_future()) for request in requests]
        self._pending.extend(items)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return list(await asyncio.gather(*(item.future for item in items)))

    async def _drain(self) -> None:
        while self._pending:
            if len(self._pending) < self.max_batch_size and self.batch_wait_s > 0:
                await asyncio.sleep(self.batch_wait_s)
            batch = self._take_batch()
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            generations = await self.backend.generate([item.request for item in batch])
            _check_count(self.backend, generations, len(batch))
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, GenerationCountError):
                # Find the culprit: each request alone.
                for item in batch:
                    await self._run([item])
                return
            for item in batch:  # every caller of the failed call sees the error
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        for item, generation in zip(batch, generations, strict=True):
            if not item.future.done():
                update: dict[str, Any] = {"batch_size": len(batch)}
                if not generation.latency_s:
                    update["latency_s"] = elapsed
                item.future.set_result(generation.model_copy(update=update))

    def _take_batch(self) -> list[_Pending]:
        """The oldest live request and, in arrival order, up to max_batch_size - 1 compatible ones."""
        live = [item for item in self._pending if not item.future.done()]
        if not live:
            self._pending = []
            return []
        key = live[0].key
        batch: list[_Pending] = []
        rest: list[_Pending] = []
        for item in live:
            (batch if len(batch) < self.max_batch_size and item.key == key else rest).append(item)
        self._pending = rest
        return batch


class GenerationCountError(RuntimeError):
    """A backend broke the protocol: not one generation per request (a bug, not a bad request)."""


def _check_count(backend: Any, generations: Sequence[Generation], expected: int) -> None:
    if len(generations) != expected:
        kind = type(getattr(backend, "owner", backend)).__name__
        raise GenerationCountError(f"{kind} returned {len(generations)} generations for {expected} requests")


class _WorkerThread:
    """The Backend face of a synchronous batch function run on one worker thread."""

    def __init__(self, owner: BatchingBackend):
        self.owner = owner
        self.name = owner.name
        self.model_id = owner.model_id
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{owner.name}-batch")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.owner.name, "model": self.owner.model_id}

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.owner._generate_batch, list(requests))


class BatchingBackend(ABC):
    """Base of in-process providers: subclasses implement ``_generate_batch`` for compatible requests.

    ``_generate_batch`` runs in one worker thread (one model, one batch at a time) so the event loop
    keeps collecting the next batch while the model works; a :class:`Batcher` built here does the
    coalescing (override :meth:`batch_key` to change what may share a call).
    """

    name: str = "batching"

    def __init__(self, model_id: str, *, max_batch_size: int = 16, batch_wait_s: float = 0.005):
        self.model_id = model_id
        self._worker_thread = _WorkerThread(self)
        self._batcher = Batcher(self._worker_thread, max_batch_size=max_batch_size,
                                batch_wait_s=batch_wait_s, batch_key=self.batch_key)

    @property
    def max_batch_size(self) -> int:
        return self._batcher.max_batch_size

    @property
    def batch_wait_s(self) -> float:
        return self._batcher.batch_wait_s

    @abstractmethod
    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Generate for compatible requests (same ``batch_key``); one generation per request."""

    def batch_key(self, request: GenerationRequest) -> Hashable:
        """Requests with equal keys may share a model call."""
        return default_batch_key(request)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_id,
            "max_batch_size": self.max_batch_size,
            "batch_wait_s": self.batch_wait_s,
        }

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return await self._batcher.generate(requests)

    def close(self) -> None:
        self._worker_thread.executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["Batcher", "BatchingBackend", "default_batch_key"]
