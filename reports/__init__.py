"""Reports of finished runs: markdown, self-contained HTML, plots, and runs side by side, read from
the typed :class:`~skillgap.evals.Summary`."""

from ._compare import LoadedRun, load_run, run_labels, write_comparison
from ._plots import warm_imports
from ._report import ensure_run_report, model_name, write_run_report

__all__ = [
    "LoadedRun",
    "ensure_run_report",
    "load_run",
    "model_name",
    "run_labels",
    "warm_imports",
    "write_comparison",
    "write_run_report",
]
