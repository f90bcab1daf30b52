"""Graph overhead: 64 cascaded samples through the LangGraph graphs vs the same calls made directly.

(a) ``cascaded(...).compile().abatch`` on the embedded tiny model (dynamic batching coalesces the
per-sample calls); (b) the identical requests sent with ``backend.generate`` in chunks of the same
batch size. Rounds alternate a and b; the printed ratio is the median of per-round a/b.

    python benchmarks/overhead.py [--n 64] [--rounds 5] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from skillgap.backends import load_backend
from skillgap.backends._types import Backend, GenerationRequest
from skillgap.evals import EvalConfig, load_samples
from skillgap.graphs import cascaded
from skillgap.skills import ParseFailure
from skillgap.tasks import composition


async def direct_calls(backend: Backend, task: str, inputs: list[dict], batch: int) -> list[str]:
    comp = composition(task)

    async def in_chunks(requests: list[GenerationRequest]) -> list[str]:
        texts: list[str] = []
        for start in range(0, len(requests), batch):
            texts += [g.text for g in await backend.generate(requests[start : start + batch])]
        return texts

    visual = await in_chunks([comp.visual.request({"image": item["image"]}) for item in inputs])
    textual_requests = []
    for item, text in zip(inputs, visual, strict=True):
        parsed = comp.visual.parse(text)
        if not isinstance(parsed, ParseFailure):
            extra = {k: v for k, v in item.items() if k != "image"}
            textual_requests.append(comp.textual.request({comp.bind: parsed, **extra}))
    return await in_chunks(textual_requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--task", default="counting")
    args = parser.parse_args()

    backend = load_backend("transformers", max_batch_size=args.batch_size)
    samples = load_samples(EvalConfig(tasks=[args.task], n=args.n, seed=4242))
    inputs = [{"image": s.image, **s.inputs} for s in samples]
    graph = cascaded(composition(args.task)).compile()

    async def via_graph() -> list[str | None]:
        results = await graph.abatch(inputs, backend, concurrency=args.n)
        return [r.nodes["textual"].raw for r in results if r.nodes["textual"].called]

    asyncio.run(via_graph())  # warm-up: model load, constraint compilation
    ratios = []
    for round_ in range(args.rounds):
        started = time.perf_counter()
        graph_answers = asyncio.run(via_graph())
        graph_s = time.perf_counter() - started
        started = time.perf_counter()
        direct_answers = asyncio.run(direct_calls(backend, args.task, inputs, args.batch_size))
        direct_s = time.perf_counter() - started
        if graph_answers != direct_answers:  # same requests, same batches: should not happen
            print(f"warning: outputs differ between (a) and (b) in round {round_}")
        ratios.append(graph_s / direct_s)
        print(f"round {round_}: graphs {graph_s:.3f}s direct {direct_s:.3f}s ratio {ratios[-1]:.3f}")
    print(f"overhead ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
