"""A new router in one file: escalate to the cascade when the image is busy (ink in many tiles).

    python examples/extending/my_router.py      # route counting samples live (the tiny model)

Registered, it trains on a run (``skillgap.evals.train_router("busy", rows)`` calibrates its
per-task thresholds), saves to a router file and runs as ``routed:FILE`` in ``sg.evaluate``.
"""

import skillgap as sg
from skillgap.graphs import routed
from skillgap.routers import Signals, ThresholdRouter, register_router
from skillgap.tasks import composition, generate


@register_router("busy")
class BusyRouter(ThresholdRouter):
    """Stays on direct unless ink covers at least ``threshold`` of the image's tiles."""

    def score(self, signals: Signals) -> float | None:
        # The same Signals, from the same builder, whether routing live or training on a log.
        return signals.image_stats()["ink_tiles"]


if __name__ == "__main__":
    graph = routed(composition("counting"), BusyRouter(threshold=0.25))
    model = sg.load_backend("transformers")  # the embedded tiny model
    for sample in generate("counting", 4, seed=1):
        result = graph.run({"image": sample.image, **sample.inputs}, model)
        assert result.route is not None
        print(sample.id, f"ink in {result.route.score:.0%} of tiles:", result.route.choice,
              result.answer_text(), "(gold", sample.answer + ")")
