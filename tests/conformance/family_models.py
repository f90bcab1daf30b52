"""Which families the suite covers, and the session's built models and loaded backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mllm_families import BUILDERS, build

#: Families whose processors exist only with torchvision (no PIL image processor in transformers 5).
TORCHVISION_ONLY = {"molmo2"}
#: Families also checked in the torchvision venv (``make conformance-vision``, pytest ``-m vision``),
#: with torchvision image processors and their video processors: what users of them have.
VISION_RUN = ("llava_onevision", "qwen2_5_vl", "smolvlm", "molmo2")


def torchvision_required() -> bool:
    """``make conformance-vision`` sets this: there a torchvision-only family must run, never skip."""
    return os.environ.get("SKILLGAP_REQUIRE_TORCHVISION") == "1"


def family_params() -> list[object]:
    """Every family as a pytest parameter: marked ``vision`` when the torchvision run checks it
    too; a torchvision-only family skips where torchvision is absent (and not required)."""
    from skillgap.backends._families import torchvision_available

    params: list[object] = []
    for name in BUILDERS:
        marks: list[pytest.MarkDecorator] = []
        if name in VISION_RUN:
            marks.append(pytest.mark.vision)
        if name in TORCHVISION_ONLY and not torchvision_available() and not torchvision_required():
            marks.append(pytest.mark.skip(
                reason=f"{name}'s image processor needs torchvision, which does not pair with this "
                       "CPU torch build; `make conformance-vision` runs it in a venv with torchvision"))
        params.append(pytest.param(name, marks=marks))
    return params


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
