"""The routed strategy: a router picks, per input, which branch runs: a LangGraph conditional edge.

The graph is ``[probe] -> route -> branch``: a probing router (``probe="direct"``) first runs the
cheap direct call, whose answer is kept when the router stays on ``direct``; the ``route`` node asks
the router and opens a ``router decision`` span; a conditional edge then runs only the chosen
branch: any registered composition strategy (``direct``, ``cascaded``, ``cot``, ...) or an executor
branch (``tesseract``: the cascade with its read-text step done by Tesseract OCR). The result
counts every node that ran, so cost includes the probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ..backends._types import Backend
from ..routers._router import RouteDecision, Router
from ..routers._signals import Probe, Signals, build_signals
from ..skills._formats import Expression
from ..skills._skill import _type_name
from ._compiled import GraphResult, GraphRunner, GraphState, NodeResult, RunContext
from ._composition import Composition
from ._graph import Input, SkillGraph
from .strategies import get_strategy, strategy_names

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


#: Branches that run one node on an executor instead of the model:
#: name -> (graph builder, the node the executor runs, how drawings label it).
EXECUTOR_BRANCHES = {"tesseract": (tesseract_branch, "ocr", "Tesseract OCR")}


def branches() -> list[str]:
    """What a router may choose: every composition strategy, then the executor branches."""
    return [*strategy_names(), *EXECUTOR_BRANCHES]


def branch_graph(name: str, composition: Composition) -> SkillGraph:
    if name in EXECUTOR_BRANCHES:
        return EXECUTOR_BRANCHES[name][0](composition)
    if name not in strategy_names():
        raise ValueError(f"unknown branch {name!r}; choose from {', '.join(branches())}")
    return get_strategy(name).build(composition)


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
        choices = list(dict.fromkeys(router.choices_for(composition.name)))
        known = branches()
        for choice in choices:
            if choice not in known:
                raise ValueError(f"router {router.name!r} may choose unknown branch {choice!r}; "
                                 f"branches: {', '.join(known)}")
        if self.probe is not None and self.probe not in strategy_names():
            raise ValueError(f"router {router.name!r}: probe {self.probe!r} is not a strategy "
                             f"(strategies: {', '.join(strategy_names())})")
        needed = list(dict.fromkeys([*([self.probe] if self.probe else []), *choices]))
        self.branches = {b: branch_graph(b, composition) for b in needed}
        self.executors: dict[str, Backend] = dict(executors or {})
        if "tesseract" in needed and "tesseract" not in self.executors:
            from ..backends._tesseract import TesseractOCR

            self.executors["tesseract"] = TesseractOCR()
        missing = [b for b in needed if b in EXECUTOR_BRANCHES and b not in self.executors]
        if missing:
            raise ValueError(f"router {router.name!r} may choose {missing}: pass executors=")
        self.compiled = {
            b: graph.compile(executors={EXECUTOR_BRANCHES[b][1]: self.executors[b]}
                             if b in EXECUTOR_BRANCHES else None)
            for b, graph in self.branches.items()
        }
        self.probe_nodes = self.branches[self.probe].topological_order() if self.probe else []
        self.inputs = self.compiled[needed[0]].inputs

        # Each branch's compiled graph is one node of this graph (a LangGraph subgraph): the probe
        # first, then the route node, then the one branch the router picks.
        builder = StateGraph(RoutedState, context_schema=RunContext)
        previous = START
        if self.probe is not None:
            previous = f"probe_{self.probe}"
            builder.add_node(previous, self.compiled[self.probe].langgraph)
            builder.add_edge(START, previous)
        builder.add_node(ROUTE_NODE, self._route_node())
        builder.add_edge(previous, ROUTE_NODE)
        targets: dict[str, str] = {}
        for choice in choices:
            if choice == self.probe:  # the probe already produced this branch's answer
                targets[choice] = END
                continue
            targets[choice] = f"branch_{choice}"
            builder.add_node(targets[choice], self.compiled[choice].langgraph)
            builder.add_edge(targets[choice], END)
        builder.add_conditional_edges(ROUTE_NODE, _chosen, targets)  # type: ignore[arg-type]
        self.targets = targets
        self.langgraph = builder.compile(name=self.name)

    def _route_node(self) -> Any:
        router, composition = self.router, self.composition

        async def route(state: RoutedState, runtime: Any) -> dict[str, Any]:
            context: RunContext = runtime.context
            signals = live_signals(composition, state["inputs"], context.metadata.get("sample_id"),
                                   self._probe_outcome(state.get("results", {})))
            decision = await asyncio.to_thread(_decide, router, signals)
            if decision.choice not in self.targets:
                raise ValueError(f"router {router.name!r} chose {decision.choice!r}, not one of its "
                                 f"declared choices {list(self.targets)}")
            return {"route": decision}

        route.__name__ = "route"
        return route

    def _probe_outcome(self, results: Mapping[str, NodeResult]) -> dict[str, Probe]:
        if self.probe is None:
            return {}
        graph = self.branches[self.probe]
        result = GraphResult(graph=self.probe, nodes=dict(results), answer_node=graph.answer_node(),
                             intermediate_node=graph.intermediate)
        return {self.probe: Probe(ok=result.ok, logprob=result.nodes[result.answer_node].logprob,
                                  answer=result.answer_text())}

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
                elif graph.name in EXECUTOR_BRANCHES and node == EXECUTOR_BRANCHES[graph.name][1]:
                    label += f"<br/>({EXECUTOR_BRANCHES[graph.name][2]})"
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
            assert self.probe is not None  # probe nodes exist only with a probe
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
            for entry in (n for n in graph.topological_order() if not graph.parents(n)):
                edges.append(f"    {ROUTE_NODE} -.->|{choice}| {ids[entry]}")
            edges.append(f"    {ids[graph.answer_node()]} --> answer")
        return "\n".join(["flowchart TD", *shapes, *edges])


def _chosen(state: RoutedState) -> str:
    return state["route"].choice


def live_signals(composition: Composition, inputs: Mapping[str, Any], sample_id: str | None,
                 probes: Mapping[str, Probe]) -> Signals:
    """A routed graph's signals for one run: the one builder, fed the graph's checked inputs."""
    return build_signals(composition.name, composition.question, inputs, sample_id=sample_id,
                         probes=probes)


def _decide(router: Router, signals: Signals) -> RouteDecision:
    # No-op without a configured tracer provider; with one, a CHAIN span per decision.
    from opentelemetry import trace

    tracer = trace.get_tracer("skillgap")
    with tracer.start_as_current_span("router decision") as span:
        span.set_attribute("openinference.span.kind", "CHAIN")
        span.set_attribute("skillgap.router.name", router.name)
        decision = router.route(signals)
        span.set_attribute("skillgap.router.choice", decision.choice)
        if decision.score is not None:
            span.set_attribute("skillgap.router.score", float(decision.score))
        if signals.sample_id:
            span.set_attribute("skillgap.sample_id", str(signals.sample_id))
    return decision


def routed(composition: Composition, router: Router, *,
           executors: Mapping[str, Backend] | None = None) -> RoutedGraph:
    """The routed strategy for ``composition``: ``router`` picks the branch for each input.

    Example:
        >>> graph = routed(composition("rendered_text"), FallbackRouter(threshold=1.0))
        >>> print(graph.draw())   # the decision and its branches, as Mermaid
    """
    return RoutedGraph(composition, router, executors=executors)
