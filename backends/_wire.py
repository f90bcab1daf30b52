"""The OpenAI chat-completions wire format, both ways, in one place.

The ``openai`` backend encodes requests and decodes completions with it; ``skillgap serve`` decodes
requests and encodes completions with it, so what one writes the other reads by construction.
Decoding a request is where hostile bytes arrive: every refusal is a :class:`WireError` with the
HTTP status, OpenAI's error ``type`` and the offending field in ``param`` — never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._images import ImageError, image_size
from ._types import Constraint, Generation, GenerationRequest, ImagePart, ImageRef, Message, TextPart

#: How constraints travel: vLLM's ``structured_outputs`` (>= 0.10), vLLM's older ``guided_regex``,
#: SGLang's ``regex``, JSON schemas only (OpenAI, llama.cpp, TGI), or none.
StructuredOutputs = Literal["vllm", "vllm-legacy", "sglang", "json-only", "off"]
STRUCTURED_OUTPUTS: tuple[str, ...] = ("vllm", "vllm-legacy", "sglang", "json-only", "off")
DEFAULT_MAX_TOKENS = 256
#: Nesting deeper than this is refused: no real chat request or JSON schema comes close.
MAX_JSON_DEPTH = 64
#: Longest accepted regex constraint, in characters (a regex compiles to an automaton per token).
MAX_PATTERN_CHARS = 8192
_Role = Literal["system", "user", "assistant"]
_ROLES: dict[str, _Role] = {"system": "system", "developer": "system", "user": "user",
                            "assistant": "assistant"}
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)


class WireError(Exception):
    """A request refused, with the HTTP status, OpenAI's error ``type`` and the field at fault."""

    def __init__(self, message: str, *, status: int = 400, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message, self.status, self.kind, self.param, self.code = message, status, kind, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, kind=self.kind, param=self.param, code=self.code)


@dataclass(frozen=True)
class RequestLimits:
    """What one request may carry; a request over a limit is refused before any model work."""

    image_bytes: int = 20 * 2**20
    image_pixels: int = 4096 * 4096
    images: int = 16
    messages: int = 256


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# ---- client side: GenerationRequest -> JSON body, JSON completion -> Generation ----


def encode_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """A request's messages as chat-completions messages; images as base64 ``data:`` URLs.

    Text-only messages are plain strings (every server takes those); messages with images are
    lists of ``text`` and ``image_url`` parts in their original order.
    """
    messages = []
    for message in request.messages:
        if all(isinstance(part, TextPart) for part in message.content):
            content: str | list[dict[str, Any]] = message.text
        else:
            content = [
                {"type": "text", "text": part.text}
                if isinstance(part, TextPart)
                else {"type": "image_url", "image_url": {"url": image_url(part.image)}}
                for part in message.content
            ]
        messages.append({"role": message.role, "content": content})
    return messages


def image_url(image: ImageRef) -> str:
    """A base64 ``data:`` URL whose media type matches the image bytes (PNG when unknown)."""
    if image.uri.startswith("data:"):
        return image.uri
    data = image.read_bytes()
    media = "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        media = "image/webp"
    else:
        media = next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), media)
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def constraint_fields(constraint: Constraint | None, structured_outputs: StructuredOutputs) -> list[str]:
    """The optional fields a constraint needs on a server of this kind (``regex``/``response_format``)."""
    if constraint is None or structured_outputs == "off":
        return []
    if constraint.kind == "regex":
        return [] if structured_outputs == "json-only" else ["regex"]
    return ["response_format"]


def regex_field(structured_outputs: StructuredOutputs) -> str:
    """The wire name of a regex constraint on a server of this kind (for messages)."""
    return {"vllm": "structured_outputs", "vllm-legacy": "guided_regex"}.get(structured_outputs, "regex")


def encode_request(request: GenerationRequest, model: str, *, messages: list[dict[str, Any]] | None = None,
                   structured_outputs: StructuredOutputs = "vllm",
                   optional: Sequence[str] = ()) -> dict[str, Any]:
    """The chat-completions body of ``request``; ``optional`` names the optional fields to send
    (``regex``, ``response_format``, ``logprobs``: a server may reject each)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages if messages is not None else encode_messages(request),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if request.seed is not None:
        body["seed"] = request.seed
    constraint = request.constraint
    if "regex" in optional and constraint is not None:
        if structured_outputs == "vllm":
            body["structured_outputs"] = {"regex": constraint.pattern}
        elif structured_outputs == "vllm-legacy":
            body["guided_regex"] = constraint.pattern
        else:
            body["regex"] = constraint.pattern
    if "response_format" in optional and constraint is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": constraint.schema_},
        }
    if "logprobs" in optional:
        body["logprobs"] = True
    return body


def decode_completion(data: Any, latency_s: float = 0.0) -> Generation:
    """A chat-completion object as a Generation; ``ValueError`` when it is not one."""
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        if not isinstance(text, str):
            raise TypeError(f"message content is {type(text).__name__}, not text")
        usage = data.get("usage") or {}
        logprob = None
        entries = (choice.get("logprobs") or {}).get("content")
        if entries:
            logprob = float(sum(float(entry["logprob"]) for entry in entries))
        return Generation(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency_s,
            logprob=logprob,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"malformed response: {type(exc).__name__}: {exc}") from None


def decode_error(payload: Any) -> str | None:
    """The message of an error body (OpenAI's ``{"error": {"message"}}``, a string, or ``detail``)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    if isinstance(error, str):
        return error[:500]
    if isinstance(payload, dict) and payload.get("detail"):
        return str(payload["detail"])[:500]
    return None


def context_length_of(card: dict[str, Any]) -> int | None:
    """The context length a ``/models`` card reports (vLLM's ``max_model_len``), if any."""
    value = card.get("max_model_len")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# ---- server side: JSON body -> GenerationRequest, Generation -> completion ----


def loads(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body whose nesting is at most ``max_depth``; :class:`WireError` otherwise.

    The C parser stops at the interpreter's recursion limit (a ``RecursionError``, caught); the
    walk after it is iterative and refuses anything deeper than ``max_depth``.
    """
    try:
        payload = json.loads(body)
    except RecursionError:
        raise WireError(f"request body is nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"request body is not valid JSON: {exc}") from None
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    raise WireError(f"request body is nested deeper than {max_depth} levels")
                stack.append((child, depth + 1))
    return payload


def decode_request(payload: Any, model_name: str,
                   limits: RequestLimits | None = None) -> tuple[GenerationRequest, bool]:
    """A chat-completions body as a :class:`GenerationRequest`, and whether logprobs were asked.

    Raises :class:`WireError` naming the offending field.
    """
    limits = limits or RequestLimits()
    if not isinstance(payload, dict):
        raise WireError("request body must be a JSON object")
    name = payload.get("model")
    if not isinstance(name, str) or not name:
        raise WireError("'model' is required (a string)", param="model")
    if name != model_name:
        raise unknown_model(name, model_name)
    if payload.get("stream"):
        raise WireError("streaming is not supported by skillgap serve; send stream=false", param="stream")
    if payload.get("n", 1) not in (1, None):
        raise WireError("only n=1 is supported", param="n")
    if payload.get("tools"):
        raise WireError("tools are not supported by skillgap serve", param="tools")
    raw_messages = payload.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise WireError("'messages' must be a non-empty list", param="messages")
    if len(raw_messages) > limits.messages:
        raise WireError(f"at most {limits.messages} messages are accepted, got {len(raw_messages)}",
                        param="messages")
    budget = [limits.images]
    messages = tuple(_message(raw, index, limits, budget) for index, raw in enumerate(raw_messages))

    field = "max_completion_tokens" if payload.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = payload.get(field)
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise WireError(f"'{field}' must be a positive integer, got {_shown(max_tokens)}", param=field)
    temperature = payload.get("temperature", 1.0)
    if temperature is None:
        temperature = 1.0
    if (not isinstance(temperature, int | float) or isinstance(temperature, bool)
            or not 0 <= temperature < float("inf")):
        raise WireError(f"'temperature' must be a number >= 0, got {_shown(temperature)}",
                        param="temperature")
    seed = payload.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise WireError(f"'seed' must be an integer, got {_shown(seed)}", param="seed")
    logprobs = payload.get("logprobs") or False
    if not isinstance(logprobs, bool):
        raise WireError(f"'logprobs' must be a boolean, got {_shown(logprobs)}", param="logprobs")
    request = GenerationRequest(
        messages=messages,
        constraint=decode_constraint(payload),
        max_tokens=max_tokens,
        temperature=float(temperature),
        seed=seed,
    )
    return request, logprobs


def unknown_model(name: str, model_name: str) -> WireError:
    return WireError(f"the model {_shown(name)} does not exist; this server serves {model_name!r}",
                     status=404, kind="NotFoundError", param="model", code="model_not_found")


def _message(raw: Any, index: int, limits: RequestLimits, budget: list[int]) -> Message:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise WireError(f"{where} must be an object with 'role' and 'content'", param=where)
    role_name = raw.get("role")
    role = _ROLES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        raise WireError(f"{where}.role must be one of {', '.join(_ROLES)}; got {_shown(role_name)}",
                        param=f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        return Message(role=role, content=(TextPart(text=content),))
    if not isinstance(content, list) or not content:
        raise WireError(f"{where}.content must be a string or a non-empty list of parts",
                        param=f"{where}.content")
    parts: list[TextPart | ImagePart] = []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(TextPart(text=part["text"]))
        elif kind == "image_url" and isinstance(part, dict):
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str):
                raise WireError(f"{at}.image_url.url must be a string", param=f"{at}.image_url.url")
            budget[0] -= 1
            if budget[0] < 0:
                raise WireError(f"at most {limits.images} images per request are accepted", param=at)
            parts.append(ImagePart(image=_image(url, f"{at}.image_url.url", limits)))
        else:
            raise WireError(f"{at} must be a 'text' part with a string 'text' or an 'image_url' "
                            f"part; got type {_shown(kind)}", param=at)
    return Message(role=role, content=tuple(parts))


def _image(url: str, where: str, limits: RequestLimits) -> ImageRef:
    """Check a ``data:`` image URL (media type, base64, size, a readable header within the pixel
    cap) without decoding the pixels, which the backend does once, in its worker."""
    if not url.startswith("data:"):
        raise WireError(f"{where}: only base64 data: URLs are accepted (this server does not fetch "
                        f"images); got {_shown(url)}", param=where)
    header, comma, payload = url.partition(",")
    media = header[len("data:"):].split(";")[0].strip().lower()
    if not comma or not media.startswith("image/"):
        raise WireError(f"{where}: the data URL's media type is {media or 'missing'!r}, not an "
                        "image/* type", param=where)
    if ";base64" not in header.lower():
        raise WireError(f"{where}: the data URL must be base64-encoded (';base64,')", param=where)
    if len(payload) * 3 // 4 > limits.image_bytes:
        raise WireError(f"{where}: the image is about {len(payload) * 3 // 4} bytes; this server "
                        f"accepts at most {limits.image_bytes}", param=where)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise WireError(f"{where}: the data URL is not valid base64", param=where) from None
    try:
        image_size(data, where=where, max_pixels=limits.image_pixels)
    except ImageError as exc:
        raise WireError(str(exc), param=where) from None
    return ImageRef(uri=url)


def decode_constraint(payload: dict[str, Any]) -> Constraint | None:
    """The one output constraint of a request, from whichever field a client used, checked: a
    regex must compile and a schema must be a JSON schema (400 naming the field otherwise)."""
    found: list[Constraint] = []
    response_format = payload.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, dict):
            raise WireError("'response_format' must be an object", param="response_format")
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            found.append(_schema(schema, "response_format.json_schema.schema"))
        elif kind == "json_object":
            found.append(Constraint(kind="json_schema", schema={"type": "object"}))
        elif kind not in (None, "text"):
            raise WireError(f"response_format.type must be text, json_object or json_schema; got "
                            f"{_shown(kind)}", param="response_format.type")
    extension = payload.get("structured_outputs")
    if extension is not None and not isinstance(extension, dict):
        raise WireError("'structured_outputs' must be an object", param="structured_outputs")
    extension = extension or {}
    for field, pattern in (("guided_regex", payload.get("guided_regex")), ("regex", payload.get("regex")),
                           ("structured_outputs.regex", extension.get("regex"))):
        if pattern is not None:
            found.append(_regex(pattern, field))
    for field, schema in (("guided_json", payload.get("guided_json")),
                          ("structured_outputs.json", extension.get("json"))):
        if schema is not None:
            if isinstance(schema, str):
                try:
                    schema = loads(schema.encode())
                except WireError as exc:
                    raise WireError(f"'{field}' is not a JSON schema: {exc.message}", param=field) from None
            found.append(_schema(schema, field))
    for field, choices in (("guided_choice", payload.get("guided_choice")),
                           ("structured_outputs.choice", extension.get("choice"))):
        if choices is not None:
            if (not isinstance(choices, list) or not choices
                    or not all(isinstance(choice, str) and choice for choice in choices)):
                raise WireError(f"'{field}' must be a non-empty list of non-empty strings", param=field)
            found.append(_regex("|".join(re.escape(choice) for choice in choices), field))
    if len(found) > 1:
        raise WireError("give at most one output constraint (response_format, structured_outputs, "
                        "guided_* or regex)", param="response_format")
    return found[0] if found else None


def _regex(pattern: Any, field: str) -> Constraint:
    if not isinstance(pattern, str) or not pattern:
        raise WireError(f"'{field}' must be a non-empty string (a regular expression)", param=field)
    if len(pattern) > MAX_PATTERN_CHARS:
        raise WireError(f"'{field}' is {len(pattern)} characters; at most {MAX_PATTERN_CHARS} are "
                        "accepted", param=field)
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise WireError(f"'{field}' is not a valid regular expression: {exc}", param=field) from None
    return Constraint(kind="regex", pattern=pattern)


def _schema(schema: Any, field: str) -> Constraint:
    if not isinstance(schema, dict) or not schema:
        raise WireError(f"'{field}' must be a non-empty JSON schema object", param=field)
    try:
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for
    except ImportError:  # without jsonschema, the shape checks above are all
        return Constraint(kind="json_schema", schema=schema)
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise WireError(f"'{field}' is not a valid JSON schema: {exc.message}", param=field) from None
    except (RecursionError, ValueError, TypeError, LookupError) as exc:  # unresolvable $ref...
        raise WireError(f"'{field}' is not a usable JSON schema: {type(exc).__name__}", param=field) from None
    return Constraint(kind="json_schema", schema=schema)


def encode_completion(generation: Generation, model_name: str, logprobs: bool = False) -> dict[str, Any]:
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


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "DEFAULT_MAX_TOKENS", "STRUCTURED_OUTPUTS", "RequestLimits", "StructuredOutputs", "WireError",
    "constraint_fields", "context_length_of", "decode_completion", "decode_constraint",
    "decode_error", "decode_request", "encode_completion", "encode_messages", "encode_request",
    "error_body", "image_url", "loads", "regex_field", "unknown_model",
]
