"""Requests, generations and the Backend protocol: the contract every model backend keeps."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

_MEMORY_IMAGES: dict[str, bytes] = {}


class ImageRef(BaseModel):
    """A reference to an image: a file path, a ``data:`` URI, or an in-process ``mem://`` key.

    Graph state and run logs carry these references, never decoded pixels.
    """

    model_config = ConfigDict(frozen=True)

    uri: str

    @classmethod
    def from_path(cls, path: str | Path) -> ImageRef:
        return cls(uri=str(Path(path)))

    @classmethod
    def from_bytes(cls, data: bytes, key: str | None = None) -> ImageRef:
        """Keep encoded image bytes in this process and return a ``mem://`` reference."""
        key = key or hashlib.sha256(data).hexdigest()[:24]
        _MEMORY_IMAGES[key] = data
        return cls(uri=f"mem://{key}")

    @classmethod
    def from_pil(cls, image: PILImage, key: str | None = None) -> ImageRef:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return cls.from_bytes(buffer.getvalue(), key)

    def read_bytes(self) -> bytes:
        """Return the encoded image bytes; raises ``ValueError`` naming the reference if unreadable."""
        uri = self.uri
        if uri.startswith("mem://"):
            try:
                return _MEMORY_IMAGES[uri[len("mem://") :]]
            except KeyError:
                raise ValueError(f"image {uri!r} is not in this process's image store") from None
        if uri.startswith("data:"):
            header, _, payload = uri.partition(",")
            if ";base64" not in header:
                raise ValueError(f"image data URI must be base64-encoded, got header {header!r}")
            try:
                return base64.b64decode(payload, validate=True)
            except ValueError as exc:
                raise ValueError(f"image data URI is not valid base64: {exc}") from None
        path = Path(uri.removeprefix("file://"))
        if not path.is_file():
            raise ValueError(f"image file not found: {path}")
        return path.read_bytes()

    def load(self) -> PILImage:
        """Decode the image as RGB; raises ``ValueError`` (an ``ImageError``) with the reason when it
        cannot: unreadable, truncated, a decompression bomb, over the pixel cap, an odd mode."""
        from ._images import decode_image

        return decode_image(self.read_bytes(), where=f"image {self.short()}")

    def check(self) -> tuple[int, int]:
        """``(width, height)`` after the checks :meth:`load` makes from the header, decoding no
        pixels; raises ``ValueError`` with the reason."""
        from ._images import image_size

        return image_size(self.read_bytes(), where=f"image {self.short()}")

    def data_uri(self) -> str:
        if self.uri.startswith("data:"):
            return self.uri
        return "data:image/png;base64," + base64.b64encode(self.read_bytes()).decode()

    def digest(self) -> str:
        """A content hash, so caches key on the pixels and not on where they are stored."""
        return hashlib.sha256(self.read_bytes()).hexdigest()

    def short(self) -> str:
        return self.uri if len(self.uri) <= 60 else self.uri[:57] + "..."


class TextPart(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["image"] = "image"
    image: ImageRef


class Message(BaseModel):
    """One chat message; content parts keep their order (text before image for the tiny model)."""

    model_config = ConfigDict(frozen=True)
    role: Literal["system", "user", "assistant"] = "user"
    content: tuple[TextPart | ImagePart, ...]

    @property
    def images(self) -> list[ImageRef]:
        return [part.image for part in self.content if isinstance(part, ImagePart)]

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.content if isinstance(part, TextPart))


class Constraint(BaseModel):
    """What the output must look like: a regular expression or a JSON schema."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["regex", "json_schema"]
    pattern: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    @model_validator(mode="after")
    def _check(self) -> Constraint:
        if self.kind == "regex" and not self.pattern:
            raise ValueError("a regex constraint needs a pattern")
        if self.kind == "json_schema" and not self.schema_:
            raise ValueError("a json_schema constraint needs a schema")
        return self

    def key(self) -> str:
        if self.kind == "regex":
            return f"regex:{self.pattern}"
        return "json_schema:" + json.dumps(self.schema_, sort_keys=True)


class GenerationRequest(BaseModel):
    """One model call. ``metadata`` is for telemetry and logs only; it never changes the output."""

    model_config = ConfigDict(frozen=True)
    messages: tuple[Message, ...]
    constraint: Constraint | None = None
    max_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def images(self) -> list[ImageRef]:
        return [image for message in self.messages for image in message.images]

    def portable(self) -> GenerationRequest:
        """This request with every image as a ``data:`` URI, for another process or node to read:
        ``mem://`` images live in this process and file paths on this machine."""
        if all(image.uri.startswith("data:") for image in self.images):
            return self
        messages = tuple(
            Message(role=message.role, content=tuple(
                ImagePart(image=ImageRef(uri=part.image.data_uri())) if isinstance(part, ImagePart)
                else part for part in message.content))
            for message in self.messages
        )
        return self.model_copy(update={"messages": messages})

    def fingerprint(self) -> str:
        """Hash of everything that can change the output (images by content, not by reference)."""
        body = {
            "messages": [
                [
                    {"text": p.text} if isinstance(p, TextPart) else {"image": p.image.digest()}
                    for p in m.content
                ]
                + [m.role]
                for m in self.messages
            ],
            "constraint": self.constraint.model_dump(by_alias=True) if self.constraint else None,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Generation(BaseModel):
    """What a backend returns for one request."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    logprob: float | None = None
    finish_reason: Literal["stop", "length", "error"] = "stop"
    error: str | None = None
    batch_size: int = 1
    #: Served from a call cache; ``latency_s`` and ``batch_size`` are those of the original call.
    cached: bool = False
    #: Which replica answered (a fleet endpoint's URL, a Ray replica), when the call was spread over
    #: several; ``None`` for a single model. Run records keep it per node, so a bad replica shows.
    served_by: str | None = None
    #: Set on an error that is transient (rate limit, overload, timeout, dropped connection): the
    #: request may be tried again after this many seconds (0 when the server did not say). The
    #: retry wrapper (``backends/_retry.py``) reads it; ``None`` means retrying cannot help.
    retry_after_s: float | None = None


@runtime_checkable
class Backend(Protocol):
    """A model that answers batches of chat requests.

    Implementations must return one generation per request, in order. Concurrent calls are
    allowed; batching backends coalesce them.
    """

    name: str
    model_id: str

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]: ...

    def describe(self) -> dict[str, Any]:
        """The arguments that rebuild this backend, for run logs."""
        ...
