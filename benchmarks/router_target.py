"""The router target, measured: train routers on one run, judge them live on held-out samples.

1. A training run (``--train-seed``): direct, cascaded and cot on every task.
2. Routers trained on it (``skillgap route train``): fallback, learned with the direct
   log-probability, learned before any call (``pre``), rule, and cheapest (direct, CoT or the
   cascade, before any call).
3. A held-out run (``--eval-seed``) with the strategies and every router as ``routed:`` steps; the
   call cache makes the routers' direct and cascaded calls free. Its report has the Pareto plot.

Prints, per task and router, accuracy, share of the gap closed and cost against always-cascaded
(model calls and generated tokens), and whether the target holds: at least 80% of the gap closed
at most 0.75x cascaded in calls or tokens. Rerun it whenever the embedded model changes:

    python benchmarks/router_target.py [--model PATH] [--n 100] [--out runs/routers]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from skillgap.backends import CachedBackend, load_backend
from skillgap.evals import EvalConfig, RouterStats, load_run_rows, run_eval, train_router, trained_on
from skillgap.routers import save_router

ROUTERS = {  # name: (kind, feature set)
    "fallback": ("fallback", "direct"),
    "learned": ("learned", "direct"),
    "learned-pre": ("learned", "pre"),
    "rule": ("rule", "direct"),
    "cheapest": ("cheapest", "pre"),
}


def target_met(stats: RouterStats) -> bool:
    cheap = [r for r in (stats.cost_ratio_vs_cascaded, stats.token_ratio_vs_cascaded) if r is not None]
    closed = stats.gap_closed.value
    return closed is not None and closed >= 0.8 and any(r <= 0.75 for r in cheap)


def _acc(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the embedded model)")
    parser.add_argument("--n", type=int, default=100, help="samples per task in each run")
    parser.add_argument("--train-seed", type=int, default=1000)
    parser.add_argument("--eval-seed", type=int, default=2000)
    parser.add_argument("--max-cost-ratio", type=float, default=0.75)
    parser.add_argument("--out", default="runs/routers")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backend = CachedBackend(load_backend("transformers", args.model, max_batch_size=32),
                            out / "calls.sqlite")
    started = time.perf_counter()
    try:
        train = EvalConfig(strategies=["direct", "cascaded", "cot"], n=args.n, seed=args.train_seed,
                           skills=False)
        run_eval(train, backend, out / "train", show_progress=False)
        rows = load_run_rows(out / "train")
        files = {}
        for name, (kind, features) in ROUTERS.items():
            router = train_router(kind, rows, name=name, features=features,
                                  max_cost_ratio=args.max_cost_ratio)
            files[name] = str(save_router(router, out / f"{name}.json",
                                          trained_on=trained_on(out / "train", rows, router)).resolve())
        held_out = train.model_copy(update={
            "seed": args.eval_seed,
            "strategies": [*train.strategies, *(f"routed:{name}" for name in ROUTERS)],
            "routers": files,
        })
        summary = run_eval(held_out, backend, out / "heldout", show_progress=False)
    finally:
        backend.close()
    print(f"model {summary.model}; {args.n} samples per task; trained on seed {args.train_seed}, "
          f"judged on seed {args.eval_seed}; {time.perf_counter() - started:.0f} s")
    print(f"{'task':<14} {'router':<12} {'accuracy':>8} {'direct':>7} {'cascaded':>8} {'gap closed':>10} "
          f"{'calls ratio':>11} {'tokens ratio':>12}  target")
    results: dict[str, dict[str, dict[str, object]]] = {}
    for task, entry in summary.tasks.items():
        direct = entry.strategies["direct"].accuracy
        cascaded = entry.strategies["cascaded"].accuracy
        for name, stats in entry.routers.items():
            closed = "–" if stats.gap_closed.value is None else f"{stats.gap_closed.value:.0%}"
            calls, tokens = stats.cost_ratio_vs_cascaded, stats.token_ratio_vs_cascaded
            met = "oracle" if name == "oracle" else ("met" if target_met(stats) else "not met")
            print(f"{task:<14} {name:<12} {_acc(stats.accuracy):>8} {_acc(direct):>7} {_acc(cascaded):>8} "
                  f"{closed:>10} {'–' if calls is None else f'{calls:.2f}':>11} "
                  f"{'–' if tokens is None else f'{tokens:.2f}':>12}  {met}")
            results.setdefault(task, {})[name] = {
                "accuracy": stats.accuracy, "gap_closed": stats.gap_closed.value,
                "gap_closed_reason": stats.gap_closed.reason,
                "cost_ratio_vs_cascaded": calls, "token_ratio_vs_cascaded": tokens}
    (out / "router_target.json").write_text(json.dumps(results, indent=2))
    from skillgap.reports import ensure_run_report  # matplotlib: only once the numbers are out

    ensure_run_report(out / "heldout", summary)
    print(f"report with the Pareto plot: {out / 'heldout' / 'report.html'} (plots/pareto.png)")


if __name__ == "__main__":
    main()
