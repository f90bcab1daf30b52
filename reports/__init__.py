"""Reports of finished runs: markdown, self-contained HTML, plots, and runs side by side."""

from ._report import LoadedRun, ensure_run_report, load_run, write_comparison, write_run_report

__all__ = ["LoadedRun", "ensure_run_report", "load_run", "write_comparison", "write_run_report"]
