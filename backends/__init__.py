"""Model backends. Heavy ones (transformers) are imported only when asked for by name."""

from __future__ import annotations

from typing import Any

from ._batching import BatchingBackend
from ._cache import CachedBackend, default_cache_path
from ._mock import MockBackend
from ._openai import OpenAIBackend
from ._server import create_app, serving
from ._tesseract import TesseractNotFound, TesseractOCR, tesseract_available
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
    "OpenAIBackend",
    "TesseractNotFound",
    "TesseractOCR",
    "TextPart",
    "create_app",
    "default_cache_path",
    "load_backend",
    "serving",
    "tesseract_available",
]


def load_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """Build a backend by name: ``transformers`` (default model: the embedded tiny MLLM),
    ``openai`` (an OpenAI-compatible server at ``base_url``; default model: the one it serves) or
    ``mock`` (echoes an empty answer; for plumbing checks)."""
    if name == "transformers":
        from ._tiny import default_model_path
        from ._transformers import TransformersBackend

        return TransformersBackend(model or default_model_path(), **options)
    if name == "mock":
        return MockBackend(handler=lambda request: "", model_id=model or "mock", **options)
    if name == "openai":
        from ._openai import DEFAULT_BASE_URL, OpenAIBackend

        return OpenAIBackend.connect(options.pop("base_url", None) or DEFAULT_BASE_URL, model, **options)
    raise ValueError(f"unknown backend {name!r}; choose one of: transformers, openai, mock")
