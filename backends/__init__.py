"""Model backends. Heavy ones (transformers) are imported only when asked for by name."""

from __future__ import annotations

from typing import Any

from ._batching import BatchingBackend
from ._cache import CachedBackend, default_cache_path
from ._mock import MockBackend
from ._types import (
    Backend,
    Constraint,
    Generation,
    GenerationRequest,
    ImagePart,
    ImageRef,
    Message,
    TextPart,
)

__all__ = [
    "Backend",
    "BatchingBackend",
    "CachedBackend",
    "Constraint",
    "Generation",
    "GenerationRequest",
    "ImagePart",
    "ImageRef",
    "Message",
    "MockBackend",
    "TextPart",
    "default_cache_path",
    "load_backend",
]


def load_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """Build a backend by name: ``transformers`` (default model: the embedded tiny MLLM) or
    ``mock`` (echoes an empty answer; for plumbing checks)."""
    if name == "transformers":
        from ._tiny import default_model_path
        from ._transformers import TransformersBackend

        return TransformersBackend(model or default_model_path(), **options)
    if name == "mock":
        return MockBackend(handler=lambda request: "", model_id=model or "mock", **options)
    raise ValueError(f"unknown backend {name!r}; choose one of: transformers, mock")
