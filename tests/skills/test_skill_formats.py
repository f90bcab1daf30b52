"""Text-form output types: evaluation, counting, scoring, round trips and invalid codes."""

import re

import pytest
from pydantic import ValidationError

from skillgap.skills import Card, CardHand, Expression, Number, ObjectList, Shape, render_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3+4", 7),
        ("3+4*2", 11),  # * binds tighter than +
        ("2*3-4*5", -14),  # negative result
        ("2-3*4", -10),
        ("10-2-3", 5),  # left associative
        ("1-2-3", -4),
        ("8/2/2", 2),
        ("2+6/3*4", 10),
        ("100*100-1", 9999),
    ],
)
def test_expression_evaluate_uses_precedence(text: str, expected: int) -> None:
    assert Expression(text=text).evaluate() == expected


@pytest.mark.parametrize("text", ["7/2", "5/0", "1+3/2"])
def test_expression_evaluate_rejects_non_integer_division(text: str) -> None:
    with pytest.raises(ValueError, match="non-integer division"):
        Expression(text=text).evaluate()


@pytest.mark.parametrize("text", ["3 + 4", "3", "3+", "+3+4", "1+2+3+4+5+6+7", "1000+1", "3x4"])
def test_expression_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="expression"):
        Expression(text=text)
    with pytest.raises(ValueError):
        Expression.parse(text)


def test_object_list_counts_by_colour_and_shape() -> None:
    objects = ObjectList.parse("RC RS GC BT RT")
    assert objects.count("red") == 3
    assert objects.count("green") == 1
    assert objects.count("blue") == 1
    assert objects.count("yellow") == 0
    assert objects.count("circle") == 2
    assert objects.count("square") == 1
    assert objects.count("triangle") == 2
    assert objects.count("purple") == 0


def test_object_list_items_are_typed_shapes() -> None:
    objects = ObjectList.parse("  YS GT ")
    assert objects.objects == (Shape(colour="Y", shape="S"), Shape(colour="G", shape="T"))
    assert ObjectList.from_codes("YS GT") == objects


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ("5H 7S", 12),
        ("AH KS", 21),  # ace counts 11
        ("AH AS", 12),  # one ace 11, the other 1
        ("AH AS 9C", 21),  # 11 + 1 + 9
        ("AH 9C KD", 20),  # ace must count 1: 1 + 9 + 10
        ("TC JD QH", 30),  # faces count 10, bust stays as is
        ("AH AD AC AS 7H", 21),  # 11 + 1 + 1 + 1 + 7
        ("2C 3D 4H 5S 6C 7D", 27),
    ],
)
def test_card_hand_blackjack_value(codes: str, expected: int) -> None:
    assert CardHand.parse(codes).blackjack_value() == expected


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (Number, "42"),
        (Number, "-7"),
        (Expression, "12*3-4/2"),
        (ObjectList, "RC BS GT YC"),
        (CardHand, "7H KS TC AD"),
    ],
)
def test_round_trip_parse_and_render(cls: type, text: str) -> None:
    value = cls.parse(text)
    assert value.render() == text
    assert str(value) == text
    assert render_value(value) == text
    assert cls.parse(value.render()) == value


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (Number, "12345"),
        (Number, "1.5"),
        (Number, "seven"),
        (ObjectList, "XC"),
        (ObjectList, "RX"),
        (ObjectList, "rc"),
        (ObjectList, "RC,GS"),
        (ObjectList, " ".join(["RC"] * 10)),
        (CardHand, "10H"),
        (CardHand, "1H"),
        (CardHand, "7X"),
        (CardHand, " ".join(["7H"] * 7)),
        (CardHand, ""),
    ],
)
def test_parse_rejects_invalid_codes(cls: type, text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(cls.__name__)):
        cls.parse(text)


def test_shape_and_card_reject_unknown_codes() -> None:
    with pytest.raises(ValidationError, match="unknown colour code 'X'"):
        Shape(colour="X", shape="C")
    with pytest.raises(ValidationError, match="unknown shape code 'Q'"):
        Shape(colour="R", shape="Q")
    with pytest.raises(ValidationError, match="unknown rank '1'"):
        Card(rank="1", suit="H")
    with pytest.raises(ValidationError, match="unknown suit 'X'"):
        Card(rank="7", suit="X")


def test_lists_need_at_least_one_item() -> None:
    with pytest.raises(ValidationError):
        ObjectList(objects=())
    with pytest.raises(ValidationError):
        CardHand(cards=())
