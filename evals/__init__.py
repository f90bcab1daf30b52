"""Eval suites: the resumable runner, scoring, run-log records, metrics and summaries."""

from ._metrics import attribution, bootstrap_ci, gap_closed, majority_baseline, mcnemar_exact
from ._records import RecordLog, SampleRecord, read_records
from ._router_fit import (
    TRAINABLE,
    Row,
    calibrate,
    format_simulation,
    load_run_rows,
    rows_from_records,
    simulate,
    train_router,
    trained_on,
)
from ._runner import EvalConfig, load_samples, run_eval, run_samples, score
from ._summary import format_table, summarize
from ._summary_model import (
    SUMMARY_SCHEMA_VERSION,
    Gap,
    GapClosed,
    RouterStats,
    Stats,
    Summary,
    TaskSummary,
)

__all__ = [
    "SUMMARY_SCHEMA_VERSION",
    "TRAINABLE",
    "EvalConfig",
    "Gap",
    "GapClosed",
    "RecordLog",
    "RouterStats",
    "Row",
    "SampleRecord",
    "Stats",
    "Summary",
    "TaskSummary",
    "attribution",
    "bootstrap_ci",
    "calibrate",
    "format_simulation",
    "format_table",
    "gap_closed",
    "load_run_rows",
    "load_samples",
    "majority_baseline",
    "mcnemar_exact",
    "read_records",
    "rows_from_records",
    "run_eval",
    "run_samples",
    "score",
    "simulate",
    "summarize",
    "train_router",
    "trained_on",
]
