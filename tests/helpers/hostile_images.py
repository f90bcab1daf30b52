"""Hostile image bytes for tests: bombs that claim huge sizes, truncated files, odd formats."""

from __future__ import annotations

import io
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int, *, mode: int = 0) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (8-bit grey, or colour type ``mode``):
    what a decompression bomb looks like to a decoder before it allocates."""
    header = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b""))


def png(side: int = 16, mode: str = "RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (side, side), (200, 30, 30) if mode in ("RGB", "RGBA", "P") else 1).save(
        buffer, format="TIFF" if mode == "F" else "PNG")
    return buffer.getvalue()


def truncated_png(side: int = 64) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


def eps() -> bytes:
    """An EPS file: Pillow would hand it to Ghostscript, an external program."""
    return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
