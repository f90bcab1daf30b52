"""The worker process of :class:`~skillgap.backends.ProcessBackend`: ``python -m
skillgap.backends._worker FD`` builds one registered backend and answers its model calls over the
socket ``FD``.

Messages are pickled tuples. In: the backend's ``(name, model, options)``, then ``("generate", id,
requests)``. Out: ``("info", {...})`` or ``("start_error", exc)`` once, then ``("result", id,
generations)`` or ``("error", id, exc)`` per call, in the order calls finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from ._types import GenerationRequest


def _portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (so the parent raises the same type), else a RuntimeError."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _serve(fd: int) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it (it keeps the log and says how
    # to resume) and the child ends when the parent closes the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock, contextlib.suppress(OSError):
            conn.send(message)

    backend_name, model, options = conn.recv()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="skillgap-worker-loop", daemon=True).start()
    built = threading.Event()
    backends: list[Any] = []

    async def answer(call_id: int, requests: list[GenerationRequest]) -> None:
        try:
            send(("result", call_id, await backends[0].generate(requests)))
        except Exception as exc:  # a failed call is that call's error, not the worker's
            send(("error", call_id, _portable_error(exc)))

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # The parent closed the socket or is gone: nothing is left to answer, and a model
                # still loading is not worth waiting for.
                os._exit(0)
            built.wait()
            if message[0] == "generate" and backends:
                asyncio.run_coroutine_threadsafe(answer(message[1], message[2]), loop)

    threading.Thread(target=read, name="skillgap-worker-reader", daemon=True).start()
    try:
        from ._registry import load_backend

        backend = load_backend(backend_name, model, **options)
        send(("info", {"name": backend.name, "model_id": backend.model_id,
                       "describe": backend.describe(),
                       "native_layout": getattr(backend, "native_layout", "free"),
                       "max_batch_size": getattr(backend, "max_batch_size", None)}))
    except BaseException as exc:  # every failure to start is the parent's to report
        send(("start_error", _portable_error(exc)))
        return
    backends.append(backend)
    built.set()
    load = getattr(backend, "load", None)
    if callable(load):
        # A model that fails to load is left for its calls to repeat and report, as in process.
        with contextlib.suppress(Exception):
            load()
    threading.Event().wait()  # the reader thread ends the process


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)  # a backend that could not be built: no waiting on its threads
