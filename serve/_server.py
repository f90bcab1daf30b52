"""``skillgap serve``: a local backend behind an OpenAI-compatible API (``/v1/chat/completions``).

Every HTTP request becomes one :class:`GenerationRequest` given to the backend on the server's
event loop, so concurrent clients are coalesced by the backend's dynamic batching exactly as
concurrent graphs are in-process. Requests are read with the wire codec the ``openai`` backend
writes with (``backends/_wire.py``). The API is the subset skillgap and common clients use: text and
``image_url`` parts (base64 ``data:`` URLs only; the server never fetches a URL), ``max_tokens``,
``temperature``, ``seed``, ``logprobs``, and constraints as ``response_format`` (JSON schema) or
vLLM's ``structured_outputs`` / ``guided_*`` and SGLang's ``regex`` fields.

Hostile or unlucky traffic degrades instead of taking the server down: bodies are bounded (413),
JSON nesting is bounded, every client mistake is a 4xx naming the field, at most ``max_pending``
requests (and ``max_pending_bytes`` of bodies) are admitted at once (429 with ``Retry-After`` when
full), each request has a deadline (504), and with ``api_key`` every route but ``/health`` needs
``Authorization: Bearer KEY`` (compared in constant time).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from ..backends._images import MAX_IMAGE_PIXELS
from ..backends._types import Backend, Generation
from ..backends._wire import (
    RequestLimits,
    WireError,
    decode_request,
    encode_completion,
    error_body,
    loads,
    unknown_model,
)
from ._openapi import openapi_schema

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

logger = logging.getLogger("skillgap.serve")

#: Largest request body (a 20 MiB image is about 27 MiB of base64).
MAX_BODY_BYTES = 32 * 2**20
MAX_IMAGE_BYTES = 20 * 2**20
#: Requests admitted at once (queued in the batcher or running); more get 429.
MAX_PENDING = 256
#: Bytes of request bodies admitted at once; more get 429. With the per-request bounds this caps
#: what queued requests can hold in memory.
MAX_PENDING_BYTES = 256 * 2**20
#: Seconds a request may wait and run before it is answered 504 (and dropped from the queue).
REQUEST_TIMEOUT_S = 300.0
#: Environment variable read by ``skillgap serve`` for the API key.
API_KEY_ENV = "SKILLGAP_SERVE_API_KEY"
_INSTALL_HINT = "skillgap serve needs starlette and uvicorn: pip install 'skillgap[models]'"

#: Kept for callers of the pre-codec server: the wire codec's error and its request decoder.
BadRequest = WireError
_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Admission:
    """Counts admitted requests and their body bytes; refuses (429) beyond the bounds."""

    def __init__(self, max_pending: int, max_bytes: int):
        self.max_pending, self.max_bytes = max_pending, max_bytes
        self.pending = 0
        self.bytes = 0

    def refuse(self, what: str) -> WireError:
        return WireError(f"the server is busy ({what}); retry later", status=429,
                         kind="rate_limit_error", code="server_busy", headers={"Retry-After": "1"})


def create_app(
    backend: Backend,
    model_name: str,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
    max_images: int = 8,
    max_pending: int = MAX_PENDING,
    max_pending_bytes: int = MAX_PENDING_BYTES,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    api_key: str | None = None,
) -> Starlette:
    """The ASGI app serving ``backend`` as the model ``model_name``.

    Routes: ``GET /v1/models``, ``GET /v1/models/{name}``, ``POST /v1/chat/completions``,
    ``GET /openapi.json`` (the published schema of the API) and ``GET /health``. Refused requests
    get a 4xx answer in OpenAI's error shape (``{"error": {"message", "type", "param", ...}}``);
    a failure inside the backend is a 500, and the server keeps serving either way.

    Example:
        >>> app = create_app(load_backend("transformers"), "skillgap-tiny")  # doctest: +SKIP
    """
    try:
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse
        from starlette.routing import Route
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    for name, value in (("max_body_bytes", max_body_bytes), ("max_pending", max_pending),
                        ("max_pending_bytes", max_pending_bytes), ("max_images", max_images)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if request_timeout_s <= 0:
        raise ValueError(f"request_timeout_s must be > 0, got {request_timeout_s}")

    context_length = getattr(backend, "context_length", None)
    card: dict[str, Any] = {
        "id": model_name,
        "object": "model",
        "created": int(time.time()),
        "owned_by": "skillgap",
        "skillgap": {
            "backend": getattr(backend, "name", type(backend).__name__),
            "native_layout": getattr(backend, "native_layout", "free"),
        },
    }
    if isinstance(context_length, int):
        card["max_model_len"] = context_length  # vLLM's name, read by OpenAIBackend.connect
    limits = RequestLimits(image_bytes=max_image_bytes, image_pixels=max_image_pixels, images=max_images)
    admission = _Admission(max_pending, max_pending_bytes)
    schema = openapi_schema(model_name)

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [card]})

    async def model(request: Request) -> JSONResponse:
        if request.path_params["name"] != model_name:
            return _refuse(unknown_model(request.path_params["name"], model_name))
        return JSONResponse(card)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(schema)

    async def chat_completions(request: Request) -> JSONResponse:
        if admission.pending >= admission.max_pending:
            return _refuse(admission.refuse(f"{admission.pending} requests in progress"))
        admission.pending += 1
        reserved = [0]
        try:
            payload = await _read_json(request, max_body_bytes, admission, reserved)
            generation_request, want_logprobs = decode_request(payload, model_name, limits)
            del payload  # the decoded request holds what is needed
            generation = await _generate(backend, generation_request, request_timeout_s)
        except WireError as exc:
            return _refuse(exc)
        except Exception as exc:
            logger.exception("the backend failed")
            return _refuse(WireError(f"the model failed: {type(exc).__name__}: {exc}", status=500,
                                     kind="server_error"))
        finally:
            admission.pending -= 1
            admission.bytes -= reserved[0]
        if generation.finish_reason == "error":
            if generation.retry_after_s is not None:  # a transient failure below us
                wait = f"{max(1, round(generation.retry_after_s))}"
                return _refuse(WireError(f"the model is unavailable: {generation.error}", status=503,
                                         kind="server_error", headers={"Retry-After": wait}))
            return _refuse(WireError(f"the model could not run this request: {generation.error}"))
        return JSONResponse(encode_completion(generation, model_name, want_logprobs))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}  # e.g. 405's Allow
        return _refuse(WireError(str(detail), status=status, headers=headers,
                                 kind="invalid_request_error" if status < 500 else "server_error"))

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{name:path}", model, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    if api_key:
        app.add_middleware(_BearerAuth, api_key=api_key)
    return app


async def _generate(backend: Backend, request: Any, timeout_s: float) -> Generation:
    try:
        async with asyncio.timeout(timeout_s):
            return (await backend.generate([request]))[0]
    except TimeoutError:
        # Cancelling our wait drops the request from a batcher's queue before it costs a model call.
        raise WireError(f"no answer within the server's deadline of {timeout_s:g} s", status=504,
                        kind="server_error", code="deadline_exceeded",
                        headers={"Retry-After": "1"}) from None


class _BearerAuth:
    """ASGI middleware: every HTTP route but ``/health`` needs ``Authorization: Bearer KEY``.

    The comparison is ``hmac.compare_digest`` on bytes (constant time for equal lengths), and the
    key is never logged, echoed or described.
    """

    def __init__(self, app: Callable[[_Scope, _Receive, _Send], Awaitable[None]], api_key: str):
        self.app = app
        self._expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope.get("headers", ()) if name == b"authorization"), b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        body = error_body("missing or invalid API key (send Authorization: Bearer KEY)",
                          kind="authentication_error", code="invalid_api_key")
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


async def _read_json(request: Request, max_bytes: int, admission: _Admission, reserved: list[int]) -> Any:
    """The body as JSON: at most ``max_bytes`` (413), within the admission byte budget (429)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise WireError(f"request body is {int(declared)} bytes; this server accepts at most "
                        f"{max_bytes}", status=413, code="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise WireError(f"request body exceeds {max_bytes} bytes", status=413, code="body_too_large")
        if admission.bytes + len(chunk) > admission.max_bytes:
            raise admission.refuse(f"{admission.bytes} bytes of requests in progress")
        admission.bytes += len(chunk)
        reserved[0] += len(chunk)
        chunks.append(chunk)
    body = b"".join(chunks)
    chunks.clear()
    return loads(body)


def parse_chat_request(payload: Any, model_name: str,
                       limits: RequestLimits | None = None) -> tuple[Any, bool]:
    """A chat-completions body as a :class:`GenerationRequest`, and whether logprobs were asked
    (the wire codec's :func:`decode_request`). Raises :class:`WireError` naming the field."""
    return decode_request(payload, model_name, limits)


def completion(generation: Generation, model_name: str, logprobs: bool = False) -> dict[str, Any]:
    """A chat-completion object for ``generation`` (the wire codec's :func:`encode_completion`)."""
    return encode_completion(generation, model_name, logprobs)


def _refuse(error: WireError) -> JSONResponse:
    from starlette.responses import JSONResponse

    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), ready to hand to the server.

    Clients may connect as soon as this returns: the kernel queues them until the server accepts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    """The API root (``http://HOST:PORT/v1``) of a socket from :func:`bind`."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def run_server(app: Any, sock: socket.socket, *, log_level: str = "info", access_log: bool = True) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl-C or SIGTERM)."""
    _uvicorn_server(app, log_level=log_level, access_log=access_log).run(sockets=[sock])


def _uvicorn_server(app: Any, *, log_level: str, access_log: bool) -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    # h11's default header limits stay; the body is bounded by the app (413).
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="off",
                            timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


@contextlib.contextmanager
def serving(
    backend: Backend,
    model_name: str = "skillgap",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    **app_options: Any,
) -> Iterator[str]:
    """Serve ``backend`` from a background thread for the ``with`` block; yields the API root.

    Example:
        >>> with serving(MockBackend(handler=lambda r: "7"), "mock") as url:  # doctest: +SKIP
        ...     OpenAIBackend("mock", base_url=url)
    """
    app = create_app(backend, model_name, **app_options)
    sock = bind(host, port)
    server = _uvicorn_server(app, log_level=log_level, access_log=False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="skillgap-serve")
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("the server did not start within 30 s")
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


__all__ = ["API_KEY_ENV", "BadRequest", "base_url", "bind", "completion", "create_app", "is_loopback",
           "parse_chat_request", "run_server", "serving"]
