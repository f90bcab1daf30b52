"""Route each input to the cheapest strategy likely to be right: direct, CoT, or the cascade.

    python examples/cheapest_router.py

A model that composes partially answers easy inputs directly, somewhat harder ones with CoT (one
call too), and needs the two-call cascade only for the rest. The ``cheapest`` router learns, per
cheap strategy, the chance it is right from features known before any call (the task, the question,
image statistics such as the number of inked pieces), and picks the first likely-right one. The
same steps on the command line:

    skillgap eval --tasks counting --strategies direct,cot,cascaded --seed 1 --out runs/train
    skillgap route train --run runs/train --router cheapest --features pre --out runs/cheapest.json
    skillgap eval --tasks counting --seed 2 --strategies direct,cascaded,routed:runs/cheapest.json
"""

import tempfile
from pathlib import Path

import skillgap as sg
from skillgap.evals import EvalConfig, load_run_rows, run_eval, train_router
from skillgap.routers import save_router

backend = sg.load_backend("transformers")  # the embedded tiny MLLM, on CPU
with tempfile.TemporaryDirectory() as tmp:
    runs = Path(tmp)
    train = EvalConfig(tasks=["counting"], strategies=["direct", "cot", "cascaded"], n=12, seed=1,
                       skills=False)
    run_eval(train, backend, runs / "train", show_progress=False)
    router = train_router("cheapest", load_run_rows(runs / "train"), features="pre")
    path = save_router(router, runs / "cheapest.json")
    print("thresholds per task and strategy:", router.to_record()["thresholds"])

    held_out = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded", "routed:cheapest"],
                          n=12, seed=2, skills=False, routers={"cheapest": str(path)})
    stats = run_eval(held_out, backend, runs / "eval", show_progress=False).tasks["counting"].routers
    ladder = stats["cheapest"]
    print(f"cheapest: accuracy {ladder.accuracy or 0.0:.2f} (n={ladder.n}), "
          f"{ladder.calls:.2f} model calls per sample, choices {ladder.choices}")
