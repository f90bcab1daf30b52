"""Run the three strategies on one generated counting sample with the embedded tiny model.

    python examples/quickstart.py
"""

import skillgap as sg
from skillgap.evals import EvalConfig, load_samples
from skillgap.tasks import composition

sample = load_samples(EvalConfig(tasks=["counting"], n=1, seed=7))[0]
print(f"question: {sample.question}  gold intermediate: {sample.intermediate}  gold: {sample.answer}")

backend = sg.load_backend("transformers")  # the embedded tiny MLLM, on CPU
comp = composition("counting")
for build in (sg.direct, sg.cascaded, sg.cot):
    result = build(comp).compile().run({"image": sample.image, **sample.inputs}, backend)
    print(f"{result.graph:>9}: answer={result.answer_text()} intermediate={result.intermediate} "
          f"calls={result.calls} error={result.error}")
