"""Eval suites: task generators, the resumable runner, run-log records and summaries."""

from ._records import RecordLog, SampleRecord, read_records
from ._runner import EvalConfig, load_samples, run_eval, run_samples, score
from ._sample import Sample
from ._summary import format_table, summarize
from ._tasks import COMPOSITIONS, composition

__all__ = [
    "COMPOSITIONS",
    "EvalConfig",
    "RecordLog",
    "Sample",
    "SampleRecord",
    "composition",
    "format_table",
    "load_samples",
    "read_records",
    "run_eval",
    "run_samples",
    "score",
    "summarize",
]
