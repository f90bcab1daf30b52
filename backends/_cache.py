"""A persistent model-call cache: any backend wrapped so that a repeated request costs nothing.

Generations are stored in one SQLite table (WAL mode, so several processes can share a file) under
a key that hashes the request's fingerprint (images by content) and the backend's description minus
its batching knobs. A rerun into a new output folder, or a second strategy asking the same visual
question, is served from the cache; only what is missing reaches the wrapped model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ._types import Backend, Generation, GenerationRequest

CACHE_VERSION = 1
#: Description fields that change how calls are scheduled, never what a call returns.
SCHEDULING_KEYS = frozenset(
    {"max_batch_size", "batch_wait_s", "concurrency", "max_retries", "timeout_s", "backoff_s",
     "max_backoff_s", "local_files_only"}
)
_LOOKUP_CHUNK = 500


def default_cache_path() -> Path:
    """``$SKILLGAP_CACHE/calls.sqlite`` (``SKILLGAP_CACHE`` defaults to ``~/.cache/skillgap``)."""
    from ._default_model import cache_dir

    return cache_dir() / "calls.sqlite"


class CachedBackend:
    """Wrap ``backend`` so generations are kept in a SQLite file at ``path`` and reused.

    Not cached: requests sampled without a seed (``temperature > 0`` and ``seed`` unset) and
    generations that failed (``finish_reason == "error"``). Cache hits come back with
    ``cached=True`` and the latency of the original call. Identical requests in flight at the same
    time (in one event loop) reach the model once. Misses of one :meth:`generate` call are forwarded
    in one call to the wrapped backend, so its dynamic batching still sees them together.

    ``describe()`` is the wrapped backend's, so run logs name the real model.

    Args:
        backend: The backend to wrap.
        path: The SQLite file; created with its folder if missing.

    Example:
        >>> with CachedBackend(load_backend("transformers"), "calls.sqlite") as backend:  # doctest: +SKIP
        ...     run_eval(config, backend, Path("runs/a"))
    """

    def __init__(self, backend: Backend, path: str | Path):
        self.backend = backend
        self.name = backend.name
        self.model_id = backend.model_id
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._model_key = _model_key(backend.describe())
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: dict[str, asyncio.Future[Generation | None]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=30, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS generations "
            "(key TEXT PRIMARY KEY, model TEXT NOT NULL, generation TEXT NOT NULL)"
        )

    @property
    def native_layout(self) -> str:
        """The wrapped backend's native image layout (``AttributeError`` if it declares none)."""
        layout = getattr(self.backend, "native_layout", None)
        if layout is None:
            raise AttributeError(f"{type(self.backend).__name__} declares no native_layout")
        return str(layout)

    def describe(self) -> dict[str, Any]:
        return self.backend.describe()

    def key(self, request: GenerationRequest) -> str | None:
        """The cache key of ``request`` on this model, or None when it must not be cached."""
        if request.temperature > 0 and request.seed is None:
            return None
        try:
            fingerprint = request.fingerprint()
        except ValueError:  # an unreadable image: the wrapped backend reports it
            return None
        body = {"version": CACHE_VERSION, "request": fingerprint, "model": self._model_key}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Futures of another event loop cannot be awaited here.
            self._loop, self._inflight = loop, {}
        keys = [self.key(request) for request in requests]
        stored = self._lookup(key for key in keys if key is not None and key not in self._inflight)
        results: list[Generation | None] = [None] * len(requests)
        forward: list[int] = []
        waiting: list[tuple[int, asyncio.Future[Generation | None]]] = []
        owned: dict[str, asyncio.Future[Generation | None]] = {}
        for index, key in enumerate(keys):
            if key is None:
                forward.append(index)
            elif key in stored:
                results[index] = stored[key]
            elif key in self._inflight:
                waiting.append((index, self._inflight[key]))
            else:
                owned[key] = self._inflight[key] = loop.create_future()
                forward.append(index)
        try:
            await self._forward(requests, keys, forward, results, owned)
        finally:
            for key, future in owned.items():
                if not future.done():
                    future.set_result(None)  # the call failed: waiters make their own
                self._inflight.pop(key, None)
        retry = []
        for index, future in waiting:
            shared = await future
            if shared is None:
                retry.append(index)
            else:
                results[index] = shared.model_copy(update={"cached": True})
        await self._forward(requests, keys, retry, results, {})
        self.misses += len(forward) + len(retry)
        self.hits += len(requests) - len(forward) - len(retry)
        return [result for result in results if result is not None]

    async def _forward(
        self,
        requests: Sequence[GenerationRequest],
        keys: list[str | None],
        indices: list[int],
        results: list[Generation | None],
        owned: dict[str, asyncio.Future[Generation | None]],
    ) -> None:
        """One call to the wrapped backend for ``indices``; successful generations are stored."""
        if not indices:
            return
        generated = await self.backend.generate([requests[index] for index in indices])
        if len(generated) != len(indices):
            raise RuntimeError(
                f"{type(self.backend).__name__} returned {len(generated)} generations "
                f"for {len(indices)} requests"
            )
        rows = []
        for index, generation in zip(indices, generated, strict=True):
            results[index] = generation
            key = keys[index]
            if key is None:
                continue
            if generation.finish_reason != "error":
                rows.append((key, generation))
            future = owned.get(key)
            if future is not None and not future.done():
                future.set_result(generation)
        self._store(rows)

    def _lookup(self, keys: Iterable[str]) -> dict[str, Generation]:
        wanted = sorted(set(keys))
        found: dict[str, Generation] = {}
        if not wanted:
            return found
        with self._lock:
            db = self._connection()
            rows = []
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows += db.execute(
                    f"SELECT key, generation FROM generations WHERE key IN ({marks})", chunk
                ).fetchall()
        for key, text in rows:
            try:
                found[key] = Generation.model_validate_json(text).model_copy(update={"cached": True})
            except ValueError:  # written by an incompatible version: a miss, overwritten later
                continue
        return found

    def _store(self, rows: list[tuple[str, Generation]]) -> None:
        if not rows:
            return
        model = str(self._model_key.get("model"))
        values = [
            (key, model, generation.model_dump_json(exclude={"cached"})) for key, generation in rows
        ]
        with self._lock:
            db = self._connection()
            db.execute("BEGIN")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO generations (key, model, generation) VALUES (?, ?, ?)",
                    values,
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"the call cache {self.path} is closed")
        return self._db

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    def close(self) -> None:
        """Close the SQLite file (idempotent); the wrapped backend stays open."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> CachedBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _model_key(described: dict[str, Any]) -> dict[str, Any]:
    """What identifies the model's outputs: the description without scheduling knobs, plus a
    stamp of a local model folder's files so retrained weights in the same folder miss."""
    key = {name: value for name, value in described.items() if name not in SCHEDULING_KEYS}
    key = json.loads(json.dumps(key, sort_keys=True, default=str))
    model = key.get("model")
    if isinstance(model, str) and Path(model).is_absolute() and Path(model).is_dir():
        key["files"] = sorted(
            [item.name, stat.st_size, stat.st_mtime_ns]
            for item in Path(model).iterdir()
            if item.is_file() and (stat := item.stat())
        )
    return key


__all__ = ["CachedBackend", "default_cache_path"]
