"""Colours as people type them: one parser for the CLI, the dashboard and the watermark studio."""

from __future__ import annotations

RGB = tuple[int, int, int]
Color = tuple[int, int, int, int]  # RGBA, 0-255

NAMED_COLORS: dict[str, RGB] = {"white": (255, 255, 255), "black": (0, 0, 0)}
_HEX = set("0123456789abcdef")


def parse_color(text: str) -> Color:
    """'R,G,B[,A]', '#RGB', '#RRGGBB[AA]' or 'white'/'black' → (r, g, b, a)."""
    s = text.strip().lower()
    parts: list[int] = []
    if s in NAMED_COLORS:
        parts = list(NAMED_COLORS[s])
    elif s.startswith("#") and set(s[1:]) <= _HEX and len(s) in (4, 7, 9):
        digits = "".join(c * 2 for c in s[1:]) if len(s) == 4 else s[1:]
        parts = [int(digits[i:i + 2], 16) for i in range(0, len(digits), 2)]
    else:
        try:
            parts = [int(p) for p in s.split(",")]
        except ValueError:
            parts = []
    if len(parts) == 3:
        parts.append(255)
    if len(parts) != 4 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"colour {text!r} must be R,G,B[,A] (0-255), #RGB, #RRGGBB[AA], white or black")
    return parts[0], parts[1], parts[2], parts[3]


def parse_rgb(text: str) -> RGB:
    """An opaque colour (a tint, a key colour): like parse_color, without transparency."""
    r, g, b, a = parse_color(text)
    if a != 255:
        raise ValueError(f"colour {text!r}: give the transparency with opacity, not in the colour")
    return r, g, b


def to_hex(rgb: tuple[int, ...]) -> str:
    """(r, g, b[, a]) → '#RRGGBB' (what colour pickers show)."""
    return "#" + "".join(f"{v:02X}" for v in rgb[:3])
