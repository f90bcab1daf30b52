"""``skillgap serve``: a local backend behind an OpenAI-compatible API (``/v1/chat/completions``).

Every HTTP request becomes one :class:`GenerationRequest` given to the backend on the server's
event loop, so concurrent clients are coalesced by the backend's dynamic batching exactly as
concurrent graphs are in-process. The API is the subset skillgap and common clients use: text and
``image_url`` parts (base64 ``data:`` URLs only; the server never fetches a URL), ``max_tokens``,
``temperature``, ``seed``, ``logprobs``, and constraints as ``response_format`` (JSON schema) or
vLLM's ``structured_outputs`` / ``guided_*`` and SGLang's ``regex`` fields.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from ..backends._types import (
    Backend,
    Constraint,
    Generation,
    GenerationRequest,
    ImagePart,
    ImageRef,
    Message,
    TextPart,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

logger = logging.getLogger("skillgap.serve")

MAX_BODY_BYTES = 64 * 2**20
MAX_IMAGE_BYTES = 20 * 2**20
MAX_IMAGE_PIXELS = 4096 * 4096
DEFAULT_MAX_TOKENS = 256
_Role = Literal["system", "user", "assistant"]
_ROLES: dict[str, _Role] = {"system": "system", "developer": "system", "user": "user",
                            "assistant": "assistant"}
_INSTALL_HINT = "skillgap serve needs starlette and uvicorn: pip install 'skillgap[models]'"


class BadRequest(Exception):
    """A request the server refuses, with the HTTP status and the OpenAI error ``type``."""

    def __init__(self, message: str, *, status: int = 400, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.status, self.kind, self.param, self.code = message, status, kind, param, code


def create_app(
    backend: Backend,
    model_name: str,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> Starlette:
    """The ASGI app serving ``backend`` as the model ``model_name``.

    Routes: ``GET /v1/models``, ``POST /v1/chat/completions`` and ``GET /health``. Refused
    requests get a 4xx answer in OpenAI's error shape (``{"error": {"message", "type", ...}}``);
    a failure inside the backend is a 500, and the server keeps serving either way.

    Example:
        >>> app = create_app(load_backend("transformers"), "skillgap-tiny")  # doctest: +SKIP
    """
    try:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc

    created = int(time.time())
    card = {
        "id": model_name,
        "object": "model",
        "created": created,
        "owned_by": "skillgap",
        "skillgap": {
            "backend": getattr(backend, "name", type(backend).__name__),
            "native_layout": getattr(backend, "native_layout", "free"),
        },
    }
    limits = _Limits(max_body_bytes, max_image_bytes, max_image_pixels)

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [card]})

    async def model(request: Request) -> JSONResponse:
        if request.path_params["name"] != model_name:
            return _refuse(_unknown_model(request.path_params["name"], model_name))
        return JSONResponse(card)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def chat_completions(request: Request) -> JSONResponse:
        try:
            payload = await _read_json(request, limits.body_bytes)
            generation_request, want_logprobs = parse_chat_request(payload, model_name, limits)
        except BadRequest as exc:
            return _refuse(exc)
        try:
            generation = (await backend.generate([generation_request]))[0]
        except Exception as exc:
            logger.exception("the backend failed")
            return _refuse(BadRequest(f"the model failed: {type(exc).__name__}: {exc}", status=500,
                                      kind="server_error"))
        if generation.finish_reason == "error":
            return _refuse(BadRequest(f"the model could not run this request: {generation.error}"))
        return JSONResponse(completion(generation, model_name, want_logprobs))

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{name:path}", model, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes)


class _Limits:
    def __init__(self, body_bytes: int, image_bytes: int, image_pixels: int):
        self.body_bytes, self.image_bytes, self.image_pixels = body_bytes, image_bytes, image_pixels


async def _read_json(request: Request, max_bytes: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(f"request body is {int(declared)} bytes; this server accepts at most "
                         f"{max_bytes}", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BadRequest(f"request body exceeds {max_bytes} bytes", status=413)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def parse_chat_request(payload: Any, model_name: str,
                       limits: _Limits | None = None) -> tuple[GenerationRequest, bool]:
    """A chat-completions body as a :class:`GenerationRequest`, and whether logprobs were asked.

    Raises :class:`BadRequest` naming the offending field.
    """
    limits = limits or _Limits(MAX_BODY_BYTES, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS)
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    name = payload.get("model")
    if not isinstance(name, str) or not name:
        raise BadRequest("'model' is required (a string)", param="model")
    if name != model_name:
        raise _unknown_model(name, model_name)
    if payload.get("stream"):
        raise BadRequest("streaming is not supported by skillgap serve; send stream=false",
                         param="stream")
    if payload.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported", param="n")
    if payload.get("tools"):
        raise BadRequest("tools are not supported by skillgap serve", param="tools")
    raw_messages = payload.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise BadRequest("'messages' must be a non-empty list", param="messages")
    messages = tuple(_message(raw, index, limits) for index, raw in enumerate(raw_messages))

    max_tokens = payload.get("max_completion_tokens", payload.get("max_tokens"))
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest(f"'max_tokens' must be a positive integer, got {max_tokens!r}",
                         param="max_tokens")
    temperature = payload.get("temperature", 1.0)
    if temperature is None:
        temperature = 1.0
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or temperature < 0:
        raise BadRequest(f"'temperature' must be a number >= 0, got {temperature!r}",
                         param="temperature")
    seed = payload.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise BadRequest(f"'seed' must be an integer, got {seed!r}", param="seed")
    logprobs = payload.get("logprobs") or False
    if not isinstance(logprobs, bool):
        raise BadRequest(f"'logprobs' must be a boolean, got {logprobs!r}", param="logprobs")
    request = GenerationRequest(
        messages=messages,
        constraint=_constraint(payload),
        max_tokens=max_tokens,
        temperature=float(temperature),
        seed=seed,
    )
    return request, logprobs


def _unknown_model(name: str, model_name: str) -> BadRequest:
    return BadRequest(f"the model {name!r} does not exist; this server serves {model_name!r}",
                      status=404, kind="NotFoundError", param="model", code="model_not_found")


def _message(raw: Any, index: int, limits: _Limits) -> Message:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object with 'role' and 'content'", param=where)
    role_name = raw.get("role")
    role = _ROLES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        raise BadRequest(f"{where}.role must be one of {', '.join(_ROLES)}; got {raw.get('role')!r}",
                         param=f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        return Message(role=role, content=(TextPart(text=content),))
    if not isinstance(content, list) or not content:
        raise BadRequest(f"{where}.content must be a string or a non-empty list of parts",
                         param=f"{where}.content")
    parts: list[TextPart | ImagePart] = []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(text=part["text"]))
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str):
                raise BadRequest(f"{at}.image_url.url must be a string", param=at)
            parts.append(ImagePart(image=_image(url, at, limits)))
        else:
            raise BadRequest(f"{at} must be a 'text' part with a string 'text' or an 'image_url' "
                             f"part; got type {kind!r}", param=at)
    return Message(role=role, content=tuple(parts))


def _image(url: str, where: str, limits: _Limits) -> ImageRef:
    """Check a ``data:`` image URL (media type, base64, size, decodable header) without decoding
    the pixels, which the backend does once in its worker."""
    if not url.startswith("data:"):
        shown = url if len(url) <= 60 else url[:57] + "..."
        raise BadRequest(f"{where}: only base64 data: URLs are accepted (this server does not fetch "
                         f"images); got {shown!r}", param=where)
    header, comma, payload = url.partition(",")
    media = header[len("data:"):].split(";")[0].strip().lower()
    if not comma or not media.startswith("image/"):
        raise BadRequest(f"{where}: the data URL's media type is {media or 'missing'!r}, not an "
                         "image/* type", param=where)
    if ";base64" not in header.lower():
        raise BadRequest(f"{where}: the data URL must be base64-encoded (';base64,')", param=where)
    if len(payload) * 3 // 4 > limits.image_bytes:
        raise BadRequest(f"{where}: the image is about {len(payload) * 3 // 4} bytes; this server "
                         f"accepts at most {limits.image_bytes}", param=where)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}: the data URL is not valid base64", param=where) from None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise BadRequest(f"{where}: the data is not a readable image ({exc})", param=where) from None
    if width * height > limits.image_pixels:
        raise BadRequest(f"{where}: the image is {width}x{height} pixels; this server accepts at "
                         f"most {limits.image_pixels} pixels", param=where)
    return ImageRef(uri=url)


def _constraint(payload: dict[str, Any]) -> Constraint | None:
    """The one output constraint of a request, from whichever field a client used."""
    found: list[Constraint] = []
    response_format = payload.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, dict):
            raise BadRequest("'response_format' must be an object", param="response_format")
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if not isinstance(schema, dict) or not schema:
                raise BadRequest("response_format.json_schema.schema must be a non-empty object",
                                 param="response_format")
            found.append(Constraint(kind="json_schema", schema=schema))
        elif kind == "json_object":
            found.append(Constraint(kind="json_schema", schema={"type": "object"}))
        elif kind not in (None, "text"):
            raise BadRequest(f"response_format.type must be text, json_object or json_schema; got "
                             f"{kind!r}", param="response_format")
    extension = payload.get("structured_outputs")
    if extension is not None and not isinstance(extension, dict):
        raise BadRequest("'structured_outputs' must be an object", param="structured_outputs")
    fields = {
        "regex": [payload.get("guided_regex"), payload.get("regex"), (extension or {}).get("regex")],
        "json": [payload.get("guided_json"), (extension or {}).get("json")],
        "choice": [payload.get("guided_choice"), (extension or {}).get("choice")],
    }
    for pattern in fields["regex"]:
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern:
                raise BadRequest("a regex constraint must be a non-empty string", param="regex")
            found.append(Constraint(kind="regex", pattern=pattern))
    for schema in fields["json"]:
        if schema is not None:
            if isinstance(schema, str):
                try:
                    schema = json.loads(schema)
                except json.JSONDecodeError:
                    raise BadRequest("a json constraint must be a JSON schema", param="json") from None
            if not isinstance(schema, dict) or not schema:
                raise BadRequest("a json constraint must be a non-empty JSON schema", param="json")
            found.append(Constraint(kind="json_schema", schema=schema))
    for choices in fields["choice"]:
        if choices is not None:
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
                raise BadRequest("a choice constraint must be a non-empty list of strings", param="choice")
            found.append(Constraint(kind="regex", pattern="|".join(re.escape(c) for c in choices)))
    if len(found) > 1:
        raise BadRequest("give at most one output constraint (response_format, structured_outputs, "
                         "guided_* or regex)")
    return found[0] if found else None


def completion(generation: Generation, model_name: str, logprobs: bool = False) -> dict[str, Any]:
    """A chat-completion object for ``generation``.

    With ``logprobs``, the answer's log-probability is reported as one entry spanning the whole
    answer (the backend knows the sum, not each token's), so summing the entries gives it back.
    """
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": generation.text},
        "finish_reason": generation.finish_reason,
        "logprobs": None,
    }
    if logprobs and generation.logprob is not None:
        choice["logprobs"] = {"content": [{
            "token": generation.text,
            "logprob": generation.logprob,
            "bytes": list(generation.text.encode()),
            "top_logprobs": [],
        }]}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [choice],
        "usage": {
            "prompt_tokens": generation.input_tokens,
            "completion_tokens": generation.output_tokens,
            "total_tokens": generation.input_tokens + generation.output_tokens,
        },
    }


def _refuse(error: BadRequest) -> JSONResponse:
    from starlette.responses import JSONResponse

    body = {"error": {"message": error.message, "type": error.kind, "param": error.param,
                      "code": error.code}}
    return JSONResponse(body, status_code=error.status)


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


__all__ = ["BadRequest", "base_url", "bind", "completion", "create_app", "parse_chat_request",
           "run_server", "serving"]
