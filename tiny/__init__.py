"""The embedded model organism: a tiny LLaVA, its training recipe, the data-share study, its weights.

Importing this package is light; torch and transformers load when a model is built or trained.
"""

from ._model import SHIPPED_MODEL_DIR, build_tiny_model

__all__ = ["SHIPPED_MODEL_DIR", "build_tiny_model"]
