"""Retrying as a wrapper: ``RetryingBackend(backend)`` tries transient failures again (Backend -> Backend).

A provider marks a failure as transient by returning an error generation with ``retry_after_s``
set (0 when the server gave no ``Retry-After``); everything else is final. Waits grow
exponentially with jitter, a server's ``Retry-After`` wins (capped), and a request that still
fails after ``max_retries`` keeps its error, so an eval records it on its sample and goes on.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Sequence
from typing import Any

from ._types import Backend, Generation, GenerationRequest

logger = logging.getLogger("skillgap.backends.retry")


class RetryingBackend:
    """Wrap ``backend`` so transient failures are retried with backoff.

    Args:
        backend: The backend whose error generations with ``retry_after_s`` are retried.
        max_retries: Retries after the first attempt.
        backoff_s: First retry delay; it doubles each retry (with jitter), up to ``max_backoff_s``.
            A server's ``Retry-After`` is honoured, up to ``max_backoff_s``.

    Example:
        >>> backend = RetryingBackend(flaky_backend, max_retries=3)  # doctest: +SKIP
    """

    def __init__(self, backend: Backend, *, max_retries: int = 5, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, rng: random.Random | None = None):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if backoff_s < 0 or max_backoff_s < 0:
            raise ValueError("backoff_s and max_backoff_s must be >= 0")
        self.backend = backend
        self.name = backend.name
        self.model_id = backend.model_id
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._rng = rng

    def describe(self) -> dict[str, Any]:
        return {**self.backend.describe(), "max_retries": self.max_retries,
                "backoff_s": self.backoff_s, "max_backoff_s": self.max_backoff_s}

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        results = list(await self.backend.generate(requests))
        failing = [index for index, result in enumerate(results) if _transient(result)]
        for attempt in range(self.max_retries):
            if not failing:
                break
            delay = max(retry_delay(attempt, results[index].retry_after_s, backoff_s=self.backoff_s,
                                    max_backoff_s=self.max_backoff_s, rng=self._rng)
                        for index in failing)
            logger.debug("retrying %d request(s) in %.2f s after: %s", len(failing), delay,
                         results[failing[0]].error)
            await asyncio.sleep(delay)
            again = await self.backend.generate([requests[index] for index in failing])
            for index, result in zip(failing, again, strict=True):
                results[index] = result
            failing = [index for index in failing if _transient(results[index])]
        attempts = self.max_retries + 1
        for index in failing:
            results[index] = results[index].model_copy(update={
                "error": f"{results[index].error} (gave up after {attempts} attempts)",
            })
        return results


def _transient(generation: Generation) -> bool:
    return generation.finish_reason == "error" and generation.retry_after_s is not None


def retry_delay(attempt: int, retry_after: str | float | None = None, *, backoff_s: float = 0.5,
                max_backoff_s: float = 30.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt + 1``.

    A server's ``Retry-After`` (seconds or an HTTP date; 0 or unparseable means "not given") wins,
    capped at ``max_backoff_s``; otherwise ``backoff_s * 2**attempt`` (capped) with "equal jitter":
    half of it fixed, half random, so clients that failed together do not retry together.
    """
    waited = parse_retry_after(retry_after) if isinstance(retry_after, str) else retry_after
    if waited is not None and math.isfinite(waited) and waited > 0:
        return min(waited, max_backoff_s)
    ceiling = min(max_backoff_s, backoff_s * 2.0**attempt)
    return ceiling / 2 + (rng or random).uniform(0.0, ceiling / 2)


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (a number or an HTTP date), or None if unreadable."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - time.time()


__all__ = ["RetryingBackend", "parse_retry_after", "retry_delay"]
