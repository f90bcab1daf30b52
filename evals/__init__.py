"""Eval suites: task generators, the resumable runner, run-log records and summaries."""

from ._datasets import SampleError, load_dataset
from ._metrics import attribution, bootstrap_ci, gap_closed, majority_baseline, mcnemar_exact
from ._records import RecordLog, SampleRecord, read_records
from ._report import load_run, write_comparison, write_run_report
from ._runner import EvalConfig, load_samples, run_eval, run_samples, score
from ._sample import Sample
from ._summary import format_table, summarize
from ._tasks import COMPOSITIONS, composition

__all__ = [
    "COMPOSITIONS",
    "EvalConfig",
    "RecordLog",
    "Sample",
    "SampleError",
    "SampleRecord",
    "attribution",
    "bootstrap_ci",
    "composition",
    "format_table",
    "gap_closed",
    "load_dataset",
    "load_run",
    "load_samples",
    "majority_baseline",
    "mcnemar_exact",
    "read_records",
    "run_eval",
    "run_samples",
    "score",
    "summarize",
    "write_comparison",
    "write_run_report",
]
