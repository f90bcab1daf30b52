"""A validated skill graph compiled to LangGraph, with per-node results and run context."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..backends._types import Backend, ImageRef
from ..skills._formats import render_value
from ..skills._skill import ParseFailure, SkillInputError, _type_name, as_image
from ..telemetry import _spans as spans
from ._composition import ChainOfThought
from ._graph import GraphValidationError, Input

if TYPE_CHECKING:
    from ._graph import SkillGraph


class GraphInputError(ValueError):
    """Inputs given to a graph run are missing or of the wrong kind."""


class NodeResult(BaseModel):
    """What one node produced: the typed output, or why there is none."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    node: str
    skill: str
    output: Any = None
    raw: str | None = None
    error: str | None = None
    parse_failure: bool = False
    skipped: bool = False
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    logprob: float | None = None
    called: bool = False
    #: The replica that answered (see ``Generation.served_by``).
    served_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class GraphResult(BaseModel):
    """Every node's result and the graph's answer (CoT answers are unwrapped)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    graph: str
    nodes: dict[str, NodeResult]
    answer_node: str
    intermediate_node: str | None = None
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.nodes[self.answer_node].ok

    @property
    def answer(self) -> Any:
        output = self.nodes[self.answer_node].output
        return output.answer if isinstance(output, ChainOfThought) else output

    @property
    def intermediate(self) -> Any:
        if self.intermediate_node is not None:
            return self.nodes[self.intermediate_node].output
        output = self.nodes[self.answer_node].output
        return output.parsed_reasoning() if isinstance(output, ChainOfThought) else None

    @property
    def error(self) -> str | None:
        return self.nodes[self.answer_node].error

    @property
    def raw(self) -> str | None:
        return self.nodes[self.answer_node].raw

    @property
    def parse_failure(self) -> bool:
        """True when the answer failed only because the model's text did not parse."""
        return any(result.parse_failure for result in self.nodes.values())

    @property
    def calls(self) -> int:
        return sum(result.called for result in self.nodes.values())

    @property
    def input_tokens(self) -> int:
        return sum(result.input_tokens for result in self.nodes.values())

    @property
    def output_tokens(self) -> int:
        return sum(result.output_tokens for result in self.nodes.values())

    def answer_text(self) -> str | None:
        return None if self.answer is None else render_value(self.answer)


def _merge(left: dict[str, NodeResult], right: dict[str, NodeResult]) -> dict[str, NodeResult]:
    return {**left, **right}


class GraphState(TypedDict, total=False):
    """Only references and small values: images stay ``ImageRef``s, never pixels."""

    inputs: dict[str, Any]
    results: Annotated[dict[str, NodeResult], _merge]


@dataclass
class RunContext:
    """Per-run things that nodes need and that are not state: the model and decoding settings."""

    backend: Backend
    constrained: bool = True
    temperature: float = 0.0
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class GraphRunner:
    """``arun``/``run``/``abatch`` of a compiled LangGraph graph; subclasses set ``name`` and
    ``langgraph`` and say how inputs are checked and how a final state becomes a result."""

    name: str
    langgraph: Any

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _result(self, state: dict[str, Any], latency_s: float) -> GraphResult:
        raise NotImplementedError

    async def arun(
        self,
        inputs: Mapping[str, Any],
        backend: Backend,
        *,
        constrained: bool = True,
        temperature: float = 0.0,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> GraphResult:
        """Run the graph on one set of inputs."""
        checked = self.check_inputs(inputs)
        context = RunContext(backend, constrained, temperature, seed, dict(metadata or {}))
        started = time.perf_counter()
        with spans.graph_span(self.name, checked, context.metadata) as span:
            state = await self.langgraph.ainvoke({"inputs": checked, "results": {}}, context=context)
            result = self._result(state, time.perf_counter() - started)
            spans.finish_graph(span, result)
        return result

    def run(self, inputs: Mapping[str, Any], backend: Backend, **settings: Any) -> GraphResult:
        """Synchronous ``arun``; inside a running event loop (Jupyter) it runs on a worker thread."""
        from ..backends._sync import run_sync

        return run_sync(self.arun(inputs, backend, **settings))

    async def abatch(
        self,
        batch: Sequence[Mapping[str, Any]],
        backend: Backend,
        *,
        concurrency: int = 64,
        **settings: Any,
    ) -> list[GraphResult]:
        """Run many inputs concurrently; a batching backend coalesces their model calls."""
        gate = asyncio.Semaphore(concurrency)

        async def one(inputs: Mapping[str, Any]) -> GraphResult:
            async with gate:
                return await self.arun(inputs, backend, **settings)

        return list(await asyncio.gather(*(one(inputs) for inputs in batch)))


class CompiledGraph(GraphRunner):
    """A runnable skill graph. Build it with ``SkillGraph.compile()`` or a strategy function."""

    def __init__(self, graph: SkillGraph, bindings: Mapping[str, Mapping[str, str | Input]], *,
                 executors: Mapping[str, Backend] | None = None):
        from langgraph.graph import END, START, StateGraph

        self.graph = graph
        self.name = graph.name
        # node -> a backend that runs it instead of the run's model (a tool such as Tesseract OCR);
        # its calls are not model calls.
        self.executors = dict(executors or {})
        self.bindings = {node: dict(bound) for node, bound in bindings.items()}
        self.inputs = graph.graph_inputs(self.bindings)
        builder = StateGraph(GraphState, context_schema=RunContext)
        for node in graph.topological_order():
            builder.add_node(node, self._node(node))
            parents = graph.parents(node)
            if not parents:
                builder.add_edge(START, node)
            elif len(parents) == 1:
                builder.add_edge(parents[0], node)
            else:  # a join: wait for every parent
                builder.add_edge(parents, node)
        for node in graph.sinks():
            builder.add_edge(node, END)
        self.langgraph = builder.compile(name=graph.name)

    def draw(self) -> str:
        return self.graph.draw()

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Coerce graph inputs; missing inputs and wrong kinds are ``GraphInputError``s."""
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            needed = ", ".join(f"{n}: {_type_name(t)}" for n, t in self.inputs.items())
            raise GraphInputError(
                f"graph {self.name!r} is missing input(s) {', '.join(map(repr, missing))} "
                f"(needs {needed})"
            )
        checked: dict[str, Any] = {}
        for name, expected in self.inputs.items():
            value = inputs[name]
            try:
                if expected is ImageRef:
                    checked[name] = as_image(value, where=f"graph {self.name!r} input {name!r}")
                elif isinstance(value, str) and hasattr(expected, "parse"):
                    checked[name] = expected.parse(value)
                else:
                    checked[name] = TypeAdapter(expected).validate_python(value)
            except SkillInputError as exc:
                raise GraphInputError(str(exc)) from None
            except ValidationError as exc:
                reason = "; ".join(error["msg"] for error in exc.errors())
                raise GraphInputError(
                    f"graph {self.name!r} input {name!r} expects {_type_name(expected)}, "
                    f"got {value!r}: {reason}"
                ) from None
            except ValueError as exc:
                reason = str(exc).splitlines()[0]
                raise GraphInputError(
                    f"graph {self.name!r} input {name!r} expects {_type_name(expected)}: {reason}"
                ) from None
        return checked

    def _result(self, state: dict[str, Any], latency_s: float) -> GraphResult:
        return GraphResult(
            graph=self.name,
            nodes=state["results"],
            answer_node=self.graph.answer_node(),
            intermediate_node=self.graph.intermediate,
            latency_s=latency_s,
        )

    def _node(self, node: str) -> Any:
        skill = self.graph.skill_of(node)
        bound = self.bindings[node]

        async def run_node(state: GraphState, runtime: Any) -> dict[str, Any]:
            with spans.node_span(self.name, node, skill.name, skill.modality) as span:
                update = await run_skill(state, runtime)
                spans.finish_node(span, update["results"][node])
                return update

        async def run_skill(state: GraphState, runtime: Any) -> dict[str, Any]:
            context: RunContext = runtime.context
            results = state.get("results", {})
            values: dict[str, Any] = {}
            for param, source in bound.items():
                if isinstance(source, Input):
                    values[param] = state["inputs"][source.name]
                    continue
                upstream = results[source]
                if not upstream.ok:
                    return _done(node, skill.name, error=f"skipped: input {param!r} from node "
                                 f"{source!r} failed", skipped=True)
                values[param] = upstream.output
            spans.node_input(values)
            request = skill.request(
                values,
                constrained=context.constrained,
                temperature=context.temperature,
                seed=context.seed,
                metadata={"node": node, "graph": self.name, **context.metadata},
            )
            backend = self.executors.get(node, context.backend)
            model_call = node not in self.executors
            try:
                with spans.model_call(request, backend) as call:
                    generation = (await backend.generate([request]))[0]
                    call.done(generation)
            except Exception as exc:  # a failed call is this sample's error, not the run's
                return _done(node, skill.name, error=f"backend error: {type(exc).__name__}: {exc}",
                             called=model_call)
            usage = {
                "raw": generation.text,
                "latency_s": generation.latency_s,
                "input_tokens": generation.input_tokens,
                "output_tokens": generation.output_tokens,
                "logprob": generation.logprob,
                "called": model_call,
                "served_by": generation.served_by,
            }
            if generation.error is not None:
                return _done(node, skill.name, error=f"model error: {generation.error}", **usage)
            parsed = skill.parse(generation.text)
            if isinstance(parsed, ParseFailure):
                return _done(node, skill.name, error=f"unparseable output: {parsed.reason}",
                             parse_failure=True, **usage)
            return _done(node, skill.name, output=parsed, **usage)

        run_node.__name__ = f"node_{node}"
        return run_node


def _done(node: str, skill: str, **fields: Any) -> dict[str, Any]:
    return {"results": {node: NodeResult(node=node, skill=skill, **fields)}}


__all__ = [
    "CompiledGraph",
    "GraphInputError",
    "GraphResult",
    "GraphState",
    "GraphValidationError",
    "NodeResult",
    "RunContext",
]
