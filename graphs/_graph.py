"""User graphs: any DAG of typed skills, type-checked before anything runs.

A node runs one skill. Each skill input is fed either by another node's output (an edge) or by a
graph input of the same name (or the name given with ``Input``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from ..skills._skill import Skill, _type_name, get_skill

if TYPE_CHECKING:
    from ..backends._types import Backend
    from ._compiled import CompiledGraph


class GraphValidationError(ValueError):
    """The graph cannot run: the message names the node or edge and what is wrong."""


@dataclass(frozen=True)
class Input:
    """Feed a skill input from the graph input ``name`` (by default inputs feed by their own name)."""

    name: str


class SkillGraph:
    """A builder for DAGs of skills.

    Example:
        >>> g = SkillGraph("sum_in_image")
        >>> g.add("read", read_expression)
        >>> g.add("solve", solve_expression, expression="read")
        >>> compiled = g.compile()  # validates: unknown skills, cycles, edge types
    """

    def __init__(self, name: str = "graph", *, answer: str | None = None,
                 intermediate: str | None = None):
        self.name = name
        self.answer = answer
        self.intermediate = intermediate
        self._graph = nx.DiGraph()
        self._bindings: dict[str, dict[str, str | Input]] = {}

    def add(self, node: str, skill: Skill | str, /, **inputs: str | Input) -> SkillGraph:
        """Add a node running ``skill``; keyword arguments bind inputs to nodes (by name) or
        to graph inputs (``Input("name")``). Returns the graph, so calls chain."""
        if node in self._bindings:
            raise GraphValidationError(f"node {node!r} is already in graph {self.name!r}")
        self._graph.add_node(node, skill=skill)
        self._bindings[node] = dict(inputs)
        for param, source in inputs.items():
            if isinstance(source, str):
                self._graph.add_edge(source, node, input=param)
        return self

    @classmethod
    def from_networkx(
        cls, graph: nx.DiGraph, name: str = "graph", *, answer: str | None = None
    ) -> SkillGraph:
        """Nodes carry ``skill`` (a Skill or a registered name); an edge ``u -> v`` may name the
        input of ``v`` it feeds with ``input``, else the one input whose type matches."""
        built = cls(name, answer=answer)
        for node, data in graph.nodes(data=True):
            if "skill" not in data:
                raise GraphValidationError(f"node {node!r} has no 'skill' attribute")
            built._graph.add_node(node, skill=data["skill"])
            built._bindings[node] = {}
        for source, target, data in graph.edges(data=True):
            built._graph.add_edge(source, target, input=data.get("input"))
        return built

    @property
    def nodes(self) -> list[str]:
        return list(self._graph.nodes)

    def skill_of(self, node: str) -> Skill:
        skill = self._graph.nodes[node]["skill"]
        if isinstance(skill, Skill):
            return skill
        try:
            return get_skill(skill)
        except KeyError as exc:
            raise GraphValidationError(f"node {node!r}: {exc.args[0]}") from None

    def validate(self) -> dict[str, dict[str, str | Input]]:
        """Check the graph and return each node's resolved bindings (input -> node or Input)."""
        for source, target in self._graph.edges:
            for end in (source, target):
                if self._graph.nodes[end].get("skill") is None:
                    raise GraphValidationError(
                        f"edge {source} -> {target}: node {end!r} is not in graph {self.name!r}"
                    )
        if not self._graph.nodes:
            raise GraphValidationError(f"graph {self.name!r} has no nodes")
        skills = {node: self.skill_of(node) for node in self._graph.nodes}
        try:
            cycle = nx.find_cycle(self._graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            path = " -> ".join([cycle[0][0], *(edge[1] for edge in cycle)])
            raise GraphValidationError(f"graph {self.name!r} has a cycle: {path}")

        resolved: dict[str, dict[str, str | Input]] = {}
        for node, skill in skills.items():
            bound: dict[str, str | Input] = {}
            for param, source in self._bindings[node].items():
                if param not in skill.inputs:
                    raise GraphValidationError(
                        f"node {node!r}: skill {skill.name} has no input {param!r} "
                        f"(inputs: {', '.join(skill.inputs)})"
                    )
                bound[param] = source
            for source, _, data in self._graph.in_edges(node, data=True):
                param = data.get("input") or self._infer_input(source, node, skills)
                if param not in skill.inputs:
                    raise GraphValidationError(
                        f"edge {source} -> {node}: skill {skill.name} has no input {param!r} "
                        f"(inputs: {', '.join(skill.inputs)})"
                    )
                if param in bound and bound[param] != source:
                    raise GraphValidationError(
                        f"node {node!r}: input {param!r} is fed twice "
                        f"(by {bound[param]!r} and {source!r})"
                    )
                produced, expected = skills[source].output, skill.inputs[param]
                if not _compatible(produced, expected):
                    raise GraphValidationError(
                        f"edge {source} -> {node}: {skills[source].name} outputs "
                        f"{_type_name(produced)}, but {skill.name} input {param!r} expects "
                        f"{_type_name(expected)}"
                    )
                bound[param] = source
            for param in skill.inputs:
                bound.setdefault(param, Input(param))
            resolved[node] = bound
        for role, node_name in (("answer", self.answer), ("intermediate", self.intermediate)):
            if node_name is not None and node_name not in skills:
                raise GraphValidationError(f"{role} node {node_name!r} is not in graph {self.name!r}")
        if self.answer is None and len(self.sinks()) != 1:
            raise GraphValidationError(
                f"graph {self.name!r} has several final nodes {self.sinks()}; "
                "name the one that gives the answer with SkillGraph(..., answer=NODE)"
            )
        return resolved

    def _infer_input(self, source: str, target: str, skills: Mapping[str, Skill]) -> str:
        produced = skills[source].output
        candidates = [n for n, tp in skills[target].inputs.items() if _compatible(produced, tp)]
        if len(candidates) != 1:
            raise GraphValidationError(
                f"edge {source} -> {target}: cannot tell which input of {skills[target].name} "
                f"takes {_type_name(produced)} (candidates: {candidates or 'none'}); "
                "set the edge's 'input' attribute"
            )
        return candidates[0]

    def sinks(self) -> list[str]:
        return [node for node in self._graph.nodes if self._graph.out_degree(node) == 0]

    def answer_node(self) -> str:
        return self.answer or self.sinks()[0]

    def graph_inputs(
        self, bindings: Mapping[str, Mapping[str, str | Input]] | None = None
    ) -> dict[str, Any]:
        """Graph input name -> expected type, over all nodes (``bindings`` from ``validate()``)."""
        wanted: dict[str, Any] = {}
        for node, bound in (bindings or self.validate()).items():
            skill = self.skill_of(node)
            for param, source in bound.items():
                if isinstance(source, Input):
                    wanted.setdefault(source.name, skill.inputs[param])
        return wanted

    def topological_order(self) -> list[str]:
        return list(nx.topological_sort(self._graph))

    def parents(self, node: str) -> list[str]:
        return list(self._graph.predecessors(node))

    def draw(self) -> str:
        """Mermaid flowchart text: graph inputs, nodes with their skill signatures, typed edges."""
        bindings = self.validate()
        order = self.topological_order()
        ids = {node: f"n{i}" for i, node in enumerate(order)}
        input_ids: dict[str, str] = {}
        shapes, edges = [], []
        for node in order:
            skill = self.skill_of(node)
            label = f"{node}<br/>{skill.name}: {_type_name(skill.output)}"
            shapes.append(f'    {ids[node]}["{_escape(label)}"]')
            for param, source in bindings[node].items():
                if isinstance(source, Input):
                    if source.name not in input_ids:
                        input_ids[source.name] = key = f"in{len(input_ids)}"
                        tp = _escape(_type_name(skill.inputs[param]))
                        shapes.insert(len(input_ids) - 1, f'    {key}(["{source.name}: {tp}"])')
                    edges.append(f"    {input_ids[source.name]} -->|{param}| {ids[node]}")
                else:
                    edges.append(f"    {ids[source]} -->|{param}| {ids[node]}")
        return "\n".join(["flowchart TD", *shapes, *edges])

    def compile(self, *, executors: Mapping[str, Backend] | None = None) -> CompiledGraph:
        """Validate and compile to a LangGraph graph; ``executors`` maps nodes to backends that
        run them instead of the run's model (tools, e.g. OCR)."""
        from ._compiled import CompiledGraph

        return CompiledGraph(self, self.validate(), executors=executors)


def _compatible(produced: Any, expected: Any) -> bool:
    if produced is expected or expected is Any:
        return True
    return isinstance(produced, type) and isinstance(expected, type) and issubclass(produced, expected)


def _escape(text: str) -> str:
    return text.replace('"', "#quot;")
