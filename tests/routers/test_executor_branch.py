"""An executor branch runs one node on a tool backend (the role Tesseract plays) inside the routed
graph's branch subgraph; its calls are not model calls."""

from __future__ import annotations

from skillgap.backends import GenerationRequest, MockBackend
from skillgap.evals import EvalConfig, load_samples
from skillgap.graphs import routed
from skillgap.routers import RuleRouter
from skillgap.skills import Expression
from skillgap.tasks import composition


def test_the_executor_reads_and_the_model_solves() -> None:
    samples = load_samples(EvalConfig(tasks=["rendered_text"], n=3, seed=5))
    gold = {s.id: s for s in samples}
    tool = MockBackend(handler=lambda r: gold[r.metadata["sample_id"]].intermediate or "")

    def model(request: GenerationRequest) -> str:
        assert request.metadata["skill"] == "solve_expression"  # the read step never reaches it
        return str(Expression.parse(request.messages[0].text.splitlines()[-1].split(": ")[1]).evaluate())

    graph = routed(composition("rendered_text"), RuleRouter({"rendered_text": "tesseract"}),
                   executors={"tesseract": tool})
    for sample in samples:
        result = graph.run({"image": sample.image, **sample.inputs}, MockBackend(handler=model),
                           metadata={"sample_id": sample.id})
        assert result.answer_text() == sample.answer and result.calls == 1
        assert set(result.nodes) == {"ocr", "ocr_textual"} and not result.nodes["ocr"].called
    assert "(Tesseract OCR)" in graph.draw()
