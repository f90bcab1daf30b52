"""User graphs: DAGs of typed skills, validation errors, graph-run input errors and drawing."""

import re
from typing import Any

import networkx as nx
import pytest
from graph_helpers import COUNTING, SCRIPT, scripted
from PIL import Image as PILImage
from pydantic import BaseModel

from skillgap import (
    GenerationRequest,
    GraphValidationError,
    ImageRef,
    Input,
    MockBackend,
    SkillGraph,
    cascaded,
    skill,
)
from skillgap.graphs import GraphInputError, GraphResult
from skillgap.skills import (
    Expression,
    Number,
    read_cards,
    read_expression,
    solve_expression,
)


@skill(name="test_graph_user_dags.add_values", register=False)
def add_values(first: Expression, second: Expression) -> Number:
    """Add the values of the two expressions."""


@skill(name="test_graph_user_dags.increment", register=False)
def increment(number: Number) -> Number:
    """Add one to the number."""


def _join_graph() -> SkillGraph:
    graph = SkillGraph("join")
    graph.add("left", read_expression, image=Input("left_image"))
    graph.add("right", read_expression, image=Input("right_image"))
    return graph.add("sum", add_values, first="left", second="right")


def _by_node(request: GenerationRequest) -> str:
    return {"left": "1+2", "right": "3*4", "sum": "15"}[request.metadata["node"]]


def test_join_of_two_parents_runs(image: PILImage.Image) -> None:
    compiled = _join_graph().compile()
    assert compiled.inputs == {"left_image": ImageRef, "right_image": ImageRef}
    backend = MockBackend(handler=_by_node)
    other = PILImage.new("RGB", (80, 80), "black")
    result = compiled.run({"left_image": image, "right_image": other}, backend)
    assert result.ok, result.error
    assert result.answer == Number(value=15)
    assert result.answer_node == "sum"
    assert result.nodes["left"].output == Expression(text="1+2")
    assert result.nodes["right"].output == Expression(text="3*4")
    assert result.calls == 3
    join_request = backend.requests[-1]
    assert join_request.metadata["node"] == "sum"
    assert join_request.messages[0].text.splitlines()[1:] == ["First: 1+2", "Second: 3*4"]
    left_uri, right_uri = (r.images[0].uri for r in backend.requests[:2])
    assert left_uri != right_uri


def test_join_waits_for_failed_parent_and_skips(image: PILImage.Image) -> None:
    def right_fails(request: GenerationRequest) -> str:
        return "oops" if request.metadata["node"] == "right" else _by_node(request)

    result = _join_graph().compile().run(
        {"left_image": image, "right_image": image}, MockBackend(handler=right_fails)
    )
    assert not result.ok
    assert result.nodes["sum"].skipped
    assert "input 'second' from node 'right' failed" in (result.error or "")
    assert result.calls == 2


def test_from_networkx_infers_edge_input_by_type(image: PILImage.Image) -> None:
    dag = nx.DiGraph()
    dag.add_node("read", skill="read_expression")
    dag.add_node("solve", skill=solve_expression)
    dag.add_edge("read", "solve")
    compiled = SkillGraph.from_networkx(dag, name="nx").compile()
    assert compiled.bindings["solve"] == {"expression": "read"}
    result = compiled.run({"image": image}, MockBackend(handler=scripted))
    assert result.answer == Number(value=11)
    assert result.graph == "nx"


def test_from_networkx_uses_edge_input_attribute(image: PILImage.Image) -> None:
    dag = nx.DiGraph()
    dag.add_node("a", skill=read_expression)
    dag.add_node("b", skill=read_expression)
    dag.add_node("sum", skill=add_values)
    dag.add_edge("a", "sum", input="second")
    dag.add_edge("b", "sum", input="first")
    compiled = SkillGraph.from_networkx(dag).compile()
    assert compiled.bindings["sum"] == {"second": "a", "first": "b"}
    assert compiled.inputs == {"image": ImageRef}  # both readers share the graph input "image"

    def answer(request: GenerationRequest) -> str:
        return {"a": "1+1", "b": "2+2", "sum": "6"}[request.metadata["node"]]

    backend = MockBackend(handler=answer)
    result = compiled.run({"image": image}, backend)
    assert result.answer == Number(value=6)
    assert backend.requests[-1].messages[0].text.splitlines()[1:] == ["First: 2+2", "Second: 1+1"]


def test_from_networkx_without_input_attribute_on_ambiguous_edge() -> None:
    dag = nx.DiGraph()
    dag.add_node("a", skill=read_expression)
    dag.add_node("sum", skill=add_values)
    dag.add_edge("a", "sum")
    with pytest.raises(GraphValidationError) as info:
        SkillGraph.from_networkx(dag).compile()
    message = str(info.value)
    assert "edge a -> sum: cannot tell which input of test_graph_user_dags.add_values" in message
    assert "['first', 'second']" in message
    assert "'input' attribute" in message


def test_from_networkx_node_without_skill() -> None:
    dag = nx.DiGraph()
    dag.add_node("lonely")
    with pytest.raises(GraphValidationError, match="node 'lonely' has no 'skill' attribute"):
        SkillGraph.from_networkx(dag)


def test_edge_type_mismatch_names_edge_and_both_types() -> None:
    graph = SkillGraph("mismatch").add("a", read_cards).add("b", solve_expression, expression="a")
    with pytest.raises(GraphValidationError) as info:
        graph.compile()
    message = str(info.value)
    assert message.startswith("edge a -> b:")
    assert "read_cards outputs CardHand" in message
    assert "solve_expression input 'expression' expects Expression" in message


def test_cycle_is_shown_as_a_path() -> None:
    dag = nx.DiGraph()
    dag.add_node("a", skill=increment)
    dag.add_node("b", skill=increment)
    dag.add_edge("a", "b")
    dag.add_edge("b", "a")
    with pytest.raises(GraphValidationError) as info:
        SkillGraph.from_networkx(dag, name="loop").compile()
    message = str(info.value)
    assert re.fullmatch(r"graph 'loop' has a cycle: (a -> b -> a|b -> a -> b)", message), message


def test_self_loop_is_a_cycle() -> None:
    graph = SkillGraph("self").add("a", increment, number="a")
    with pytest.raises(GraphValidationError, match=r"graph 'self' has a cycle: a -> a$"):
        graph.validate()


def test_nodes_may_be_added_before_their_parents() -> None:
    graph = SkillGraph("forward").add("solve", solve_expression, expression="read")
    graph.add("read", read_expression)
    assert graph.validate()["solve"] == {"expression": "read"}


def test_unknown_skill_name() -> None:
    graph = SkillGraph("unknown").add("a", "no_such_skill")
    with pytest.raises(GraphValidationError) as info:
        graph.compile()
    message = str(info.value)
    assert "node 'a': unknown skill 'no_such_skill'" in message
    assert "read_expression" in message  # lists what is registered


def test_edge_to_a_node_never_added() -> None:
    graph = SkillGraph("dangling").add("solve", solve_expression, expression="ghost")
    with pytest.raises(GraphValidationError, match="edge ghost -> solve: node 'ghost' is not in"):
        graph.validate()


def test_unknown_input_name_on_a_binding() -> None:
    graph = SkillGraph("typo").add("a", read_expression).add("b", solve_expression, expresion="a")
    with pytest.raises(GraphValidationError) as info:
        graph.validate()
    assert str(info.value) == (
        "node 'b': skill solve_expression has no input 'expresion' (inputs: expression)"
    )


def test_unknown_input_name_on_an_networkx_edge() -> None:
    dag = nx.DiGraph()
    dag.add_node("a", skill=read_expression)
    dag.add_node("b", skill=solve_expression)
    dag.add_edge("a", "b", input="formula")
    with pytest.raises(GraphValidationError) as info:
        SkillGraph.from_networkx(dag).validate()
    assert str(info.value) == (
        "edge a -> b: skill solve_expression has no input 'formula' (inputs: expression)"
    )


def test_input_fed_twice() -> None:
    dag = nx.DiGraph()
    dag.add_node("a", skill=read_expression)
    dag.add_node("b", skill=read_expression)
    dag.add_node("solve", skill=solve_expression)
    dag.add_edge("a", "solve")
    dag.add_edge("b", "solve")
    with pytest.raises(GraphValidationError) as info:
        SkillGraph.from_networkx(dag).validate()
    message = str(info.value)
    assert "node 'solve': input 'expression' is fed twice" in message
    assert "'a'" in message and "'b'" in message


def test_several_sinks_need_answer() -> None:
    def build(**kwargs: Any) -> SkillGraph:
        graph = SkillGraph("two_ends", **kwargs).add("read", read_expression)
        graph.add("solve", solve_expression, expression="read")
        return graph.add("cards", read_cards, image=Input("image"))

    with pytest.raises(GraphValidationError) as info:
        build().validate()
    message = str(info.value)
    assert "graph 'two_ends' has several final nodes ['solve', 'cards']" in message
    assert "answer=" in message
    assert build(answer="solve").compile().graph.answer_node() == "solve"


def test_answer_node_must_exist() -> None:
    graph = SkillGraph("g", answer="nowhere").add("read", read_expression)
    with pytest.raises(GraphValidationError, match="answer node 'nowhere' is not in graph 'g'"):
        graph.validate()


def test_empty_graph_and_duplicate_node() -> None:
    with pytest.raises(GraphValidationError, match="graph 'empty' has no nodes"):
        SkillGraph("empty").validate()
    graph = SkillGraph("dup").add("a", read_expression)
    with pytest.raises(GraphValidationError, match="node 'a' is already in graph 'dup'"):
        graph.add("a", read_cards)


def test_missing_graph_input_lists_what_is_needed(image: PILImage.Image) -> None:
    compiled = cascaded(COUNTING).compile()
    with pytest.raises(GraphInputError) as info:
        compiled.run({"image": image}, MockBackend(handler=scripted))
    message = str(info.value)
    assert "graph 'cascaded' is missing input(s) 'query'" in message
    assert "needs image: ImageRef, query: Literal['red'," in message


@pytest.mark.parametrize("value", [42, "hello", b"png"])
def test_non_image_for_a_vision_graph_input(value: Any) -> None:
    backend = MockBackend(handler=scripted)
    with pytest.raises(GraphInputError) as info:
        cascaded(COUNTING).compile().run({"image": value, "query": "red"}, backend)
    message = str(info.value)
    assert "graph 'cascaded' input 'image' expects an image" in message
    assert type(value).__name__ in message
    assert backend.requests == []


def test_bad_literal_graph_input_names_input_and_choices(image: PILImage.Image) -> None:
    with pytest.raises(GraphInputError) as info:
        cascaded(COUNTING).compile().run({"image": image, "query": "purple"}, MockBackend(outputs=[]))
    message = str(info.value)
    assert "graph 'cascaded' input 'query' expects Literal['red'," in message


def test_bad_literal_graph_input_says_what_was_wrong(image: PILImage.Image) -> None:
    with pytest.raises(GraphInputError) as info:
        cascaded(COUNTING).compile().check_inputs({"image": image, "query": "purple"})
    message = str(info.value)
    assert "errors.pydantic.dev" not in message
    assert "Input should be 'red'" in message


def test_bad_text_form_graph_input() -> None:
    compiled = SkillGraph("solve_only").add("solve", solve_expression).compile()
    with pytest.raises(GraphInputError) as info:
        compiled.check_inputs({"expression": "3 + 4"})
    message = str(info.value)
    assert "graph 'solve_only' input 'expression' expects Expression" in message
    assert "'3 + 4' does not match Expression pattern" in message
    assert compiled.check_inputs({"expression": "3+4"}) == {"expression": Expression(text="3+4")}


def test_text_only_graph_runs_on_text_input() -> None:
    compiled = SkillGraph("solve_only").add("solve", solve_expression).compile()
    backend = MockBackend(outputs=["7"])
    result = compiled.run({"expression": "3+4"}, backend)
    assert result.answer == Number(value=7)
    assert backend.requests[0].images == []


def test_draw_is_mermaid_with_nodes_skills_and_edge_labels() -> None:
    text = _join_graph().draw()
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    for expected in (
        'in0(["left_image: ImageRef"])',
        'in1(["right_image: ImageRef"])',
        "left<br/>read_expression: Expression",
        "right<br/>read_expression: Expression",
        "sum<br/>test_graph_user_dags.add_values: Number",
    ):
        assert expected in text, expected
    edges = [line.strip() for line in lines if "-->" in line]
    ids = {name: re.search(rf'(n\d)\["{name}<br/>', text).group(1)  # type: ignore[union-attr]
           for name in ("left", "right", "sum")}
    assert f"{ids['left']} -->|first| {ids['sum']}" in edges
    assert f"{ids['right']} -->|second| {ids['sum']}" in edges
    assert f"in0 -->|image| {ids['left']}" in edges
    assert f"in1 -->|image| {ids['right']}" in edges
    assert len(edges) == 4


def test_draw_validates_first() -> None:
    graph = SkillGraph("mismatch").add("a", read_cards).add("b", solve_expression, expression="a")
    with pytest.raises(GraphValidationError, match="edge a -> b"):
        graph.draw()


def _walk(value: Any) -> list[Any]:
    """Every value reachable through pydantic models, dicts and sequences."""
    found = [value]
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found += _walk(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            found += _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found += _walk(item)
    return found


@pytest.mark.parametrize("strategy_name", ["direct", "cascaded", "cot"])
def test_requests_and_results_carry_image_references_not_pixels(
    strategy_name: str, image: PILImage.Image
) -> None:
    from skillgap import strategy

    backend = MockBackend(handler=scripted)
    compiled = strategy(strategy_name, COUNTING).compile()
    checked = compiled.check_inputs({"image": image, "query": "red"})
    assert isinstance(checked["image"], ImageRef)
    assert checked["image"].uri.startswith("mem://")

    result = compiled.run({"image": image, "query": "red"}, backend)
    assert isinstance(result, GraphResult)
    assert result.ok, result.error
    images = [ref for request in backend.requests for ref in request.images]
    assert len(images) == 1
    assert all(type(ref) is ImageRef for ref in images)
    assert images[0].uri.startswith("mem://")
    assert images[0].load().size == (80, 80)
    pixels = [v for v in _walk(result) if type(v).__module__.startswith("PIL")]
    assert pixels == []


def test_data_uri_input_stays_a_reference(image: PILImage.Image) -> None:
    data_uri = ImageRef.from_pil(image).data_uri()
    backend = MockBackend(handler=scripted)
    cascaded(COUNTING).compile().run({"image": data_uri, "query": "red"}, backend)
    (ref,) = backend.requests[0].images
    assert type(ref) is ImageRef
    assert ref.uri == data_uri
    assert SCRIPT["list_objects"] in backend.requests[1].messages[0].text
