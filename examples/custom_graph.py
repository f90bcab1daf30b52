"""Declare a new skill and wire a user DAG of skills; validate, draw and run it.

    python examples/custom_graph.py
"""

from PIL import Image, ImageDraw

import skillgap as sg
from skillgap.skills import read_expression


@sg.skill(max_tokens=3)
def double_number(number: sg.Number) -> sg.Number:
    """Double the number."""


@sg.skill(max_tokens=6)
def solve_and_report(expression: sg.Expression) -> sg.Number:
    """Compute the value of the expression."""


graph = (
    sg.SkillGraph("double_the_sum")
    .add("read", read_expression)
    .add("solve", solve_and_report, expression="read")
    .add("double", double_number, number="solve")
)
print(graph.draw())

# A wrongly typed edge is refused before anything runs.
try:
    sg.SkillGraph("bad").add("read", read_expression).add("double", double_number, number="read").compile()
except sg.GraphValidationError as exc:
    print("refused:", exc)

image = Image.new("RGB", (80, 80), "white")
ImageDraw.Draw(image).text((4, 4), "3+4", fill="black")
result = graph.compile().run({"image": image}, sg.load_backend("transformers"))
for name, node in result.nodes.items():
    print(f"{name:>7}: raw={node.raw!r} output={node.output} error={node.error}")
