"""Model replicas as Ray actors: any registered backend, one copy per actor, used as one backend.

The driver (the eval process) keeps the graphs, the run log, resume and the report. Model calls
are queued in the driver and sent to the least-loaded live replica in chunks of up to the
replica's batch size (a fair share of the queue when replicas are idle), one actor method call per
chunk: a Ray call costs the driver, the raylet and the actor far more than a request does, and a
replica fed one request per call starts its first batches before the rest have arrived (measured
on 48 cascades: 5 batches per replica where 3 full ones do). Ray restarts a replica whose process
dies (``max_restarts``); the calls of a chunk it had in flight fail in the driver and are queued
again, for another replica while it restarts. A record is written by the driver only once its
sample is done, and each call is answered once, so a dead replica can neither lose nor duplicate
a record.

Ray is an optional extra (``pip install 'skillgap[ray]'``) and is imported only when a
:class:`RayBackend` is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._batching import default_batch_key
from ._types import Generation, GenerationRequest

logger = logging.getLogger("skillgap.backends.ray")


class Replica:
    """The actor body: one backend built by the registry in the actor's process.

    Async methods make it an async actor, so concurrent calls from the driver reach the backend
    together and a batching backend (transformers) fills its batches as it does in process.
    """

    def __init__(self, backend: str, model: str | None, options: dict[str, Any]):
        from ._registry import load_backend

        self.backend = load_backend(backend, model, **options)
        load = getattr(self.backend, "load", None)
        if callable(load):
            load()  # a model that cannot load fails the actor's start, not its first call

    def info(self) -> dict[str, Any]:
        """The wrapped backend's description, model id, image layout and batch size, and this
        process's id."""
        return {"describe": self.backend.describe(), "model_id": self.backend.model_id,
                "native_layout": getattr(self.backend, "native_layout", "free"),
                "max_batch_size": getattr(self.backend, "max_batch_size", None), "pid": os.getpid()}

    async def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return await self.backend.generate(requests)

    async def generate_each(self, requests: list[GenerationRequest]) -> list[Generation | BaseException]:
        """Each request as a call of its own, all at once (a batching backend still batches them),
        so a request that fails returns its exception without failing its chunk-mates."""
        answers = await asyncio.gather(*(self.backend.generate([request]) for request in requests),
                                       return_exceptions=True)
        return [answer if isinstance(answer, BaseException) else answer[0] for answer in answers]


class _Slot:
    def __init__(self, actor: Any, index: int, limit: int):
        self.actor = actor
        self.name = f"ray-replica-{index}"
        self.limit = limit
        self.in_flight = 0  # requests, not actor calls
        self.failures = 0
        self.down_until = 0.0
        self.served = 0
        self.chunks = 0  # actor calls answered


@dataclass(eq=False)
class _Call:
    """One queued request, the future its caller awaits, and the replicas that failed it."""

    request: GenerationRequest
    key: Hashable
    future: asyncio.Future[Generation]
    failures: list[str] = field(default_factory=list)


class RayBackend:
    """``replicas`` copies of a registered backend, each a Ray actor, used as one backend.

    Args:
        backend: The registered backend each replica runs (``transformers``, ``openai``, ``mock``,
            or any registered name; it must be importable on the cluster's nodes).
        model: Its model (hub id or a folder present on every node); default: the backend's own.
        options: The backend's options (``device``, ``max_batch_size``...).
        replicas: How many actors.
        gpus_per_replica: GPUs each actor reserves (Ray sets ``CUDA_VISIBLE_DEVICES`` for it, so a
            transformers backend lands on its own GPU).
        cpus_per_replica: CPUs each actor reserves.
        address: The Ray cluster: ``"auto"`` (the running one), ``"ray://head:10001"``,
            ``"head:6379"``; ``None`` joins one that is running here or starts a local one. Ignored
            when Ray is already initialised in this process.
        max_restarts: How often Ray restarts each replica that dies.
        concurrency: Most requests in flight per replica.
        max_attempts: Tries per request before it is recorded as failed.
        chunk_size: Most requests in one actor call; default: the replica's batch size
            (``max_batch_size``), else 16.
        dispatch_wait_s: How long the driver waits for more requests, while they keep coming, before
            it sends a chunk that is not full.
        start_timeout_s: How long to wait for the first replica to load its model.
        init_options: More arguments for ``ray.init`` (``runtime_env``, ``num_cpus``...).

    Example:
        >>> backend = RayBackend("transformers", "Qwen/Qwen2.5-VL-7B-Instruct", replicas=8,
        ...                      gpus_per_replica=1, address="auto")  # doctest: +SKIP
    """

    name = "ray"

    def __init__(
        self,
        backend: str = "transformers",
        model: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        replicas: int = 1,
        gpus_per_replica: float = 0.0,
        cpus_per_replica: float = 1.0,
        address: str | None = None,
        max_restarts: int = 3,
        concurrency: int = 64,
        max_attempts: int | None = None,
        start_timeout_s: float = 600.0,
        init_options: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        dispatch_wait_s: float = 0.005,
    ):
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        if gpus_per_replica < 0 or cpus_per_replica < 0:
            raise ValueError("gpus_per_replica and cpus_per_replica must be >= 0")
        if max_restarts < 0 or concurrency < 1:
            raise ValueError("need max_restarts >= 0 and concurrency >= 1")
        if (chunk_size is not None and chunk_size < 1) or dispatch_wait_s < 0:
            raise ValueError("need chunk_size >= 1 and dispatch_wait_s >= 0")
        try:
            import ray
        except ImportError:
            raise ValueError("--ray needs Ray: pip install 'skillgap[ray]'") from None
        self.started_ray = False
        if not ray.is_initialized():
            # The dashboard is only ours to switch off on a cluster we start (None: maybe local).
            local: dict[str, Any] = {"include_dashboard": False} if address is None else {}
            init_ray(address=address, log_to_driver=False, **local, **(init_options or {}))
            self.started_ray = True
        self.backend_name = backend
        self.replicas = replicas
        self.max_restarts = max_restarts
        self.max_attempts = max_attempts if max_attempts is not None else 2 * (max_restarts + 1) + replicas
        actor_class = ray.remote(Replica).options(
            num_cpus=cpus_per_replica, num_gpus=gpus_per_replica, max_restarts=max_restarts,
            # The driver resends failed calls itself, so it can pick another replica.
            max_task_retries=0,
        )
        self._slots = [_Slot(actor_class.remote(backend, model, dict(options or {})), i, concurrency)
                       for i in range(replicas)]
        try:
            infos = ray.get([slot.actor.info.remote() for slot in self._slots], timeout=start_timeout_s)
        except Exception:
            self.close()
            raise
        first = infos[0]
        self._described: dict[str, Any] = first["describe"]
        self.model_id: str = first["model_id"]
        self.native_layout: str = first["native_layout"]
        self.chunk_size = min(concurrency, chunk_size or first.get("max_batch_size") or 16)
        self.dispatch_wait_s = dispatch_wait_s
        self._turn = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Condition | None = None
        self._queue: list[_Call] = []
        self._dispatcher: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()

    def describe(self) -> dict[str, Any]:
        """The replicas' backend description: where a model runs does not change its answers, so a
        run resumes in process, on more replicas or on fewer (records name the replica)."""
        return dict(self._described)

    @property
    def actors(self) -> list[Any]:
        """The replicas' actor handles (for tests and status)."""
        return [slot.actor for slot in self._slots]

    def status(self) -> list[dict[str, Any]]:
        """Per replica: requests in flight and answered, actor calls (chunks) answered, failures."""
        return [{"replica": s.name, "in_flight": s.in_flight, "served": s.served, "chunks": s.chunks,
                 "failures": s.failures} for s in self._slots]

    def close(self) -> None:
        """Stop the replicas (and the local Ray this backend started)."""
        import ray

        for slot in self._slots:
            ray.kill(slot.actor, no_restart=True)
        if self.started_ray:
            ray.shutdown()

    def __repr__(self) -> str:
        return f"RayBackend({self.backend_name!r}, model={self.model_id!r}, replicas={self.replicas})"

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self._condition()  # binds the queue and the dispatcher to this event loop
        loop = asyncio.get_running_loop()
        calls = [_Call(request, default_batch_key(request), loop.create_future())
                 # A replica may be on another node: images travel as data URIs.
                 for request in map(GenerationRequest.portable, requests)]
        self._queue += calls
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = loop.create_task(self._dispatch())
        return list(await asyncio.gather(*(call.future for call in calls)))

    async def _dispatch(self) -> None:
        """Send queued calls, a chunk at a time, until the queue is empty. A chunk holds requests
        that may share a batch (the oldest request's batch key) and goes to the least-loaded
        replica; one that is not full waits while more requests keep coming, so requests that
        callers make together (a batch's answers continue their graphs together) travel together."""
        while True:
            self._queue = [call for call in self._queue if not call.future.done()]  # given up
            if not self._queue:
                return
            chunk = self._chunk()
            waited = 0.0
            while len(chunk) < self.chunk_size and waited < 10 * self.dispatch_wait_s:
                queued = len(self._queue)
                await asyncio.sleep(self.dispatch_wait_s)
                waited += self.dispatch_wait_s
                if len(self._queue) == queued:  # quiet: nobody is about to add to it
                    break
                chunk = self._chunk()
            slot = await self._acquire()  # counts one request in flight on it
            chunk = [call for call in self._chunk(slot.limit - slot.in_flight + 1, self._idle(slot))
                     if not call.future.done()]
            if not chunk:  # given up while waiting for a replica
                slot.in_flight -= 1
                await self._notify()
                continue
            taken = set(map(id, chunk))
            self._queue = [call for call in self._queue if id(call) not in taken]
            slot.in_flight += len(chunk) - 1  # _acquire counted one
            task = asyncio.get_running_loop().create_task(self._send(slot, chunk))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    def _chunk(self, room: int | None = None, idle: int = 0) -> list[_Call]:
        """The oldest queued request and the next ones with its batch key, up to a chunk; for an
        idle replica, a fair share among the ``idle`` ones, so that fewer requests than a chunk
        still keep every idle replica busy."""
        if not self._queue:
            return []
        key = self._queue[0].key
        mates = [call for call in self._queue if call.key == key]
        limit = min(self.chunk_size, room if room is not None else self.chunk_size)
        if idle > 0:
            limit = min(limit, -(-len(mates) // idle))
        return mates[:max(1, limit)]

    def _idle(self, slot: _Slot) -> int:
        """How many live replicas have nothing in flight, when ``slot`` (just acquired) is one of
        them; else 0."""
        now = time.monotonic()

        def busy(other: _Slot) -> int:  # _acquire counted one request on ``slot``
            return other.in_flight - (other is slot)

        if busy(slot) > 0:
            return 0
        return sum(busy(other) == 0 and other.down_until <= now for other in self._slots)

    async def _send(self, slot: _Slot, chunk: list[_Call]) -> None:
        from ray.exceptions import ActorUnavailableError, RayActorError

        try:
            answers = await slot.actor.generate_each.remote([call.request for call in chunk])
        except (RayActorError, ActorUnavailableError) as exc:
            # The replica died (or is restarting): Ray brings it back; queue the chunk again.
            self._down(slot)
            retry = []
            for call in chunk:
                call.failures.append(f"{slot.name}: {type(exc).__name__}")
                if len(call.failures) < self.max_attempts:
                    retry.append(call)
                elif not call.future.done():
                    reason = (f"no replica answered after {len(call.failures)} attempts: "
                              + ", ".join(call.failures))
                    call.future.set_result(Generation(text="", finish_reason="error", error=reason))
            self._queue[:0] = retry  # first in line: they have waited longest
            if retry and (self._dispatcher is None or self._dispatcher.done()):
                self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
            return
        except asyncio.CancelledError:  # the event loop is closing
            for call in chunk:
                call.future.cancel()
            raise
        except Exception as exc:  # the chunk call itself broke: its callers see why
            for call in chunk:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        finally:
            slot.in_flight -= len(chunk)
            await self._notify()
        slot.failures = 0
        slot.served += len(chunk)
        slot.chunks += 1
        for call, answer in zip(chunk, answers, strict=True):
            if call.future.done():
                continue
            if isinstance(answer, BaseException):
                call.future.set_exception(answer)
            else:
                call.future.set_result(answer.model_copy(update={"served_by": slot.name}))

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._changed is None:
            # A new event loop (each asyncio.run): what was queued on the old one died with it.
            self._loop, self._changed = loop, asyncio.Condition()
            self._queue, self._dispatcher, self._sends = [], None, set()
        return self._changed

    async def _acquire(self) -> _Slot:
        """The least-loaded replica that is up and has room; waits (bounded by the ``down`` pauses
        and the calls in flight, each of which ends) while none has."""
        changed = self._condition()
        async with changed:
            while True:
                now = time.monotonic()
                ready = [s for s in self._slots if s.down_until <= now and s.in_flight < s.limit]
                if ready:
                    count = len(self._slots)
                    slot = min(ready, key=lambda s: (s.in_flight / s.limit,
                                                     (self._slots.index(s) - self._turn) % count))
                    self._turn = (self._slots.index(slot) + 1) % count
                    slot.in_flight += 1
                    return slot
                pauses = [s.down_until - now for s in self._slots if s.down_until > now]
                timeout = min(pauses) if pauses and len(pauses) == len(self._slots) else 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=max(timeout, 0.001))

    def _down(self, slot: _Slot) -> None:
        """Keep calls off a replica while Ray restarts it (calls sent meanwhile would wait on it)."""
        if time.monotonic() < slot.down_until:
            return
        slot.failures += 1
        pause = min(30.0, 0.5 * 2.0 ** (slot.failures - 1))
        slot.down_until = time.monotonic() + pause
        logger.warning("%s failed; sending its calls elsewhere for %.1f s", slot.name, pause)

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()


def init_ray(*, attempts: int = 3, **options: Any) -> None:
    """``ray.init(**options)``, tried again when the local cluster's raylet misses its start-up
    deadline: Ray gives it a fixed 30 s to register, which a busy machine can miss."""
    import ray

    for attempt in range(attempts):
        try:
            ray.init(**options)
            return
        except Exception as exc:
            ray.shutdown()
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise


__all__ = ["RayBackend", "Replica", "init_ray"]
