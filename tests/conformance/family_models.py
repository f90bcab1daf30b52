"""Which families the suite covers, and the session's built models and loaded backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from mllm_families import BUILDERS, build

#: Families whose models cannot be built here, with the exact reason (their tests are xfail).
UNAVAILABLE: dict[str, str] = {
    "molmo2": "Molmo2ImageProcessor has only a torchvision backend in transformers 5.24 (no PIL "
    "variant), and PyPI's torchvision does not import beside the CPU torch 2.13 wheel used here",
}


def family_params() -> list[object]:
    """Every family as a pytest parameter; unavailable ones strictly xfail with their reason."""
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=UNAVAILABLE[name], raises=ImportError,
                                                   strict=True))
        if name in UNAVAILABLE else name
        for name in BUILDERS
    ]


class FamilyModels:
    """Builds each family on first use into one session folder; loads one backend per family."""

    def __init__(self, root: Path):
        self.root = root
        self._backends: dict[str, object] = {}

    def folder(self, family: str) -> Path:
        folder = self.root / family
        if not (folder / "config.json").is_file():
            build(family, folder)
        return folder

    def backend(self, family: str):  # -> TransformersBackend (imported lazily: torch)
        from skillgap.backends._transformers import TransformersBackend

        if family not in self._backends:
            # Mixed image sizes must share batches here: that is what the equality checks test.
            backend = TransformersBackend(self.folder(family), batch_wait_s=0.0,
                                          group_by_image_size=False)
            backend.load()
            self._backends[family] = backend
        return self._backends[family]

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()  # type: ignore[attr-defined]
