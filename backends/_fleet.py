"""A fleet of OpenAI-compatible endpoints serving one model (vLLM, SGLang, ``skillgap serve`` replicas).

Each request goes to the least-loaded healthy endpoint, within per-endpoint concurrency limits. An
endpoint that fails (connection refused or dropped, timeout, 5xx, 429) is ejected for a while, with a
doubling ejection time, and the request is retried on another endpoint; when its ejection ends it is
let back in one request at a time until one succeeds. A request the server refuses (4xx: a bad
image, an unknown model) is returned as it is: another replica would refuse it too.

The fleet talks to each endpoint through its own :class:`OpenAIBackend` (with no retries of its own:
retrying on another endpoint is the fleet's job), so wire format, constraints and logprobs are the
same as with one endpoint. Every generation names the endpoint that answered in ``served_by``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._openai import OpenAIBackend
from ._types import Generation, GenerationRequest

logger = logging.getLogger("skillgap.backends.fleet")

# A refusal that any replica of the same model would repeat: not the endpoint's fault.
_CLIENT_ERROR = re.compile(r"^(HTTP 4(?!08|29)\d\d\b|image could not be sent)")


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint of a fleet: its API root and, optionally, its own concurrency limit."""

    url: str
    concurrency: int | None = None


def parse_endpoints(value: str | Sequence[str]) -> list[EndpointSpec]:
    """Endpoints from a comma-separated list of URLs, a file of them, or a sequence of either.

    A file has one endpoint a line, ``URL`` or ``URL CONCURRENCY`` (a limit for that endpoint, e.g.
    for a bigger GPU); blank lines and ``#`` comments are skipped. Repeated URLs are kept once.

    Example:
        >>> [e.url for e in parse_endpoints("http://a:8000/v1,http://b:8000/v1")]
        ['http://a:8000/v1', 'http://b:8000/v1']
    """
    items = [value] if isinstance(value, str) else list(value)
    found: dict[str, EndpointSpec] = {}
    for item in items:
        item = item.strip()
        path = Path(item).expanduser()
        if item and "://" not in item and path.is_file():
            lines = [line.split("#", 1)[0].split() for line in path.read_text().splitlines()]
            specs = [_spec(words, f"{path}:{number}") for number, words in enumerate(lines, 1) if words]
        else:
            specs = [_spec([url.strip()], item) for url in item.split(",") if url.strip()]
        for spec in specs:
            found.setdefault(spec.url.rstrip("/"), spec)
    if not found:
        raise ValueError(f"no endpoint URLs in {value!r}")
    return list(found.values())


def _spec(words: list[str], where: str) -> EndpointSpec:
    url = words[0]
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{where}: an endpoint must be an http(s) URL, got {public_url(url)!r}")
    if len(words) > 2 or (len(words) == 2 and not words[1].isdigit()) or words[1:] == ["0"]:
        raise ValueError(f"{where}: expected 'URL' or 'URL CONCURRENCY' (a positive integer)")
    return EndpointSpec(url.rstrip("/"), int(words[1]) if len(words) == 2 else None)


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment (they can hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Endpoint:
    """One endpoint's client and health: requests in flight, ejection, consecutive failures."""

    def __init__(self, backend: OpenAIBackend, limit: int):
        self.backend = backend
        self.url = public_url(backend.base_url)
        self.limit = limit
        self.in_flight = 0
        self.failures = 0  # consecutive; > 0 after an ejection means "on probation"
        self.ejected_until = 0.0
        self.served = 0

    def capacity(self, now: float) -> int:
        """How many more requests it may take now (0 while ejected; 1 at a time on probation)."""
        if now < self.ejected_until:
            return 0
        return (1 if self.failures else self.limit) - self.in_flight


class FleetBackend:
    """One model served by several OpenAI-compatible endpoints, used as one backend.

    Args:
        endpoints: One :class:`OpenAIBackend` per endpoint (same model); see :meth:`connect`.
        limits: Most requests in flight per endpoint (default: each backend's ``concurrency``).
        max_attempts: Attempts per request, each on the least-loaded healthy endpoint at the time.
        eject_s: First ejection of a failing endpoint; it doubles on each failure in a row, up to
            ``max_eject_s``.
        wait_s: Longest a request waits for any endpoint to take it (all ejected or all full),
            before it is recorded as failed.

    Example:
        >>> fleet = FleetBackend.connect(["http://gpu1:8000/v1", "http://gpu2:8000/v1"])  # doctest: +SKIP
    """

    name = "fleet"

    def __init__(
        self,
        endpoints: Sequence[OpenAIBackend],
        *,
        limits: Sequence[int | None] | None = None,
        max_attempts: int | None = None,
        eject_s: float = 2.0,
        max_eject_s: float = 60.0,
        wait_s: float = 600.0,
    ):
        if not endpoints:
            raise ValueError("a fleet needs at least one endpoint")
        models = {backend.model_id for backend in endpoints}
        if len(models) != 1:
            raise ValueError(f"the endpoints of a fleet must serve one model; they serve {sorted(models)}")
        limits = list(limits) if limits is not None else [None] * len(endpoints)
        if len(limits) != len(endpoints):
            raise ValueError("limits must give one value (or None) per endpoint")
        if any(limit is not None and limit < 1 for limit in limits):
            raise ValueError("endpoint concurrency limits must be >= 1")
        if eject_s <= 0 or max_eject_s < eject_s or wait_s <= 0:
            raise ValueError("need 0 < eject_s <= max_eject_s and wait_s > 0")
        self.endpoints = [
            _Endpoint(backend, limit if limit is not None else backend.concurrency)
            for backend, limit in zip(endpoints, limits, strict=True)
        ]
        first = endpoints[0]
        self.model_id = first.model_id
        self.native_layout = first.native_layout
        self.max_attempts = max_attempts if max_attempts is not None else 2 * len(endpoints) + 1
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        self.eject_s = eject_s
        self.max_eject_s = max_eject_s
        self.wait_s = wait_s
        self._turn = 0  # breaks ties between equally loaded endpoints in turn
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Condition | None = None

    @classmethod
    def connect(cls, endpoints: str | Sequence[str] | Sequence[EndpointSpec], model: str | None = None,
                *, max_retries: int | None = None, eject_s: float = 2.0, max_eject_s: float = 60.0,
                wait_s: float = 600.0, **options: Any) -> FleetBackend:
        """A fleet of the endpoints in ``endpoints`` (see :func:`parse_endpoints`).

        Each endpoint is asked what it serves (``GET /models``); the model must be the same on all
        that answer. Endpoints down at the start are kept: they are tried, ejected, and let back
        in when they come up. ``max_retries`` counts retries across endpoints (default: two per
        endpoint); ``options`` go to every :class:`OpenAIBackend` (``concurrency`` is the
        per-endpoint limit unless a file gives one).
        """
        specs = [spec if isinstance(spec, EndpointSpec) else EndpointSpec(spec)
                 for spec in (parse_endpoints(endpoints) if isinstance(endpoints, str) else endpoints)]
        options = {**options, "max_retries": 0}  # a failed attempt moves to another endpoint
        backends: list[OpenAIBackend | None] = []
        reasons = []
        for spec in specs:
            try:
                backends.append(OpenAIBackend.connect(spec.url, model, **options))
            except ValueError as exc:
                if "cannot list the models" not in str(exc):
                    raise  # the endpoint answered, but serves something else
                backends.append(None)
                reasons.append(str(exc))
        known = [backend for backend in backends if backend is not None]
        if not known:
            raise ValueError("no endpoint of the fleet answered: " + "; ".join(reasons))
        if len({backend.model_id for backend in known}) > 1:
            raise ValueError("the endpoints serve different models: "
                             + ", ".join(f"{public_url(b.base_url)}: {b.model_id}" for b in known))
        model = known[0].model_id
        layout = options.get("native_layout", known[0].native_layout)
        built = [
            backend if backend is not None
            else OpenAIBackend(model, base_url=spec.url, **{"native_layout": layout, **options})
            for backend, spec in zip(backends, specs, strict=True)
        ]
        for backend in built:  # an endpoint that could not be asked reads images as the others do
            backend.native_layout = layout
        attempts = None if max_retries is None else max_retries + 1
        return cls(built, limits=[spec.concurrency for spec in specs],
                   max_attempts=attempts, eject_s=eject_s, max_eject_s=max_eject_s, wait_s=wait_s)

    def describe(self) -> dict[str, Any]:
        """The model and how it is asked, without the endpoint URLs: a run resumes on another set
        of replicas of the same model (each record names the endpoint that served it)."""
        described = {key: value for key, value in self.endpoints[0].backend.describe().items()
                     if key not in ("base_url", "concurrency", "max_retries")}
        return {**described, "backend": "openai", "fleet": True}

    def status(self) -> list[dict[str, Any]]:
        """Each endpoint's URL, requests in flight and served, and whether it is ejected now."""
        now = time.monotonic()
        return [{"url": e.url, "in_flight": e.in_flight, "served": e.served, "limit": e.limit,
                 "ejected_s": max(0.0, round(e.ejected_until - now, 3)), "failures": e.failures}
                for e in self.endpoints]

    def __repr__(self) -> str:
        return f"FleetBackend(model={self.model_id!r}, endpoints={[e.url for e in self.endpoints]})"

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return list(await asyncio.gather(*(self._one(request) for request in requests)))

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.backend.aclose()

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._changed is None:
            self._loop, self._changed = loop, asyncio.Condition()
        return self._changed

    async def _one(self, request: GenerationRequest) -> Generation:
        failures: list[str] = []
        tried: set[int] = set()
        for _ in range(self.max_attempts):
            index = await self._acquire(tried)
            if index is None:
                failures.append(f"no endpoint took the request within {self.wait_s:g} s")
                break
            endpoint = self.endpoints[index]
            tried.add(index)
            try:
                generation = (await endpoint.backend.generate([request]))[0]
            except Exception as exc:  # a client bug must not stop the fleet: treat it as a failure
                generation = Generation(text="", finish_reason="error", error=f"{type(exc).__name__}: {exc}")
            finally:
                endpoint.in_flight -= 1
            failed = generation.error is not None and not _CLIENT_ERROR.match(generation.error)
            if failed:
                self._eject(endpoint, str(generation.error))
                failures.append(f"{endpoint.url}: {generation.error}")
            else:
                endpoint.failures = 0
                endpoint.served += 1
            await self._notify()
            if not failed:
                return generation.model_copy(update={"served_by": endpoint.url})
        reason = f"no endpoint answered after {len(failures)} attempts: " + " | ".join(failures)
        return Generation(text="", finish_reason="error", error=reason)

    async def _acquire(self, tried: set[int]) -> int | None:
        """Reserve a slot on the least-loaded endpoint that can take a request (one not yet tried
        for this request when there is one); wait while none can. ``None`` after ``wait_s``."""
        changed = self._condition()
        deadline = time.monotonic() + self.wait_s
        async with changed:
            while True:
                now = time.monotonic()
                open_ = [i for i, e in enumerate(self.endpoints) if e.capacity(now) > 0]
                if open_:
                    fresh = [i for i in open_ if i not in tried] or open_
                    count = len(self.endpoints)
                    index = min(fresh, key=lambda i: (self.endpoints[i].in_flight / self.endpoints[i].limit,
                                                      (i - self._turn) % count))
                    self._turn = (index + 1) % count
                    self.endpoints[index].in_flight += 1
                    return index
                if now >= deadline:
                    return None
                # Wake on a finished request, or when the next ejection ends.
                reopen = [e.ejected_until for e in self.endpoints if e.ejected_until > now]
                timeout = min([deadline, *reopen]) - now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=max(timeout, 0.001))

    def _eject(self, endpoint: _Endpoint, reason: str) -> None:
        if time.monotonic() < endpoint.ejected_until:
            return  # the other requests it had in flight when it failed: one failure, not many
        endpoint.failures += 1
        pause = min(self.max_eject_s, self.eject_s * 2.0 ** (endpoint.failures - 1))
        endpoint.ejected_until = time.monotonic() + pause
        logger.warning("ejecting %s for %.1f s after: %s", endpoint.url, pause, reason)

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()


__all__ = ["EndpointSpec", "FleetBackend", "parse_endpoints", "public_url"]
