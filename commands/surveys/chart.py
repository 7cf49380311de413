"""A tiny PNG bar-chart renderer (stdlib zlib + struct only): no fonts, no dependencies.

Each group (a question) is a block of horizontal bars, one per answer, with the count drawn
in a small built-in digit font at the end of the bar. Labels are in the message text; the
chart keeps the same order.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
GREY: Color = (210, 210, 210)
INK: Color = (40, 40, 40)
PALETTE: tuple[Color, ...] = ((46, 117, 182), (84, 160, 92), (218, 124, 48), (150, 90, 170))

# 3x5 digits, rows top to bottom, bits left to right.
_DIGITS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
}


class Canvas:
    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes(color) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def number(self, x: int, y: int, value: int, color: Color = INK, scale: int = 2) -> int:
        """Draw ``value``; return the x after it."""
        for ch in str(value):
            for r, bits in enumerate(_DIGITS[ch]):
                for c, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(x + c * scale, y + r * scale, scale, scale, color)
            x += 4 * scale
        return x

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return (
                struct.pack(">I", len(data))
                + kind
                + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
            )

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def bar_chart(groups: Sequence[Sequence[int]], width: int = 480) -> bytes:
    """Horizontal bars, one block per group; returns PNG bytes."""
    bar_h, gap, group_gap, margin = 14, 4, 16, 10
    rows = sum(len(g) for g in groups)
    height = max(
        2 * margin + rows * (bar_h + gap) + max(0, len(groups) - 1) * group_gap, 2 * margin + 1
    )
    canvas = Canvas(width, height)
    top = max((max(g, default=0) for g in groups), default=0) or 1
    usable = width - 2 * margin - 40
    y = margin
    for gi, group in enumerate(groups):
        color = PALETTE[gi % len(PALETTE)]
        for value in group:
            if value == 0:
                canvas.rect(margin, y + bar_h // 2, usable, 1, GREY)
            length = round(usable * value / top)
            canvas.rect(margin, y, max(length, 1 if value else 0), bar_h, color)
            canvas.number(margin + max(length, 0) + 4, y + 2, value)
            y += bar_h + gap
        y += group_gap
    return canvas.png()
