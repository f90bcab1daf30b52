"""A task sample: one image, one composed question, and gold labels for every step."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..backends._types import ImageRef


class Sample(BaseModel):
    """One eval item.

    ``inputs`` holds the textual inputs besides the image (e.g. ``{"query": "red"}``);
    ``intermediate`` is the text the visual skill should produce (``RC BS``), ``answer`` the text
    of the final answer (``2``); ``difficulty`` records the knobs that produced the sample.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    task: str
    image: ImageRef
    question: str
    answer: str
    intermediate: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    difficulty: dict[str, Any] = Field(default_factory=dict)
    image_id: str = ""

    def cluster(self) -> str:
        """Samples that share an image are not independent: bootstrap by this key."""
        return self.image_id or self.id
