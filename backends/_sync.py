"""Run a coroutine to completion from synchronous code, in scripts and inside notebooks alike.

``asyncio.run`` refuses to start inside a running event loop (Jupyter, IPython with autoawait, an
async web handler), so there the coroutine runs on a fresh loop in a worker thread, with a copy of
the caller's context (OpenTelemetry spans stay parents of what the coroutine opens).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)``, or the same on a worker thread when a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="skillgap-sync") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()
