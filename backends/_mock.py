"""The mock backend: a public test double that goes through the same batching path as real ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._batching import BatchingBackend
from ._types import Generation, GenerationRequest

Handler = Callable[[GenerationRequest], "str | Generation"]


class MockBackend(BatchingBackend):
    """Answers from a script: a list of outputs used in call order, or a handler function.

    Every request it saw is kept in ``requests`` and every batch size in ``batch_sizes``, so tests
    can assert on prompts, constraints and batching.

    Example:
        >>> backend = MockBackend(handler=lambda request: "7")
    """

    name = "mock"

    def __init__(
        self,
        outputs: Sequence[str] | None = None,
        *,
        handler: Handler | None = None,
        model_id: str = "mock",
        logprob: float | None = None,
        max_batch_size: int = 16,
        batch_wait_s: float = 0.0,
    ):
        if (outputs is None) == (handler is None):
            raise ValueError("MockBackend needs exactly one of `outputs` or `handler`")
        super().__init__(model_id, max_batch_size=max_batch_size, batch_wait_s=batch_wait_s)
        self._outputs = list(outputs) if outputs is not None else None
        self._handler = handler
        self._logprob = logprob
        self.requests: list[GenerationRequest] = []
        self.batch_sizes: list[int] = []

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "scripted": self._outputs is not None}

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        self.batch_sizes.append(len(requests))
        return [self._one(request) for request in requests]

    def _one(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        if self._handler is not None:
            produced = self._handler(request)
        else:
            assert self._outputs is not None
            index = len(self.requests) - 1
            if index >= len(self._outputs):
                raise RuntimeError(
                    f"MockBackend ran out of scripted outputs after {len(self._outputs)} calls"
                )
            produced = self._outputs[index]
        if isinstance(produced, Generation):
            return produced
        prompt = "".join(message.text for message in request.messages)
        return Generation(
            text=produced,
            input_tokens=len(prompt.split()) + 1,
            output_tokens=max(1, len(produced.split())),
            logprob=self._logprob,
        )


def from_registry(model: str | None = None, **options: Any) -> MockBackend:
    """The ``mock`` entry of the backend registry: answers every request with empty text, after
    decoding its images as a real model would (an undecodable one is the request's error)."""
    return MockBackend(handler=_decode_then_answer_empty, model_id=model or "mock", **options)


def _decode_then_answer_empty(request: GenerationRequest) -> str | Generation:
    for image in request.images:
        try:
            image.load()
        except ValueError as exc:
            return Generation(text="", finish_reason="error", error=f"image could not be loaded: {exc}")
    return ""
