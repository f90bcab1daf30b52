"""Image decoding of user bytes: every failure is an ImageError with the reason, never a crash,
and nothing over the pixel cap is ever decoded (issue 13)."""

from __future__ import annotations

import base64

import pytest
from hostile_images import eps, png, png_claiming, truncated_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillgap.backends import ImageRef
from skillgap.backends._images import ImageError, decode_image, image_size


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (png_claiming(100_000, 100_000), "decompression bomb"),  # over twice Pillow's limit
        (png_claiming(10_000, 10_000), "decompression bomb"),  # Pillow only warns here
        (png_claiming(5_000, 5_000), "at most 16777216"),  # our own cap, under Pillow's
        (truncated_png(), "truncated"),
        (eps(), "not a readable image"),  # Ghostscript is never started
        (png(8, "F"), "unsupported image mode 'F'"),
        (b"GIF89a" + b"\0" * 7, "not a readable image"),
        (b"", "empty"),
    ],
    ids=["bomb", "warning-bomb", "over-cap", "truncated", "eps", "float-mode", "gif-header", "empty"],
)
def test_hostile_images_are_clear_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        decode_image(data)
    ref = ImageRef(uri="data:image/png;base64," + base64.b64encode(data).decode())
    with pytest.raises(ValueError, match=reason):  # the path every backend and dataset takes
        ref.load()


def test_the_pixel_cap_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLGAP_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(ImageError, match="at most 100"):
        decode_image(png(16))
    assert decode_image(png(16), max_pixels=256).size == (16, 16)


def test_odd_but_valid_modes_decode_to_rgb() -> None:
    for mode in ("L", "RGBA", "P", "I;16", "1"):
        assert decode_image(png(8, mode)).mode == "RGB"


_VALID = png(12)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=512) | st.builds(
    lambda cut, flips: bytes(b ^ flips.get(i, 0) for i, b in enumerate(_VALID[:cut])),
    st.integers(0, len(_VALID)), st.dictionaries(st.integers(0, len(_VALID) - 1), st.integers(1, 255),
                                                 max_size=8)))
def test_any_bytes_decode_or_fail_with_an_image_error(data: bytes) -> None:
    try:
        image = decode_image(data, max_pixels=4096)
    except ImageError as exc:
        assert str(exc).startswith("image: ")
    else:
        assert image.mode == "RGB" and image.size[0] * image.size[1] <= 4096


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1), st.sampled_from([0, 2, 3, 4, 6, 7]))
def test_any_claimed_size_is_refused_from_the_header_or_decoded_within_the_cap(
    width: int, height: int, colour: int
) -> None:
    try:
        assert image_size(png_claiming(width, height, mode=colour), max_pixels=10_000) == (width, height)
    except ImageError:
        return
    assert width * height <= 10_000
