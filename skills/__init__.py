"""Typed skills: the ``Skill`` type, its decorator and registry, and the built-in skills."""

from ._arithmetic import read_expression, solve_expression
from ._cards import read_cards, score_blackjack
from ._counting import ObjectQuery, count_objects, list_objects
from ._formats import (
    COLOURS,
    SHAPES,
    Card,
    CardHand,
    Expression,
    Number,
    ObjectList,
    Shape,
    TextFormat,
    render_value,
)
from ._skill import (
    Image,
    ParseFailure,
    Skill,
    SkillInputError,
    as_image,
    get_skill,
    list_skills,
    output_json,
    register,
    skill,
)

__all__ = [
    "COLOURS",
    "SHAPES",
    "Card",
    "CardHand",
    "Expression",
    "Image",
    "Number",
    "ObjectList",
    "ObjectQuery",
    "ParseFailure",
    "Shape",
    "Skill",
    "SkillInputError",
    "TextFormat",
    "as_image",
    "count_objects",
    "get_skill",
    "list_objects",
    "list_skills",
    "output_json",
    "read_cards",
    "read_expression",
    "register",
    "render_value",
    "score_blackjack",
    "skill",
    "solve_expression",
]
