"""A backend in a worker process: any registered backend, built and run in a child process.

``skillgap eval`` runs a local model this way by default. Importing torch and transformers and
loading the weights is seconds of Python that holds the GIL, and so is the eval's own start
(skillgap's tasks and graphs, LangGraph, matplotlib): in one process they run one after the other
even on a thread, while in two processes they run side by side on two cores. The child is started
first and the eval process goes on with its own start; it waits only when it needs the model's
description (for the run log) or its first answer.

The eval process keeps the graphs, the run log, resume and the report; the child only answers
model calls, over a socket pair, with the wrapped backend's own batching (concurrent calls reach it
together). Where a model runs does not change its answers, so :meth:`ProcessBackend.describe` is
the wrapped backend's, and a run started in process resumes here and the other way round.

A child that cannot build its backend raises the same error here, on first use. A child that dies
fails the calls in flight and every later call with an error naming its exit code (each becomes
that sample's error in the log, as a failed model call does); the child exits when this process
closes the backend or exits itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from ._types import Generation, GenerationRequest

#: How long the first use waits for the child to build its backend (imports included).
START_TIMEOUT_S = 600.0


class WorkerError(RuntimeError):
    """The worker process is gone, or answered with something that is not a model answer."""


class ProcessBackend:
    """``backend`` (a registered name) with ``model`` and ``options``, run in a child process.

    Example:
        >>> from skillgap.backends import ProcessBackend  # doctest: +SKIP
        >>> backend = ProcessBackend("transformers")  # the embedded model, loading in a child
        >>> asyncio.run(backend.generate([request]))  # doctest: +SKIP
    """

    def __init__(self, backend: str, model: str | None = None, options: dict[str, Any] | None = None,
                 *, start_timeout_s: float = START_TIMEOUT_S):
        self.backend_name = backend
        self.start_timeout_s = start_timeout_s
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "skillgap.backends._worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                # The child's own prints must not reach a pipe nobody reads; its stderr (load
                # progress, warnings) is the user's, as it is in process.
                stdout=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        # The socket object stays ours so close() can shut it down: closing a descriptor does not
        # wake the reader thread blocked on it, and the child would never see the end.
        self._socket = ours
        self._conn = Connection(os.dup(ours.fileno()))
        self._send_lock = threading.Lock()
        self._conn.send((backend, model, dict(options or {})))
        self._info: dict[str, Any] | None = None
        self._start_error: BaseException | None = None
        self._started = threading.Event()
        self._ids = itertools.count()
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._pending_lock = threading.Lock()
        self._gone: str | None = None
        self._reader = threading.Thread(target=self._read, name="skillgap-worker-reader", daemon=True)
        self._reader.start()

    # -- what the wrapped backend is ----------------------------------------------------------

    def _described(self) -> dict[str, Any]:
        if not self._started.wait(self.start_timeout_s):
            raise WorkerError(f"the model worker process (pid {self.pid}) built no "
                              f"{self.backend_name!r} backend within {self.start_timeout_s:g}s")
        if self._start_error is not None:
            raise self._start_error
        assert self._info is not None
        return self._info

    @property
    def name(self) -> str:
        return str(self._described()["name"])

    @property
    def model_id(self) -> str:
        return str(self._described()["model_id"])

    @property
    def native_layout(self) -> str:
        return str(self._described()["native_layout"])

    @property
    def max_batch_size(self) -> int | None:
        value = self._described()["max_batch_size"]
        return int(value) if value is not None else None

    @property
    def pid(self) -> int:
        """The worker process's id."""
        return self._process.pid

    def describe(self) -> dict[str, Any]:
        return dict(self._described()["describe"])

    def load(self) -> None:
        """Wait until the child has built its backend (it loads the model right after)."""
        self._described()

    def __repr__(self) -> str:
        return f"ProcessBackend({self.backend_name!r}, pid={self.pid})"

    # -- calls ----------------------------------------------------------------------------------

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        if not self._started.is_set():  # wait for the worker without holding up the event loop
            await asyncio.to_thread(self._started.wait, self.start_timeout_s)
        self._described()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        # mem:// images live in this process: the worker gets their bytes.
        message = ("generate", next(self._ids), [request.portable() for request in requests])
        with self._pending_lock:
            if self._gone is not None:
                raise WorkerError(self._gone)
            self._pending[message[1]] = (loop, future)
        try:
            with self._send_lock:
                self._conn.send(message)
        except OSError:
            with self._pending_lock:
                self._pending.pop(message[1], None)
            raise WorkerError(self._gone or self._exit_text()) from None
        answers = await future
        if not (isinstance(answers, list) and len(answers) == len(requests)
                and all(isinstance(answer, Generation) for answer in answers)):
            raise WorkerError(f"the model worker answered {len(requests)} requests with {answers!r:.200}")
        return answers

    def close(self) -> None:
        """Stop the child (it also exits by itself when this process does)."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._conn.close()
        self._socket.close()
        if self._process.poll() is None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- the reader thread ----------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                break
            kind = message[0]
            if kind == "info":
                self._info = message[1]
                self._started.set()
            elif kind == "start_error":
                self._start_error = message[1]
                self._started.set()
            elif kind in ("result", "error"):
                with self._pending_lock:
                    waiting = self._pending.pop(message[1], None)
                if waiting is not None:
                    loop, future = waiting
                    setter = future.set_result if kind == "result" else future.set_exception
                    with contextlib.suppress(RuntimeError):  # that event loop is closed
                        loop.call_soon_threadsafe(_settle, future, setter, message[2])
        gone = self._exit_text()
        with self._pending_lock:
            self._gone = gone
            waiting_all = list(self._pending.values())
            self._pending.clear()
        if not self._started.is_set():
            self._start_error = WorkerError(gone)
            self._started.set()
        for loop, future in waiting_all:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, future.set_exception, WorkerError(gone))

    def _exit_text(self) -> str:
        try:
            code = self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return f"the model worker process (pid {self.pid}) stopped answering"
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"the model worker process (pid {self.pid}) {how}; rerun to resume the eval"


def _settle(future: asyncio.Future[Any], setter: Any, value: Any) -> None:
    if not future.done():
        setter(value)


__all__ = ["ProcessBackend", "WorkerError"]
