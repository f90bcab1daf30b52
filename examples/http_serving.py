"""Evaluate a model served over HTTP, as you would one on a GPU box behind `vllm serve`.

Here the server is `skillgap serve`'s app on 127.0.0.1 (the embedded tiny model, from a background
thread); point `base_url` at your vLLM / SGLang / llama.cpp server instead.

    python examples/http_serving.py
"""

import tempfile
from pathlib import Path

import skillgap as sg
from skillgap.evals import EvalConfig, format_table, run_eval
from skillgap.serve import serving

model = sg.load_backend("transformers")  # what `skillgap serve` serves by default
with serving(model, "skillgap-tiny") as base_url, tempfile.TemporaryDirectory() as out:
    # Asks GET /models: the model name and (for skillgap serve) its native image layout.
    backend = sg.load_backend("openai", base_url=base_url)
    print(f"evaluating {backend.model_id} at {base_url}")
    config = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded"], skills=False, n=4,
                        layout=getattr(backend, "native_layout", "free"))
    summary = run_eval(config, backend, Path(out), show_progress=False)
    print(format_table(summary))
