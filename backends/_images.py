"""Safe image decoding: every way an image can fail becomes an :class:`ImageError` with the reason.

User bytes reach Pillow from datasets, from the backends and from ``skillgap serve``. Pillow raises
a zoo of exceptions on hostile input (``DecompressionBombError``, ``OSError`` for truncated data,
``SyntaxError`` and ``ValueError`` from some plugins, ``struct.error``...); this module turns them
all into one ``ValueError`` subclass so a bad image is the sample's or the request's error, never
a crash. It also refuses, from the header alone, images whose pixel count would not fit in memory
(Pillow's bomb limit, plus a cap of our own), and formats that run external programs (EPS).
"""

from __future__ import annotations

import io
import os
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: Our own pixel cap (width × height), far under Pillow's bomb limit: 4096² RGB is 48 MiB decoded.
#: ``$SKILLGAP_MAX_IMAGE_PIXELS`` overrides it.
MAX_IMAGE_PIXELS = 4096 * 4096
#: Formats decoded at all: the ones MLLM inputs use. EPS (Ghostscript), PSD, ICNS and the rest are
#: refused before any plugin parses them.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
#: Modes converted to RGB; anything else (e.g. 32-bit float ``F``, packed ``I;16B``) is refused.
MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "I;16"})


class ImageError(ValueError):
    """An image that cannot be used, with a message that says why."""


def max_image_pixels() -> int:
    """The pixel cap in force: ``$SKILLGAP_MAX_IMAGE_PIXELS`` or :data:`MAX_IMAGE_PIXELS`."""
    value = os.environ.get("SKILLGAP_MAX_IMAGE_PIXELS")
    if value is None:
        return MAX_IMAGE_PIXELS
    try:
        return max(1, int(value))
    except ValueError:
        raise ImageError(f"SKILLGAP_MAX_IMAGE_PIXELS must be an integer, got {value!r}") from None


def open_image(data: bytes, *, where: str = "image", max_pixels: int | None = None) -> PILImage:
    """Open ``data`` lazily (header only) and check format, size and mode; nothing is decoded.

    Raises:
        ImageError: naming ``where`` and the reason (not an image, a bomb, too many pixels, an
            unsupported mode or format).
    """
    from PIL import Image

    cap = max_image_pixels() if max_pixels is None else max_pixels
    if not data:
        raise ImageError(f"{where}: the image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it: that is a bomb too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{where}: refused as a decompression bomb ({exc})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{where}: not a readable image (no {', '.join(FORMATS)} file starts like "
                         "this)") from None
    except Exception as exc:  # Pillow's plugins raise many types on garbage; all mean "unreadable"
        raise ImageError(f"{where}: not a readable image ({_reason(exc)})") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"{where}: the image has no pixels ({width}x{height})")
    if width * height > cap:
        raise ImageError(
            f"{where}: the image is {width}x{height} = {width * height} pixels; at most {cap} are "
            "accepted (SKILLGAP_MAX_IMAGE_PIXELS)"
        )
    if image.mode not in MODES:
        raise ImageError(f"{where}: unsupported image mode {image.mode!r} ({image.format})")
    return image


def image_size(data: bytes, *, where: str = "image", max_pixels: int | None = None) -> tuple[int, int]:
    """``(width, height)`` after the checks of :func:`open_image`, without decoding pixels."""
    return open_image(data, where=where, max_pixels=max_pixels).size


def decode_image(data: bytes, *, where: str = "image", max_pixels: int | None = None) -> PILImage:
    """Decode ``data`` to an RGB image, bounded by the pixel cap; any failure is an ImageError.

    Only the first frame of an animated image is decoded.
    """
    from PIL import Image

    image = open_image(data, where=where, max_pixels=max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            converted = image.convert("RGB")
    except Exception as exc:  # truncated data, bad compression streams, broken palettes...
        raise ImageError(f"{where}: the image data is broken ({_reason(exc)})") from None
    finally:
        image.close()
    return converted


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["ImageError", "decode_image", "image_size", "max_image_pixels", "open_image"]
