"""Model backends. Heavy ones (transformers) are imported only when asked for by name."""

from __future__ import annotations

from ._batching import Batcher, BatchingBackend
from ._cache import CachedBackend, default_cache_path
from ._default_model import default_model_path
from ._fleet import FleetBackend, parse_endpoints
from ._images import ImageError
from ._mock import MockBackend
from ._openai import OpenAIBackend
from ._process import ProcessBackend, WorkerError
from ._ray import RayBackend
from ._registry import backend_names, get_backend_factory, load_backend, register_backend
from ._retry import RetryingBackend
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
    "Batcher",
    "BatchingBackend",
    "CachedBackend",
    "Constraint",
    "FleetBackend",
    "Generation",
    "GenerationRequest",
    "ImageError",
    "ImagePart",
    "ImageRef",
    "Message",
    "MockBackend",
    "OpenAIBackend",
    "ProcessBackend",
    "RayBackend",
    "RetryingBackend",
    "TesseractNotFound",
    "TesseractOCR",
    "TextPart",
    "WorkerError",
    "backend_names",
    "default_cache_path",
    "default_model_path",
    "get_backend_factory",
    "load_backend",
    "parse_endpoints",
    "register_backend",
    "tesseract_available",
]
