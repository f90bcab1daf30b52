"""A new backend in one file: a model that always answers "7" (put your own API call there).

    python examples/extending/my_backend.py     # one request, printed

Registered by name, it runs wherever a built-in backend does: ``sg.load_backend("sevens")``, and
``skillgap eval --backend sevens`` once this file is imported (or installed as a ``skillgap.backends``
entry point). Caching, retries and batching wrap any backend: nothing to write for them.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import skillgap as sg
from skillgap.backends import Generation, GenerationRequest, Message, TextPart, register_backend


class Sevens:
    """The Backend protocol: a name, a model id, ``describe()`` and a batched ``generate``."""

    name = "sevens"
    context_length = 4096  # the model's context window, in tokens

    def __init__(self, model: str = "seven-1"):
        self.model_id = model

    def describe(self) -> dict[str, Any]:  # what rebuilds it: recorded in every run log
        return {"backend": self.name, "model": self.model_id}

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return [Generation(text="7", input_tokens=len(r.messages), output_tokens=1) for r in requests]


@register_backend("sevens")
def sevens(model: str | None = None, **options: Any) -> Sevens:
    return Sevens(model or "seven-1", **options)


if __name__ == "__main__":
    ask = GenerationRequest(messages=(Message(content=(TextPart(text="2+5="),)),))
    print(asyncio.run(sg.load_backend("sevens").generate([ask]))[0].text)
