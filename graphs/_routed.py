"""The routed strategy: a router picks, per input, which branch runs: a LangGraph conditional edge.

The graph is ``[probe] -> route -> branch``: a probing router (``probe="direct"``) first runs the
cheap direct call, whose answer is kept when the router stays on ``direct``; the ``route`` node asks
the router and opens a ``router decision`` span; a conditional edge then runs only the chosen
branch (``direct``, ``cascaded``, ``cot``, or ``tesseract``: the cascade with its read-text step done
by Tesseract OCR). The result counts every node that ran, so cost includes the probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..backends._types import Backend, ImageRef
from ..routers._router import BRANCHES, RouteDecision, Router
from ..skills._formats import Expression, render_value
from ..skills._skill import _type_name
from ._compiled import GraphResult, GraphRunner, GraphState, RunContext
from ._composition import Composition
from ._graph import Input, SkillGraph
from .strategies.cascaded import cascaded
from .strategies.cot import cot
from .strategies.direct import direct

ROUTE_NODE = "route"


class RoutedState(GraphState, total=False):
    route: RouteDecision


class RoutedResult(GraphResult):
    """A graph result that also says which branch the router chose, and why."""

    route: RouteDecision | None = None
    probe: str | None = None
    branch_nodes: tuple[str, ...] = ()

    @property
    def parse_failure(self) -> bool:
        # A probe that failed its constraint was escalated past; only the chosen branch counts.
        return any(self.nodes[n].parse_failure for n in self.branch_nodes if n in self.nodes)


def tesseract_branch(composition: Composition) -> SkillGraph:
    """The cascade with its visual step on Tesseract: nodes ``ocr`` then ``ocr_textual``."""
    if composition.visual.output is not Expression:
        raise ValueError(
            f"the tesseract executor reads text: composition {composition.name!r} has visual skill "
            f"{composition.visual.name} -> {composition.visual.output.__name__}, not an Expression"
        )
    graph = SkillGraph("tesseract", answer="ocr_textual", intermediate="ocr")
    graph.add("ocr", composition.visual)
    return graph.add("ocr_textual", composition.textual, **{composition.bind: "ocr"})


def branch_graph(name: str, composition: Composition) -> SkillGraph:
    builders = {"direct": direct, "cascaded": cascaded, "cot": cot, "tesseract": tesseract_branch}
    if name not in builders:
        raise ValueError(f"unknown branch {name!r}; choose from {', '.join(BRANCHES)}")
    return builders[name](composition)


class _Runtime:
    """What a node function reads from LangGraph's runtime: only ``context``."""

    def __init__(self, context: RunContext):
        self.context = context


def _on_executor(node_fn: Any, executor: Backend) -> Any:
    """Run a node on ``executor`` instead of the model; a tool call is not a model call."""

    async def run(state: GraphState, runtime: Any) -> dict[str, Any]:
        update = await node_fn(state, _Runtime(replace(runtime.context, backend=executor)))
        return {"results": {name: result.model_copy(update={"called": False})
                            for name, result in update["results"].items()}}

    run.__name__ = getattr(node_fn, "__name__", "executor_node")
    return run


class RoutedGraph(GraphRunner):
    """A runnable routed strategy, with the same ``arun``/``run``/``abatch``/``draw`` as a
    ``CompiledGraph``. Build it with :func:`routed`."""

    def __init__(self, composition: Composition, router: Router, *,
                 executors: Mapping[str, Backend] | None = None, name: str | None = None):
        from langgraph.graph import END, START, StateGraph

        self.composition = composition
        self.router = router
        self.name = name or f"routed:{router.name}"
        self.probe = router.probe
        choices_for = getattr(router, "choices_for", None)  # optional: a router's per-task choices
        choices = list(dict.fromkeys(choices_for(composition.name) if choices_for else router.choices))
        for choice in choices:
            if choice not in BRANCHES:
                raise ValueError(f"router {router.name!r} may choose unknown branch {choice!r}; "
                                 f"branches: {', '.join(BRANCHES)}")
        if self.probe is not None and self.probe not in ("direct",):
            raise ValueError(f"router {router.name!r}: unsupported probe {self.probe!r} (only 'direct')")
        needed = list(dict.fromkeys([*([self.probe] if self.probe else []), *choices]))
        self.branches = {b: branch_graph(b, composition) for b in needed}
        self.compiled = {b: graph.compile() for b, graph in self.branches.items()}
        self.executors: dict[str, Backend] = dict(executors or {})
        if "tesseract" in needed and "tesseract" not in self.executors:
            from ..backends._tesseract import TesseractOCR

            self.executors["tesseract"] = TesseractOCR()
        self.probe_nodes = self.branches[self.probe].topological_order() if self.probe else []
        self.inputs = self.compiled[needed[0]].inputs

        builder = StateGraph(RoutedState, context_schema=RunContext)
        previous = START
        for node in self.probe_nodes:
            builder.add_node(node, self.compiled[self.probe]._node(node))
            builder.add_edge(previous, node)
            previous = node
        builder.add_node(ROUTE_NODE, self._route_node())
        builder.add_edge(previous, ROUTE_NODE)
        targets: dict[str, str] = {}
        for choice in choices:
            graph, compiled = self.branches[choice], self.compiled[choice]
            nodes = [n for n in graph.topological_order() if n not in self.probe_nodes]
            if not nodes:  # the probe already produced this branch's answer
                targets[choice] = END
                continue
            for node in nodes:
                fn = compiled._node(node)
                if choice == "tesseract" and node == graph.intermediate:
                    fn = _on_executor(fn, self.executors["tesseract"])
                builder.add_node(node, fn)
                parents = [p for p in graph.parents(node) if p not in self.probe_nodes]
                if len(parents) == 1:
                    builder.add_edge(parents[0], node)
                elif parents:
                    builder.add_edge(parents, node)
            entries = [n for n in nodes if not [p for p in graph.parents(n) if p not in self.probe_nodes]]
            if len(entries) != 1:
                raise ValueError(f"branch {choice!r} must start at one node, has {entries}")
            targets[choice] = entries[0]
            for sink in graph.sinks():
                builder.add_edge(sink, END)
        builder.add_conditional_edges(ROUTE_NODE, _chosen, targets)  # type: ignore[arg-type]
        self.targets = targets
        self.langgraph = builder.compile(name=self.name)

    def _route_node(self) -> Any:
        router, composition = self.router, self.composition

        async def route(state: RoutedState, runtime: Any) -> dict[str, Any]:
            context: RunContext = runtime.context
            signals = _signals(composition, state, context, self.probe_nodes)
            decision = await asyncio.to_thread(_decide, router, composition.name, signals)
            if decision.choice not in self.targets:
                raise ValueError(f"router {router.name!r} chose {decision.choice!r}, not one of its "
                                 f"declared choices {list(self.targets)}")
            return {"route": decision}

        route.__name__ = "route"
        return route

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return next(iter(self.compiled.values())).check_inputs(inputs)

    def _result(self, state: dict[str, Any], latency_s: float) -> RoutedResult:
        """The chosen branch's nodes give the answer; the probe's node, if any, is kept too."""
        decision: RouteDecision = state["route"]
        branch = self.branches[decision.choice]
        return RoutedResult(
            graph=self.name,
            nodes=state["results"],
            answer_node=branch.answer_node(),
            intermediate_node=branch.intermediate,
            latency_s=latency_s,
            route=decision,
            probe=self.probe,
            branch_nodes=tuple(branch.nodes),
        )

    def draw(self) -> str:
        """Mermaid flowchart: inputs, the probe, the router's decision diamond and, on dotted
        labelled edges, each branch it may choose."""
        ids: dict[str, str] = {}
        shapes: list[str] = []
        edges: list[str] = []
        input_ids: dict[str, str] = {}

        def node_id(node: str, graph: SkillGraph) -> str:
            if node not in ids:
                ids[node] = f"n{len(ids)}"
                skill = graph.skill_of(node)
                label = f"{node}<br/>{skill.name}: {_type_name(skill.output)}"
                if node in self.probe_nodes:
                    label += "<br/>(probe)"
                elif graph.name == "tesseract" and node == graph.intermediate:
                    label += "<br/>(Tesseract OCR)"
                shapes.append(f'    {ids[node]}["{label.replace(chr(34), "#quot;")}"]')
                for param, source in graph.validate()[node].items():
                    if isinstance(source, Input):
                        if source.name not in input_ids:
                            input_ids[source.name] = key = f"in{len(input_ids)}"
                            tp = _type_name(skill.inputs[param]).replace('"', "#quot;")
                            shapes.insert(len(input_ids) - 1, f'    {key}(["{source.name}: {tp}"])')
                        edges.append(f"    {input_ids[source.name]} -->|{param}| {ids[node]}")
                    elif source not in self.probe_nodes or node in self.probe_nodes:
                        edges.append(f"    {ids[source]} -->|{param}| {ids[node]}")
            return ids[node]

        for name, tp in self.inputs.items():  # the router reads the inputs too (cheap signals)
            input_ids[name] = f"in{len(input_ids)}"
            shapes.append(f'    {input_ids[name]}(["{name}: {_type_name(tp).replace(chr(34), "#quot;")}"])')
            edges.append(f"    {input_ids[name]} -.->|signals| {ROUTE_NODE}")
        previous = None
        for node in self.probe_nodes:
            current = node_id(node, self.branches[self.probe])
            if previous is not None:
                edges.append(f"    {previous} --> {current}")
            previous = current
        shapes.append(f'    {ROUTE_NODE}{{"route<br/>router: {self.router.name}"}}')
        shapes.append('    answer(["answer"])')
        if previous is not None:
            edges.append(f"    {previous} --> {ROUTE_NODE}")
        for choice, target in self.targets.items():
            graph = self.branches[choice]
            if target == "__end__":
                edges.append(f"    {ROUTE_NODE} -.->|{choice}: keep probe| answer")
                continue
            for node in graph.topological_order():
                if node not in self.probe_nodes:
                    node_id(node, graph)
            edges.append(f"    {ROUTE_NODE} -.->|{choice}| {ids[target]}")
            edges.append(f"    {ids[graph.answer_node()]} --> answer")
        return "\n".join(["flowchart TD", *shapes, *edges])


def _chosen(state: RoutedState) -> str:
    return state["route"].choice


def _signals(composition: Composition, state: RoutedState, context: RunContext,
             probe_nodes: list[str]) -> dict[str, Any]:
    inputs = state["inputs"]
    images = [value for value in inputs.values() if isinstance(value, ImageRef)]
    textual = {name: render_value(value) for name, value in inputs.items()
               if not isinstance(value, ImageRef)}
    try:
        question = composition.question.format(**textual)
    except (KeyError, IndexError):
        question = composition.question
    signals: dict[str, Any] = {
        "task": composition.name,
        "question": question,
        "image": images[0] if images else None,
        "inputs": textual,
        "sample_id": context.metadata.get("sample_id"),
    }
    results = state.get("results", {})
    for node in probe_nodes:
        result = results[node]
        signals[node] = {"ok": result.ok, "logprob": result.logprob,
                         "answer": None if result.output is None else render_value(result.output)}
    return signals


def _decide(router: Router, task: str, signals: Mapping[str, Any]) -> RouteDecision:
    # No-op without a configured tracer provider; with one, a CHAIN span per decision.
    from opentelemetry import trace

    tracer = trace.get_tracer("skillgap")
    with tracer.start_as_current_span("router decision") as span:
        span.set_attribute("openinference.span.kind", "CHAIN")
        span.set_attribute("skillgap.router.name", router.name)
        decision = router.route(task, signals)
        span.set_attribute("skillgap.router.choice", decision.choice)
        if decision.score is not None:
            span.set_attribute("skillgap.router.score", float(decision.score))
        if signals.get("sample_id"):
            span.set_attribute("skillgap.sample_id", str(signals["sample_id"]))
    return decision


def routed(composition: Composition, router: Router, *,
           executors: Mapping[str, Backend] | None = None) -> RoutedGraph:
    """The routed strategy for ``composition``: ``router`` picks the branch for each input.

    Example:
        >>> graph = routed(composition("rendered_text"), FallbackRouter(threshold=1.0))
        >>> print(graph.draw())   # the decision and its branches, as Mermaid
    """
    return RoutedGraph(composition, router, executors=executors)
