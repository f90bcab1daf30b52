"""Train a fallback router on one eval run and judge it live on held-out samples (another seed).

    python examples/routing.py

The router runs the cheap direct call first and escalates to the cascade when the direct answer's
log-probability is low; its threshold is calibrated on the training run. The same three steps on
the command line:

    skillgap eval --tasks counting --strategies direct,cascaded --seed 1 --out runs/train
    skillgap route train --run runs/train --router fallback --out runs/fallback.json
    skillgap eval --tasks counting --seed 2 --strategies direct,cascaded,routed:runs/fallback.json
"""

import tempfile
from pathlib import Path

import skillgap as sg
from skillgap.evals import EvalConfig, load_run_rows, run_eval, train_router, trained_on
from skillgap.graphs import routed
from skillgap.routers import save_router
from skillgap.tasks import composition

backend = sg.load_backend("transformers")  # the embedded tiny MLLM, on CPU
with tempfile.TemporaryDirectory() as tmp:
    runs = Path(tmp)
    train = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded"], n=8, seed=1, skills=False)
    run_eval(train, backend, runs / "train", show_progress=False)

    rows = load_run_rows(runs / "train")
    router = train_router("fallback", rows)  # thresholds: best accuracy within 0.75x cascaded calls
    path = save_router(router, runs / "fallback.json", trained_on=trained_on(runs / "train", rows, router))
    print(routed(composition("counting"), router).draw())

    held_out = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded", "routed:fallback"],
                          n=8, seed=2, skills=False, routers={"fallback": str(path)})
    summary = run_eval(held_out, backend, runs / "eval", show_progress=False)
    for name, stats in summary.tasks["counting"].routers.items():
        closed = stats.gap_closed
        share = f"– ({closed.reason})" if closed.value is None else f"{closed.value:.0%}"
        ratio = stats.cost_ratio_vs_cascaded
        print(f"{name:>8}: accuracy {stats.accuracy or 0.0:.2f} (n={stats.n}), gap closed {share}, "
              f"{stats.calls:.2f} model calls per sample "
              f"({ratio or 0.0:.2f}x always-cascaded), choices {stats.choices}")
