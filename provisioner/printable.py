"""Text from outside the tool (a program's stderr, GitHub's error message), made safe to show.

Such text reaches a terminal inside this tool's own lines: a control character in it (an ANSI
or OSC escape sequence, a carriage return, a backspace) could recolour, retitle or rewrite
what the user reads. Each one is shown escaped instead (``\\x1b``); newlines and tabs stay.
"""

from __future__ import annotations

_KEPT = frozenset("\n\t")


def printable(text: str) -> str:
    """``text`` with every character Python does not call printable (controls, format and
    separator characters but the space) escaped as a Python literal would be."""
    if text.isprintable():
        return text
    return "".join(
        c if c in _KEPT or c.isprintable() else c.encode("unicode_escape").decode("ascii")
        for c in text
    )
