"""The backend registry: a name -> factory map filled by ``@register_backend`` and by entry points.

Built-in providers are registered by module path and imported only when asked for by name, so
``import skillgap`` never loads torch or httpx. Third-party packages add providers through the
``skillgap.backends`` entry-point group (each entry point names a factory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import import_module, metadata
from typing import Any, TypeVar

from ._types import Backend

#: A factory builds a backend from an optional model name and provider options.
Factory = Callable[..., Backend]
F = TypeVar("F", bound=Factory)

ENTRY_POINT_GROUP = "skillgap.backends"

# name -> "module:attribute" of the built-in factories (imported on first use).
_BUILTIN: dict[str, str] = {
    "transformers": "skillgap.backends._transformers:from_registry",
    "openai": "skillgap.backends._openai:from_registry",
    "mock": "skillgap.backends._mock:from_registry",
}
_factories: dict[str, Factory] = {}
_entry_points_read = False


def register_backend(name: str, *, replace: bool = False) -> Callable[[F], F]:
    """Register a backend factory under ``name``.

    Example:
        >>> @register_backend("echo")  # doctest: +SKIP
        ... def echo(model: str | None = None, **options): return MockBackend(...)
    """

    def add(factory: F) -> F:
        if not replace and name in _factories and _factories[name] is not factory:
            raise ValueError(f"backend {name!r} is already registered; pass replace=True")
        _factories[name] = factory
        return factory

    return add


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        _BUILTIN.setdefault(entry.name, entry.value)


def backend_names() -> list[str]:
    """Every registered backend name (built-in, decorated, and from entry points)."""
    _read_entry_points()
    return list(dict.fromkeys([*_BUILTIN, *_factories]))


def get_backend_factory(name: str) -> Factory:
    """The factory of ``name``; raises ``ValueError`` naming the known backends."""
    if name not in _factories:
        _read_entry_points()
        target = _BUILTIN.get(name)
        if target is None:
            raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(backend_names())}")
        module, _, attribute = target.partition(":")
        factory = getattr(import_module(module), attribute)
        _factories.setdefault(name, factory)
    return _factories[name]


def load_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """Build a backend by registered name: ``transformers`` (default model: the embedded tiny MLLM),
    ``openai`` (an OpenAI-compatible server at ``base_url``; default model: the one it serves),
    ``mock`` (echoes an empty answer; for plumbing checks), or any registered provider."""
    return get_backend_factory(name)(model, **options)


def iter_backends() -> Iterator[str]:
    yield from backend_names()
