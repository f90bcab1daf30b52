"""Shared by the router tests: a mock model with a known composition gap, and hand-built rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from skillgap.backends import Generation, GenerationRequest, MockBackend
from skillgap.evals import Row
from skillgap.routers import Cost, Probe, Signals
from skillgap.skills import CardHand, Expression, ObjectList
from skillgap.tasks import Sample

SURE, UNSURE = -0.05, -3.0


def direct_right(sample_id: str) -> bool:
    """Direct is wrong on every fifth sample (by index): an 80% direct, 100% cascaded model."""
    return int(sample_id.rsplit("-", 1)[1]) % 5 != 0


def gap_backend(items: Iterable[object]) -> MockBackend:
    """Visual skills read perfectly and textual skills compute from their prompt (cascaded is always
    right); direct is right on four samples in five, sure (log-prob -0.05) when right and unsure
    (-3.0) when wrong; chain-of-thought is always wrong. Tokens: one per character."""
    labels = {(s.task, s.id): s for s in items if isinstance(s, Sample)}

    def handler(request: GenerationRequest) -> Generation:
        skill = request.metadata["skill"]
        sample = labels[(request.metadata["task"], request.metadata["sample_id"])]
        logprob = SURE
        if skill.endswith(".direct"):
            ok = direct_right(sample.id)
            text, logprob = (sample.answer, SURE) if ok else (str(int(sample.answer) + 1), UNSURE)
        elif skill.endswith(".cot"):
            text = f"{sample.intermediate}\nAnswer: {int(sample.answer) + 1}"
        elif skill in ("read_expression", "list_objects", "read_cards"):
            text = sample.intermediate or ""
        else:
            line = request.messages[0].text.splitlines()[-1].split(": ", 1)[1]
            if skill == "solve_expression":
                text = str(Expression.parse(line).evaluate())
            elif skill == "count_objects":
                text = str(ObjectList.parse(line).count(sample.inputs["query"]))
            else:
                text = str(CardHand.parse(line).blackjack_value())
        return Generation(text=text, input_tokens=30, output_tokens=len(text), logprob=logprob)

    return MockBackend(handler=handler)


def row(sample_id: str, *, direct: bool, cascaded: bool, logprob: float | None = None,
        task: str = "t", cot: bool | None = None, direct_ok: bool = True, **stats: float) -> Row:
    """A hand-built sample: who was right, and costs of 1 call (direct, cot) and 2 (cascaded)."""
    correct = {"direct": direct, "cascaded": cascaded}
    costs = {"direct": Cost(1, 2, 0.1), "cascaded": Cost(2, 8, 0.2)}
    if cot is not None:
        correct["cot"] = cot
        costs["cot"] = Cost(1, 9, 0.15)
    image_stats = {"ink_fraction": 0.0, "colour_fraction": 0.0, "ink_columns": 0.0, "ink_rows": 0.0,
                   "ink_tiles": 0.0, "ink_blobs": 0.0, **stats}
    signals = Signals(task=task, sample_id=sample_id, question="q",
                      probes={"direct": Probe(ok=direct_ok, logprob=logprob, answer="1")})
    return Row(task, sample_id, signals.with_image_stats(image_stats), correct, costs)


def accuracy_of(rows: Sequence[Row], choices: Sequence[str]) -> float:
    return sum(r.correct[c] for r, c in zip(rows, choices, strict=True)) / len(rows)
