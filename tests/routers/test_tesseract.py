"""The Tesseract executor for the read-text skill: real OCR on rendered expressions, and the install
hint when the program is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillgap.backends import MockBackend, TesseractNotFound, TesseractOCR, tesseract_available
from skillgap.evals import EvalConfig, load_samples
from skillgap.graphs import routed
from skillgap.routers import RuleRouter
from skillgap.tasks import composition

needs_tesseract = pytest.mark.skipif(
    not tesseract_available(), reason="Tesseract OCR is not installed (apt-get install -y tesseract-ocr)"
)


@needs_tesseract
@pytest.mark.parametrize(("layout", "at_least"), [("grid", 8), ("free", 9)])
def test_tesseract_reads_rendered_expressions(layout: str, at_least: int) -> None:
    samples = load_samples(EvalConfig(tasks=["rendered_text"], n=10, seed=12, layout=layout))
    ocr = TesseractOCR()
    read = [ocr.read(sample.image.read_bytes()) for sample in samples]
    assert sum(text == sample.intermediate for text, sample in zip(read, samples, strict=True)) >= at_least


@needs_tesseract
def test_a_router_sends_the_read_text_step_to_tesseract() -> None:
    from router_helpers import gap_backend

    samples = load_samples(EvalConfig(tasks=["rendered_text"], n=4, seed=12, layout="free"))
    backend = gap_backend(samples)
    graph = routed(composition("rendered_text"), RuleRouter({"rendered_text": "tesseract"}))
    assert "(Tesseract OCR)" in graph.draw()
    for sample in samples:
        result = graph.run({"image": sample.image}, backend,
                           metadata={"task": sample.task, "sample_id": sample.id})
        assert result.route is not None and result.route.choice == "tesseract"
        assert result.answer_text() == sample.answer and str(result.intermediate) == sample.intermediate
        assert result.calls == 1 and result.nodes["ocr"].output_tokens == 0  # OCR is no model call
    # Only the textual step reached the model.
    assert {request.metadata["skill"] for request in backend.requests} == {"solve_expression"}


def test_missing_tesseract_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLGAP_TESSERACT", "/nonexistent/tesseract")
    with pytest.raises(TesseractNotFound, match="apt-get install -y tesseract-ocr"):
        TesseractOCR()
    with pytest.raises(TesseractNotFound, match="apt-get install"):
        routed(composition("rendered_text"), RuleRouter({"rendered_text": "tesseract"}))


def test_an_eval_that_may_pick_tesseract_checks_for_it_first(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from skillgap.evals import run_eval
    from skillgap.routers import save_router

    monkeypatch.setenv("SKILLGAP_TESSERACT", "/nonexistent/tesseract")
    path = save_router(RuleRouter({"rendered_text": "tesseract"}), tmp_path / "ocr.json")
    config = EvalConfig(tasks=["rendered_text"], n=1, strategies=[f"routed:{path}"])
    with pytest.raises(ValueError, match=r"may choose the tesseract executor\. Tesseract OCR is not"):
        run_eval(config, MockBackend(outputs=[]), tmp_path / "run", show_progress=False)


def test_tesseract_reads_only_text_compositions() -> None:
    with pytest.raises(ValueError, match="reads text"):
        routed(composition("counting"), RuleRouter({}, default="tesseract"))
