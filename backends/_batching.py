"""Dynamic batching shared by every in-process backend.

Callers (one graph per sample) each ask for one generation; the batcher coalesces requests that
arrive within a short window into one model call of up to ``max_batch_size`` compatible requests,
so per-sample graphs keep their semantics while the model still sees full batches.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._types import Generation, GenerationRequest

_Pending = tuple[Hashable, GenerationRequest, "asyncio.Future[Generation]"]


class BatchingBackend(ABC):
    """Base class: subclasses implement ``_generate_batch`` for a list of compatible requests.

    ``_generate_batch`` runs in one worker thread (one model, one batch at a time) so the event loop
    keeps collecting the next batch while the model works.
    """

    name: str = "batching"

    def __init__(self, model_id: str, *, max_batch_size: int = 16, batch_wait_s: float = 0.005):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if batch_wait_s < 0:
            raise ValueError(f"batch_wait_s must be >= 0, got {batch_wait_s}")
        self.model_id = model_id
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        # Each pending request with its batch key (computed once) and its caller's future.
        self._pending: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-batch")

    @abstractmethod
    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Generate for compatible requests (same ``batch_key``); one generation per request."""

    def batch_key(self, request: GenerationRequest) -> Hashable:
        """Requests with equal keys may share a model call."""
        sampling_seed = request.seed if request.temperature > 0 else None
        return (
            request.constraint.key() if request.constraint else None,
            request.max_tokens,
            request.temperature,
            sampling_seed,
            len(request.images),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_id,
            "max_batch_size": self.max_batch_size,
            "batch_wait_s": self.batch_wait_s,
        }

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (e.g. a second asyncio.run): state of the old one is unusable.
            self._loop, self._pending, self._worker = loop, [], None
        futures = []
        for request in requests:
            future: asyncio.Future[Generation] = loop.create_future()
            self._pending.append((self.batch_key(request), request, future))
            futures.append(future)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return list(await asyncio.gather(*futures))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            if len(self._pending) < self.max_batch_size and self.batch_wait_s > 0:
                await asyncio.sleep(self.batch_wait_s)
            batch = self._take_batch()
            requests = [request for _, request, _ in batch]
            started = time.perf_counter()
            try:
                generations = await loop.run_in_executor(
                    self._executor, self._generate_batch, requests
                )
                if len(generations) != len(requests):
                    raise RuntimeError(
                        f"{type(self).__name__} returned {len(generations)} generations "
                        f"for {len(requests)} requests"
                    )
            except Exception as exc:  # the whole batch failed: every caller sees the error
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            elapsed = time.perf_counter() - started
            for (_, _, future), generation in zip(batch, generations, strict=True):
                if not future.done():
                    update: dict[str, Any] = {"batch_size": len(batch)}
                    if not generation.latency_s:
                        update["latency_s"] = elapsed
                    future.set_result(generation.model_copy(update=update))

    def _take_batch(self) -> list[_Pending]:
        """The oldest request and, in arrival order, up to max_batch_size - 1 compatible ones."""
        key = self._pending[0][0]
        batch: list[_Pending] = []
        rest: list[_Pending] = []
        for item in self._pending:
            (batch if len(batch) < self.max_batch_size and item[0] == key else rest).append(item)
        self._pending = rest
        return batch

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
