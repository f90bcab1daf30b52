"""The ``openai`` backend: any OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp, TGI).

Each request is one HTTP call, up to ``concurrency`` in flight; the server does the batching.
The wire format is :mod:`._wire`'s, the same one ``skillgap serve`` reads. Retries are a wrapper:
one HTTP attempt per request marks transient failures (429, 5xx, timeouts, dropped connections)
and a :class:`RetryingBackend` composed once, here, tries them again with backoff; a failure that
outlasts the retries becomes this request's error generation, so an eval records it on its
sample and goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ._retry import RetryingBackend, parse_retry_after, retry_delay
from ._types import Generation, GenerationRequest
from ._wire import (
    STRUCTURED_OUTPUTS,
    StructuredOutputs,
    constraint_fields,
    context_length_of,
    decode_completion,
    decode_error,
    encode_messages,
    encode_request,
    image_url,
    regex_field,
)

if TYPE_CHECKING:
    import ssl

    import httpx

logger = logging.getLogger("skillgap.backends.openai")

#: Environment variables read (in order) for the API key when none is passed.
API_KEY_ENV = ("SKILLGAP_API_KEY", "OPENAI_API_KEY")
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

# Statuses worth a retry: rate limits, request timeouts, and server-side failures.
_RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
#: The wire codec's name for building messages, kept for callers of this module.
openai_messages = encode_messages


class OpenAIBackend:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: The model name the server serves (``vllm serve``'s model or ``--served-model-name``).
        base_url: The API root, ending in ``/v1`` (default ``http://127.0.0.1:8000/v1``).
        api_key: Bearer token; default ``$SKILLGAP_API_KEY``, else ``$OPENAI_API_KEY``, else none.
            It is sent in the ``Authorization`` header only: never logged, described or traced.
        concurrency: Most requests in flight at once.
        timeout_s: Limit on one HTTP attempt, from sending to the last byte of the answer.
        max_retries: Retries after the first attempt for 429, 5xx, timeouts and dropped connections.
        backoff_s: First retry delay; it doubles each retry (with jitter), up to ``max_backoff_s``.
            A ``Retry-After`` header is honoured, up to ``max_backoff_s``.
        structured_outputs: How constraints reach the server. JSON schemas always go in
            ``response_format`` (unless ``"off"``); regexes go as vLLM's ``structured_outputs``
            (``"vllm"``, vLLM >= 0.10), vLLM's older ``guided_regex`` (``"vllm-legacy"``),
            SGLang's ``regex`` (``"sglang"``), or not at all (``"json-only"``: the OpenAI API,
            llama.cpp, TGI). A constraint the server rejects with a 400 is dropped for the rest of
            the run, and the skill's parser checks the free-form answer instead.
        logprobs: Ask for token log-probabilities and report their sum as the answer's.
        native_layout: The image layout the model reads best (``skillgap serve`` of the tiny
            model reports ``grid`` through ``/models``; see :meth:`connect`).
        context_length: The model's context window in tokens (default: the ``max_model_len`` a
            vLLM or ``skillgap serve`` server reports through ``/models``, else unknown). A request
            whose ``max_tokens`` alone reaches it fails here, before it is sent; the server checks
            prompt plus ``max_tokens`` (it has the tokenizer) and answers 400 naming both.

    Example:
        >>> backend = OpenAIBackend("Qwen/Qwen2.5-VL-7B-Instruct", base_url="http://gpu:8000/v1")
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        concurrency: int = 32,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        structured_outputs: StructuredOutputs = "vllm",
        logprobs: bool = True,
        native_layout: str = "free",
        context_length: int | None = None,
    ):
        if not model:
            raise ValueError("the openai backend needs a model name (--model)")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if context_length is not None and context_length < 1:
            raise ValueError(f"context_length must be >= 1, got {context_length}")
        if structured_outputs not in STRUCTURED_OUTPUTS:
            raise ValueError(
                f"structured_outputs must be one of {', '.join(STRUCTURED_OUTPUTS)}; "
                f"got {structured_outputs!r}"
            )
        scheme = urlsplit(base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http(s) URL, got {_public_url(base_url)!r}")
        self.model_id = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.structured_outputs = structured_outputs
        self.logprobs = logprobs
        self.native_layout = native_layout
        self.context_length = context_length
        # Policy wraps mechanism: one HTTP attempt per request, retried by the wrapper.
        self._policy = RetryingBackend(_Attempts(self), max_retries=max_retries, backoff_s=backoff_s,
                                       max_backoff_s=max_backoff_s)
        self._api_key = api_key if api_key is not None else api_key_from_env()
        # Optional request fields this server rejected (found at run time, kept for the run).
        self._unsupported: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: _Connections | None = None
        self._tls: ssl.SSLContext | None = None

    @classmethod
    def connect(cls, base_url: str = DEFAULT_BASE_URL, model: str | None = None,
                **options: Any) -> OpenAIBackend:
        """Build a backend after asking the server what it serves (``GET /models``).

        Without ``model``, the server must serve exactly one model, which is used. A model the
        server does not list is an error naming the ones it does. The image layout a
        ``skillgap serve`` server declares becomes ``native_layout`` unless one is passed.
        A server that cannot list its models is fine when ``model`` is given.
        """
        api_key = options.get("api_key")
        try:
            timeout_s = min(30.0, float(options.get("timeout_s", 30.0)))
            cards = list_models(base_url, api_key=api_key, timeout_s=timeout_s)
        except (OSError, ValueError) as exc:
            if model is None:
                raise ValueError(
                    f"cannot list the models at {_public_url(base_url)} ({exc}); pass --model"
                ) from None
            logger.info("could not list models at %s: %s", _public_url(base_url), exc)
            return cls(model, base_url=base_url, **options)
        ids = [str(card.get("id")) for card in cards]
        if model is None:
            if len(ids) != 1:
                raise ValueError(
                    f"{_public_url(base_url)} serves {len(ids)} models ({', '.join(ids) or 'none'}); "
                    "choose one with --model"
                )
            model = ids[0]
        elif ids and model not in ids:
            raise ValueError(
                f"{_public_url(base_url)} does not serve {model!r}; it serves: {', '.join(ids)}"
            )
        card = next((card for card in cards if card.get("id") == model), {})
        layout = (card.get("skillgap") or {}).get("native_layout")
        if layout and "native_layout" not in options:
            options = {**options, "native_layout": str(layout)}
        context = context_length_of(card)
        if context and options.get("context_length") is None:
            options = {**options, "context_length": context}
        return cls(model, base_url=base_url, **options)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_id,
            "base_url": _public_url(self.base_url),
            "structured_outputs": self.structured_outputs,
            "logprobs": self.logprobs,
            "native_layout": self.native_layout,
            "concurrency": self.concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "backoff_s": self.backoff_s,
            "max_backoff_s": self.max_backoff_s,
            "context_length": self.context_length,
        }

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model_id!r}, base_url={_public_url(self.base_url)!r})"

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return await self._policy.generate(requests)

    async def aclose(self) -> None:
        """Close the connection pool now (a later call opens a new one). Not needed at the end of
        ``asyncio.run``: the pool closes with the event loop it was opened in."""
        connections, self._connections, self._loop = self._connections, None, None
        if connections is not None:
            await connections.aclose()

    def _session(self) -> _Connections:
        """The connection pools of the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._connections is None:
            headers = {"User-Agent": "skillgap"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            # Connections of an earlier event loop cannot be reused; they close with it.
            if self._tls is None:  # loading CA certificates takes ~30 ms: once per backend, not per pool
                import httpx

                self._tls = httpx.create_ssl_context()
            self._connections = _Connections(self.base_url, headers, self.concurrency, self.timeout_s,
                                             self._tls)
            self._loop = loop
        return self._connections

    async def _attempt(self, connections: _Connections, request: GenerationRequest) -> Generation:
        """One try at ``request``: a transient failure comes back with ``retry_after_s`` set.

        Optional fields a server rejects with a 400 are dropped one by one within the attempt
        (protocol negotiation, not a retry) and remembered for the rest of the run.
        """
        import httpx

        if self.context_length is not None and request.max_tokens >= self.context_length:
            return _error(f"max_tokens {request.max_tokens} leaves no room for the prompt in the "
                          f"model's context length {self.context_length}")
        async with connections.gate:
            started = time.perf_counter()
            try:
                messages = encode_messages(request)
            except ValueError as exc:  # an unreadable image: this request fails, not the run
                return _error(f"image could not be sent: {exc}")
            optional = [field for field in self._optional_fields(request) if field not in self._unsupported]
            dropped: list[str] = []
            while True:
                body = encode_request(request, self.model_id, messages=messages,
                                      structured_outputs=self.structured_outputs,
                                      optional=[f for f in optional if f not in dropped])
                try:
                    async with asyncio.timeout(self.timeout_s):
                        response = await connections.post("chat/completions", body)
                except (TimeoutError, httpx.TimeoutException):
                    return _error(f"no complete answer within {self.timeout_s:g} s", retry_after_s=0.0)
                except httpx.TransportError as exc:
                    failure = f"connection failed: {type(exc).__name__}: {exc}".rstrip(": ")
                    return _error(self._redact(failure), retry_after_s=0.0)
                status = response.status_code
                if status == 200:
                    try:
                        generation = decode_completion(response.json(), time.perf_counter() - started)
                    except ValueError as exc:
                        return _error(self._redact(str(exc)), retry_after_s=0.0)
                    self._remember_unsupported(dropped)
                    return generation
                failure = self._redact(f"HTTP {status}: {_error_message(response)}")
                if status == 400 and len(dropped) < len(optional):
                    # Maybe an optional field this server does not know: try again without it.
                    dropped.append(optional[len(dropped)])
                    continue
                if status not in _RETRY_STATUSES:
                    return _error(failure)
                waited = parse_retry_after(response.headers.get("retry-after"))
                return _error(failure, retry_after_s=max(0.0, waited or 0.0))

    def _redact(self, text: str) -> str:
        """``text`` without the API key (a server may echo it in an error that a run log keeps)."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def _optional_fields(self, request: GenerationRequest) -> list[str]:
        """Fields a server may not support, in the order they are dropped after a 400."""
        fields = constraint_fields(request.constraint, self.structured_outputs)
        return [*fields, "logprobs"] if self.logprobs else fields

    def _remember_unsupported(self, dropped: list[str]) -> None:
        new = [field for field in dropped if field not in self._unsupported]
        if new:
            self._unsupported.update(new)
            wire = {"regex": regex_field(self.structured_outputs)}
            logger.warning(
                "%s rejected the request field(s) %s; sending requests without them (constrained "
                "outputs fall back to parsing)", _public_url(self.base_url),
                ", ".join(wire.get(field, field) for field in new),
            )


class _Connections:
    """HTTP connections of one event loop: ``concurrency`` of them, in pools of at most
    ``POOL_SIZE``, each request sent through the least busy pool.

    httpx's pool does work proportional to its size on every request (about 10 ms of CPU per
    request at 64 connections against 1.5 ms at 8), and on a small machine that CPU is the model's.
    """

    POOL_SIZE = 8

    def __init__(self, base_url: str, headers: dict[str, str], concurrency: int, timeout_s: float,
                 tls: ssl.SSLContext):
        import httpx

        pools = -(-concurrency // self.POOL_SIZE)
        size = -(-concurrency // pools)
        self.clients = [
            httpx.AsyncClient(
                base_url=base_url + "/",
                headers=headers,
                verify=tls,
                timeout=httpx.Timeout(timeout_s),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for _ in range(pools)
        ]
        self.busy = [0] * pools
        self.gate = asyncio.Semaphore(concurrency)
        # asyncio.run cancels leftover tasks before closing its loop: that closes the pools.
        self._closer = asyncio.get_running_loop().create_task(self._close_when_cancelled())

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        index = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[index] += 1
        try:
            return await self.clients[index].post(path, json=body)
        finally:
            self.busy[index] -= 1

    async def aclose(self) -> None:
        self._closer.cancel()
        for client in self.clients:
            await client.aclose()

    async def _close_when_cancelled(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            for client in self.clients:
                await client.aclose()


def api_key_from_env() -> str | None:
    """The API key from ``$SKILLGAP_API_KEY`` or ``$OPENAI_API_KEY`` (the first one set)."""
    for variable in API_KEY_ENV:
        value = os.environ.get(variable)
        if value:
            return value
    return None


def list_models(
    base_url: str, *, api_key: str | None = None, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """The model cards of ``GET {base_url}/models``; ``OSError``/``ValueError`` when unreachable."""
    import httpx

    key = api_key if api_key is not None else api_key_from_env()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise ValueError(f"HTTP {response.status_code}: {_error_message(response)}")
    data = response.json().get("data")
    if not isinstance(data, list):
        raise ValueError("the /models answer has no 'data' list")
    return [card for card in data if isinstance(card, dict)]


def _error_message(response: httpx.Response) -> str:
    """The server's error message (OpenAI's ``{"error": {"message": ...}}`` or the body's start)."""
    try:
        message = decode_error(response.json())
    except ValueError:
        message = None
    return message or response.text[:300].strip() or response.reason_phrase


def _error(message: str, *, retry_after_s: float | None = None) -> Generation:
    return Generation(text="", finish_reason="error", error=message, retry_after_s=retry_after_s)


class _Attempts:
    """The mechanism under the retry policy: one HTTP attempt per request, all in flight at once."""

    def __init__(self, owner: OpenAIBackend):
        self.owner = owner
        self.name = owner.name
        self.model_id = owner.model_id

    def describe(self) -> dict[str, Any]:
        return {"backend": self.owner.name, "model": self.owner.model_id}

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        connections = self.owner._session()
        return list(await asyncio.gather(*(self.owner._attempt(connections, r) for r in requests)))


def _public_url(url: str) -> str:
    """``url`` without user, password, query or fragment (they can hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


__all__ = ["STRUCTURED_OUTPUTS", "OpenAIBackend", "StructuredOutputs", "api_key_from_env", "image_url",
           "list_models", "openai_messages", "retry_delay"]


def from_registry(model: str | None = None, **options: Any) -> OpenAIBackend:
    """The ``openai`` entry of the backend registry: a server at ``base_url`` (default local)."""
    return OpenAIBackend.connect(options.pop("base_url", None) or DEFAULT_BASE_URL, model, **options)
