"""What a router sees about one sample: one ``Signals`` type and one builder, used live and offline.

The routed graph builds signals from a sample's inputs and the probe's node result; router training
and replay build them from a run's samples and records. Both go through :func:`build_signals`, so a
router sees the same features when it is fitted as when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..backends._types import ImageRef
from ..skills._formats import render_value


@dataclass(frozen=True)
class Probe:
    """The outcome of a step run before the router decides (the cheap direct call)."""

    ok: bool
    logprob: float | None = None
    answer: str | None = None


@dataclass(frozen=True)
class Signals:
    """Cheap facts about a sample, known before the expensive path runs.

    Attributes:
        task: the task (composition) name.
        question: the composed question, with the sample's textual inputs filled in.
        image: the sample's (first) image, or None.
        inputs: the textual inputs in their text form.
        sample_id: the sample's id when known (the oracle routes by it).
        probes: outcomes of the steps run before deciding, by step name (``direct``).
    """

    task: str
    question: str = ""
    image: ImageRef | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)
    sample_id: str | None = None
    probes: Mapping[str, Probe] = field(default_factory=dict)
    # Image statistics take a few ms of numpy: computed once, on first use, and kept.
    _stats: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def direct(self) -> Probe | None:
        """The direct probe's outcome, when the direct call ran first."""
        return self.probes.get("direct")

    def image_stats(self) -> dict[str, float]:
        """Ink and colour statistics of the image (all 0 without an image); cached."""
        if not self._stats:
            from ._features import IMAGE_FEATURES, image_stats

            found = image_stats(self.image) if self.image is not None else None
            self._stats.update(found or dict.fromkeys(IMAGE_FEATURES, 0.0))
        return dict(self._stats)

    def with_image_stats(self, stats: Mapping[str, float]) -> Signals:
        """A copy whose image statistics are ``stats`` (known already, e.g. from a run log)."""
        return replace(self, _stats=dict(stats))

    def seen_by(self, probe: str | None) -> Signals:
        """These signals as a router probing ``probe`` (or nothing) sees them: other probes'
        outcomes are dropped, since in use they would not have run."""
        kept = {name: outcome for name, outcome in self.probes.items() if name == probe}
        return replace(self, probes=kept, _stats=self._stats)


def build_signals(task: str, question: str, inputs: Mapping[str, Any], *,
                  sample_id: str | None = None, probes: Mapping[str, Probe] | None = None
                  ) -> Signals:
    """The one builder of :class:`Signals`.

    Args:
        task: the task name.
        question: the composition's question template (``{query}`` placeholders are filled
            from the textual inputs).
        inputs: the sample's inputs: images (``ImageRef``) and typed or text values.
        sample_id: the sample's id, when known.
        probes: outcomes of the steps run before deciding.
    """
    images = [value for value in inputs.values() if isinstance(value, ImageRef)]
    textual = {name: render_value(value) for name, value in inputs.items()
               if not isinstance(value, ImageRef)}
    try:
        filled = question.format(**textual)
    except (KeyError, IndexError):
        filled = question
    return Signals(task=task, question=filled, image=images[0] if images else None,
                   inputs=textual, sample_id=sample_id, probes=dict(probes or {}))
