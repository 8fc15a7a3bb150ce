"""Text from outside the tool (a program's stderr, GitHub's error message), made safe to show.

Such text reaches a terminal inside this tool's own lines: a control character in it (an ANSI
or OSC escape sequence, a carriage return, a backspace) could recolour, retitle or rewrite
what the user reads. Each one is shown escaped instead (``\\x1b``); newlines and tabs stay.
"""

from __future__ import annotations

import unicodedata

_KEPT = frozenset("\n\t")


def printable(text: str) -> str:
    """``text`` with every control or format character (Unicode category C*) escaped."""
    if text.isprintable():
        return text
    return "".join(
        c if c in _KEPT or not unicodedata.category(c).startswith("C") else _escaped(c)
        for c in text
    )


def _escaped(c: str) -> str:
    code = ord(c)
    return (
        f"\\x{code:02x}"
        if code <= 0xFF
        else f"\\u{code:04x}"
        if code <= 0xFFFF
        else f"\\U{code:08x}"
    )
