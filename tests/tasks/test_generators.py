"""Task generators: determinism, gold labels checked independently, and what the grid images show."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pytest

from skillgap.skills._formats import CardHand, Expression, ObjectList
from skillgap.tasks import TASKS, builtin_task_names
from skillgap.tasks._generators import LAYOUTS, generate, knob_defaults

TASK_NAMES = ("rendered_text", "counting", "cards")
CELL = 16


def _bytes(samples):
    return [s.image.read_bytes() for s in samples]


def _pixels(sample) -> np.ndarray:
    return np.asarray(sample.image.load(), dtype=np.int32)


def _cell(pixels: np.ndarray, cell: int) -> np.ndarray:
    row, col = divmod(cell, 5)
    return pixels[row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL]


def _ink(cell: np.ndarray) -> np.ndarray:
    """Pixels that are clearly not background."""
    return cell.min(axis=2) < 200


def _pattern(cell: np.ndarray) -> bytes:
    """The cell's content cropped to its ink: equal for the same glyph whatever the jitter."""
    ink = cell.min(axis=2) < 255
    rows, cols = np.nonzero(ink)
    return cell[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].tobytes()


# ---------------------------------------------------------------- independent reference answers


def _eval_expression(text: str) -> int:
    """Recursive-descent evaluation with the usual precedence (independent of the generator)."""
    tokens = re.findall(r"\d+|[-+*/]", text)
    assert "".join(tokens) == text
    pos = 0

    def number() -> int:
        nonlocal pos
        value = int(tokens[pos])
        pos += 1
        return value

    def term() -> int:
        nonlocal pos
        value = number()
        while pos < len(tokens) and tokens[pos] in "*/":
            op = tokens[pos]
            pos += 1
            right = number()
            if op == "*":
                value *= right
            else:
                assert right != 0 and value % right == 0, f"inexact division in {text}"
                value //= right
        return value

    value = term()
    while pos < len(tokens):
        op = tokens[pos]
        pos += 1
        value = value + term() if op == "+" else value - term()
    return value


def _blackjack(codes: list[str]) -> int:
    best = None
    values = []
    for code in codes:
        rank = code[0]
        values.append([1, 11] if rank == "A" else [10] if rank in "TJQK" else [int(rank)])
    # Enumerate every ace assignment and keep the best total that does not bust.
    totals = {0}
    for options in values:
        totals = {t + o for t in totals for o in options}
    under = [t for t in totals if t <= 21]
    best = max(under) if under else min(totals)
    return best


_COLOUR_NAMES = {"R": "red", "G": "green", "B": "blue", "Y": "yellow"}
_SHAPE_NAMES = {"C": "circle", "S": "square", "T": "triangle"}


def _recount(listing: str, query: str) -> int:
    return sum(
        _COLOUR_NAMES[code[0]] == query or _SHAPE_NAMES[code[1]] == query for code in listing.split(" ")
    )


def test_reference_helpers():
    assert _eval_expression("3+4-2") == 5
    assert _eval_expression("2+3*4-8/2") == 10
    assert _blackjack(["AH", "KS"]) == 21
    assert _blackjack(["AH", "AS", "9C"]) == 21
    assert _blackjack(["KH", "QS", "5C"]) == 25
    assert _recount("RC BS RT", "red") == 2
    assert _recount("RC BS RT", "square") == 1


# ---------------------------------------------------------------- registry and determinism


def test_registry_lists_the_three_tasks():
    assert builtin_task_names() == list(TASK_NAMES)
    assert list(TASKS)[:3] == list(TASK_NAMES)  # built-ins first, then any user task
    for name in TASK_NAMES:
        assert TASKS[name].name == name == TASKS[name].composition.name


@pytest.mark.parametrize("module", ["counting", "cards", "rendered_text", "_generators"])
def test_task_modules_import_on_their_own(module):
    code = (
        f"import skillgap.tasks.{module}; from skillgap.tasks._generators import generate; "
        "assert len(generate('cards', 2)) == 2"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_deterministic_and_prefix_stable(task, layout):
    first = generate(task, 12, seed=3, layout=layout)
    first_bytes = _bytes(first)
    again = generate(task, 12, seed=3, layout=layout)
    assert again == first
    assert _bytes(again) == first_bytes
    longer = generate(task, 20, seed=3, layout=layout)
    assert longer[:12] == first
    assert _bytes(longer[:12]) == first_bytes
    other = generate(task, 12, seed=4, layout=layout)
    assert [s.intermediate for s in other] != [s.intermediate for s in first]
    assert _bytes(other) != first_bytes
    assert not {s.id for s in other} & {s.id for s in first}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_ids_and_difficulty(task, layout):
    samples = generate(task, 5, seed=7, layout=layout)
    for index, sample in enumerate(samples):
        assert sample.id == f"{task}-s7-{index:06d}"
        assert sample.image_id == sample.id
        assert sample.task == task
        assert layout in sample.image.uri and sample.id in sample.image.uri
        assert sample.difficulty["layout"] == layout
        assert sample.difficulty["knobs"].keys() == knob_defaults(task, layout).keys()
        assert "noise" in sample.difficulty
    assert generate(task, 0, layout=layout) == []


def test_images_of_other_suites_are_not_overwritten():
    small = generate("counting", 4, seed=0, n_objects=1)
    small_bytes = _bytes(small)
    large = generate("counting", 4, seed=0, n_objects=9)
    free = generate("counting", 4, seed=0, layout="free")
    assert _bytes(small) == small_bytes
    uris = {s.image.uri for s in small + large + free}
    assert len(uris) == 12


# ---------------------------------------------------------------- gold labels


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rendered_text_labels(layout):
    for sample in generate("rendered_text", 200, seed=1, layout=layout):
        text = sample.intermediate
        assert " " not in text
        assert Expression.parse(text).text == text
        assert sample.answer == str(_eval_expression(text))
        assert int(sample.answer) >= 0  # allow_negative defaults to False
        assert sample.question == "What is the result of the expression in the image?"
        assert sample.inputs == {}
        numbers = re.findall(r"\d+", text)
        assert sample.difficulty["n_operands"] == len(numbers)
        if layout == "grid":
            assert 2 <= len(numbers) <= 3
            assert all(len(n) == 1 for n in numbers)
            assert set(re.sub(r"\d", "", text)) <= {"+", "-"}


def test_rendered_text_harder_knobs():
    samples = generate(
        "rendered_text",
        200,
        seed=2,
        layout="free",
        ops="+-*/",
        n_operands=(3, 6),
        allow_negative=True,
        max_operand=999,
    )
    for sample in samples:
        assert sample.answer == str(_eval_expression(sample.intermediate))
        assert abs(int(sample.answer)) <= 9999
        assert 3 <= sample.difficulty["n_operands"] <= 6
    assert any("/" in s.intermediate for s in samples)
    assert any(int(s.answer) < 0 for s in samples)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_counting_labels(layout):
    samples = generate("counting", 300, seed=1, layout=layout)
    colour_queries = 0
    for sample in samples:
        listing, query = sample.intermediate, sample.inputs["query"]
        assert ObjectList.parse(listing).render() == listing
        assert sample.inputs == {"query": query}
        assert sample.answer == str(_recount(listing, query))
        if query in _COLOUR_NAMES.values():
            colour_queries += 1
            assert sample.question == f"How many {query} objects are in the image?"
        else:
            assert query in _SHAPE_NAMES.values()
            assert sample.question == f"How many {query} objects are in the image?"
        codes = listing.split(" ")
        assert sample.difficulty["n_objects"] == len(codes)
        if layout == "grid":
            assert 1 <= len(codes) <= 9
            assert all(code[0] in "RGB" for code in codes)
    assert colour_queries > 0.6 * len(samples)
    assert len({s.answer for s in samples}) >= 5


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cards_labels(layout):
    for sample in generate("cards", 300, seed=1, layout=layout):
        codes = sample.intermediate.split(" ")
        assert CardHand.parse(sample.intermediate).render() == sample.intermediate
        assert len(set(codes)) == len(codes), "a hand never repeats a card"
        assert sample.answer == str(_blackjack(codes))
        assert sample.question == "What is the blackjack value of this hand?"
        assert sample.inputs == {}
        if layout == "grid":
            assert 2 <= len(codes) <= 3


# ---------------------------------------------------------------- what the grid images show


def test_rendered_text_grid_images():
    patterns: dict[str, set[bytes]] = {}
    for sample in generate("rendered_text", 150, seed=5):
        pixels = _pixels(sample)
        assert pixels.shape == (80, 80, 3)
        text = sample.intermediate
        for cell in range(25):
            content = _cell(pixels, cell)
            if cell < len(text):
                assert _ink(content).sum() >= 3, f"cell {cell} of {text!r} is blank"
                # Dark glyphs: no colour.
                assert (content.max(axis=2) - content.min(axis=2)).max() < 10
                patterns.setdefault(text[cell], set()).add(_pattern(content))
            else:
                assert (content == 255).all(), f"cell {cell} of {text!r} is not blank"
    # One glyph per character (whatever the jitter) and different characters look different.
    assert all(len(p) == 1 for p in patterns.values()), {c: len(p) for c, p in patterns.items()}
    drawn = [next(iter(p)) for p in patterns.values()]
    assert len(set(drawn)) == len(drawn)
    assert set(patterns) == set("0123456789+-")


def _colour_code(content: np.ndarray) -> str:
    ink = content[_ink(content)].mean(axis=0)
    r, g, b = ink
    if r > 150 and g > 120 and b < 80:
        return "Y"
    return "RGB"[int(np.argmax(ink))]


def _shape_code(content: np.ndarray) -> str:
    ink = content.min(axis=2) < 128
    rows, cols = np.nonzero(ink)
    fill = ink.sum() / ((np.ptp(rows) + 1) * (np.ptp(cols) + 1))
    # A square fills its bounding box, a circle about pi/4 of it, a triangle about half.
    return "S" if fill > 0.92 else "C" if fill > 0.66 else "T"


def test_counting_grid_images():
    for sample in generate("counting", 150, seed=5):
        pixels = _pixels(sample)
        assert pixels.shape == (80, 80, 3)
        codes = sample.intermediate.split(" ")
        for cell in range(25):
            content = _cell(pixels, cell)
            k, rest = divmod(cell, 3)
            if rest == 0 and k < len(codes):
                assert _colour_code(content) == codes[k][0], (sample.id, cell)
                assert _shape_code(content) == codes[k][1], (sample.id, cell)
            else:
                assert (content == 255).all(), f"cell {cell} of {sample.id} is not blank"


def test_cards_grid_images():
    rank_patterns: dict[str, set[bytes]] = {}
    suit_patterns: dict[str, set[bytes]] = {}
    for sample in generate("cards", 200, seed=5):
        pixels = _pixels(sample)
        assert pixels.shape == (80, 80, 3)
        codes = sample.intermediate.split(" ")
        for cell in range(25):
            content = _cell(pixels, cell)
            k, rest = divmod(cell, 3)
            if k < len(codes) and rest == 0:
                assert _ink(content).sum() >= 3
                rank_patterns.setdefault(codes[k][0], set()).add(_pattern(content))
            elif k < len(codes) and rest == 1:
                suit = codes[k][1]
                red = (content[..., 0] > 150) & (content[..., 1] < 100) & (content[..., 2] < 100)
                black = content.max(axis=2) < 80
                if suit in "HD":
                    assert red.sum() >= 10 and black.sum() == 0, (sample.id, cell)
                else:
                    assert black.sum() >= 10 and red.sum() == 0, (sample.id, cell)
                suit_patterns.setdefault(suit, set()).add(_pattern(content))
            else:
                assert (content == 255).all(), f"cell {cell} of {sample.id} is not blank"
    for patterns in (rank_patterns, suit_patterns):
        assert all(len(p) == 1 for p in patterns.values())
        drawn = [next(iter(p)) for p in patterns.values()]
        assert len(set(drawn)) == len(drawn)
    assert set(suit_patterns) == set("CDHS")


def test_grid_jitter_zero_is_centred_and_noise_changes_background():
    sample = generate("rendered_text", 1, seed=0, jitter=0)[0]
    assert sample.difficulty["jitter"] == 0
    noisy = generate("rendered_text", 1, seed=0, noise=0.1)[0]
    assert noisy.intermediate == generate("rendered_text", 1, seed=0)[0].intermediate
    assert not (_cell(_pixels(noisy), 24) == 255).all()


# ---------------------------------------------------------------- free layout


@pytest.mark.parametrize("task", TASK_NAMES)
def test_free_layout_knobs(task):
    samples = generate(
        task,
        20,
        seed=2,
        layout="free",
        image_size=(400, 300),
        rotation=20.0,
        distractors=(1, 4),
        noise=0.05,
    )
    for sample in samples:
        image = sample.image.load()
        assert image.size == (400, 300)
        difficulty = sample.difficulty
        assert 1 <= difficulty["distractors"] <= 4
        assert abs(difficulty["rotation"]) <= 20.0
        assert difficulty["noise"] == 0.05
        assert difficulty["knobs"]["image_size"] == [400, 300]
        pixels = np.asarray(image)
        assert pixels.std() > 5  # something is drawn


def test_free_counting_reading_order_and_sizes():
    samples = generate("counting", 30, seed=3, layout="free", n_objects=9, object_size=(20, 30))
    for sample in samples:
        assert len(sample.intermediate.split(" ")) == 9
        low, high = sample.difficulty["object_size"]
        assert 1 <= low <= high <= 30


def test_free_cards_ten_rank():
    samples = generate("cards", 50, seed=0, layout="free", n_cards=6, ten_as="T")
    assert all(len(s.intermediate.split(" ")) == 6 for s in samples)
    assert all(s.difficulty["knobs"]["ten_as"] == "T" for s in samples)


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("task", "layout", "knobs", "needle"),
    [
        ("counting", "grid", {"n_objects": 10}, "n_objects"),
        ("counting", "grid", {"n_objects": (3, 2)}, "n_objects"),
        ("counting", "grid", {"colours": "RX"}, "colours"),
        ("counting", "grid", {"image_size": (100, 100)}, "image_size"),
        ("counting", "free", {"shape_query_rate": 1.5}, "shape_query_rate"),
        ("cards", "grid", {"n_cards": 7}, "n_cards"),
        ("cards", "grid", {"n_cards": True}, "n_cards"),
        ("cards", "free", {"ten_as": "X"}, "ten_as"),
        ("rendered_text", "grid", {"n_operands": 1}, "n_operands"),
        ("rendered_text", "grid", {"ops": "+x"}, "ops"),
        ("rendered_text", "grid", {"min_operand": 8, "max_operand": 3}, "min_operand"),
        ("rendered_text", "grid", {"jitter": 9}, "jitter"),
        ("rendered_text", "grid", {"font_size": 20}, "font_size"),
        ("rendered_text", "free", {"noise": -0.1}, "noise"),
        ("rendered_text", "free", {"image_size": (10, 10)}, "image_size"),
        ("rendered_text", "free", {"colour": "red"}, "colour"),
    ],
)
def test_bad_knobs_raise(task, layout, knobs, needle):
    with pytest.raises(ValueError, match=needle):
        generate(task, 3, layout=layout, **knobs)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"unknown task 'poker'.*counting"):
        generate("poker", 3)
    with pytest.raises(ValueError, match=r"unknown layout 'spiral'.*grid.*free"):
        generate("counting", 3, layout="spiral")
    with pytest.raises(ValueError, match="bad value for n: -1"):
        generate("counting", -1)
    with pytest.raises(ValueError, match="seed"):
        generate("counting", 1, seed="zero")
    with pytest.raises(ValueError, match="allow_negative"):
        generate("rendered_text", 3, ops="-", min_operand=5, n_operands=3)


# ---------------------------------------------------------------- speed


@pytest.mark.parametrize("task", TASK_NAMES)
def test_grid_generation_is_fast(task):
    start = time.perf_counter()
    generate(task, 300, seed=11)
    assert time.perf_counter() - start < 3.0
