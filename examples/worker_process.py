"""Run the embedded model in a worker process while this one draws samples, as `skillgap eval` does.

    python examples/worker_process.py
"""

import asyncio
import time

import skillgap as sg
from skillgap.backends import ProcessBackend
from skillgap.evals import EvalConfig, load_samples
from skillgap.tasks import composition

started = time.perf_counter()
backend = ProcessBackend("transformers")  # returns at once: torch and the weights load over there
samples = load_samples(EvalConfig(tasks=["cards"], n=3, seed=11))  # meanwhile, drawn here
graph = sg.cascaded(composition("cards")).compile()


async def run_all() -> list[sg.graphs.GraphResult]:
    return await asyncio.gather(*(graph.arun({"image": s.image, **s.inputs}, backend) for s in samples))


try:
    results = asyncio.run(run_all())
    print(f"worker pid {backend.pid}, model {backend.model_id} ({backend.native_layout} layout)")
    for sample, result in zip(samples, results, strict=True):
        print(f"{sample.id}: gold {sample.answer}, cascaded {result.answer_text()} "
              f"(read {result.intermediate})")
    print(f"{len(samples)} samples in {time.perf_counter() - started:.1f}s, model load included")
finally:
    backend.close()
