"""The README's Python blocks run as written, in order (as a reader pastes them into a notebook),
and its "Add a task" block is the example file's code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)

_RUN_BLOCKS = """
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
namespace = {"__name__": "__main__"}
for number, block in enumerate(re.findall(r"^```python\\n(.*?)^```", text, re.S | re.M), 1):
    exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    print(f"block {number} ran", flush=True)
"""


def test_the_readme_has_python_blocks_and_shows_the_task_example_verbatim() -> None:
    assert len(BLOCKS) >= 4
    example = (ROOT / "examples" / "extending" / "my_task.py").read_text(encoding="utf-8")
    code = example.split('"""\n\n', 1)[1]
    assert code in BLOCKS


@pytest.mark.slow
def test_readme_python_blocks_run_verbatim(tmp_path: Path, tiny_model_cache: Path) -> None:
    env = {**os.environ, "SKILLGAP_CACHE": str(tiny_model_cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _RUN_BLOCKS, str(README)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"block {len(BLOCKS)} ran" in done.stdout
    assert (tmp_path / "runs" / "traces.jsonl").is_file()  # the tracing block wrote its spans
