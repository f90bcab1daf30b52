"""A new strategy in one file: the cascade, but the answering step sees the image too.

    python examples/extending/my_strategy.py    # direct, cascaded and hinted on the tiny model

Registered, it runs wherever a strategy name goes: ``sg.evaluate(..., strategies=[..., "hinted"])``,
router branches and the oracle (by its cost rank), the summary and the report.
"""

import skillgap as sg
from skillgap.graphs import Composition, SkillGraph, register_strategy


# Two calls, both with the image: dearer than the cascade (cost rank 30), so ranked after it.
@register_strategy("hinted", cost_rank=40)
def hinted(composition: Composition) -> SkillGraph:
    """``visual`` reads the intermediate; ``answer`` gets the image, the question and the reading."""
    answer = sg.Skill(
        name=f"{composition.name}.hinted",
        inputs={**composition.inputs, "reading": composition.visual.output},
        output=composition.textual.output,
        instruction=f"{composition.question} The image shows {{reading}}.",
        max_tokens=composition.textual.max_tokens,
    )
    graph = SkillGraph("hinted", answer="answer", intermediate="visual")
    graph.add("visual", composition.visual)
    return graph.add("answer", answer, reading="visual")


if __name__ == "__main__":
    result = sg.evaluate("counting", strategies=["direct", "cascaded", "hinted"], n=8,
                         report=False, show_progress=False)
    print(result)
