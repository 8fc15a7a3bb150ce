"""Text layout shared by every renderer: a Rich console on an injected stream, columns laid
out for the console's width (the terminal's, ``COLUMNS``, else 80; tests pass one), words
wrapped (never split), ages, plurals, the JSON writer and the progress bar.

Colours only on a terminal, never with ``--no-color`` or ``NO_COLOR``, and the same characters
either way. Rich is imported lazily (``validate`` and ``--version`` never load it).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

FORMAT_VERSION = 1
Cell = tuple[str, str]
"""A table cell: its text and a Rich style ("" for none)."""
Policy = tuple[str | None, tuple[str, ...] | None]
"""An access policy as drawn: (visibility, repositories); None where there is none or it is
unknown (repositories not read)."""
GAP = 2
"""Spaces between two columns."""
MIN_LAST = 30
"""Fewest columns a row's last cell is wrapped into beside the row; with fewer, it goes under
(a message squeezed into a narrow column reads worse than one on its own line)."""
HANG = 4
"""How much deeper than its row a cell that goes under the row is indented."""
MIN_HANG = 20
"""Fewest columns a hanging list (``repositories: ...``) is aligned into; else HANG deep."""
GLUED = frozenset({"+", "-", "~"})
"""Markers (plan, diff) never left alone at the end of a line: they belong to the next word."""

# --- Text helpers: console, wrapping, columns, policies, ages, plurals, progress ---------------


def write_json(document: dict[str, Any], out: TextIO) -> None:
    json.dump(document, out, indent=2)
    out.write("\n")


def make_console(out: TextIO, *, no_color: bool = False, width: int | None = None) -> Console:
    """A Rich console on ``out``: colour only on a terminal, none with ``no_color``/NO_COLOR.

    ``width``: what the text is laid out for; None asks Rich (the terminal, COLUMNS, else 80).
    Rich itself never wraps nor crops (``soft_wrap``): the drawing below breaks lines between
    words, and a word longer than the width overflows rather than being cut.
    """
    from rich.console import Console

    plain = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(
        file=out,
        color_system=None if plain else "auto",  # None: no escape codes at all (no bold either)
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=True,
        width=width,
    )


def text_of(*cells: Cell) -> Text:
    from rich.text import Text

    line = Text()
    for text, style in cells:
        line.append(text, style=style or None)
    line.rstrip()
    return line


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken only between words.

    A word longer than ``width`` gets a line of its own and overflows: it is never cut.
    """
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line or not lines else lines


def hanging(indent: int, label: str, text: str, width: int, style: str = "") -> list[Text]:
    """``label`` then ``text`` wrapped, continuation lines under the text's first word
    (or ``HANG`` deeper than ``indent`` when that would leave fewer than MIN_HANG columns)."""
    at = indent + len(label)
    if width - at < MIN_HANG:
        at = indent + HANG
    first_width = width - indent - len(label)
    words = wrap(text, max(first_width, 1))
    head = words[0]
    rest = " ".join(words[1:])
    lines = [text_of((" " * indent, ""), (label + head, style))]
    lines += [text_of((" " * at, ""), (line, style)) for line in wrap(rest, width - at) if line]
    return lines


def column_starts(
    rows: Sequence[Sequence[Cell]], indent: int = 0, cap: int | None = None
) -> list[int]:
    """Where each column starts: each is as wide as its widest cell that is not the last of
    its row and not wider than ``cap`` (a wider cell pushes the rest of its row down)."""
    count = max((len(r) for r in rows), default=0)
    widths = [0] * count
    for row in rows:
        for i, (text, _) in enumerate(row[:-1]):
            if cap is None or len(text) <= cap:
                widths[i] = max(widths[i], len(text))
    starts = [indent]
    for w in widths[:-1]:
        starts.append(starts[-1] + w + GAP)
    return starts


def layout_row(row: Sequence[Cell], starts: Sequence[int], width: int, under: int) -> list[Text]:
    """One row of cells at ``starts``, fitted to ``width``.

    A cell that does not fit after the one before it starts a new line at its column; one
    that would cross ``width`` starts a new line at ``under`` (the rest of the row flows
    after it, two spaces apart). The last cell wraps beside the row when MIN_LAST columns are
    left there, else under the row at ``under``. Cells wrap between words, each continuation
    line starting where the cell started; a word longer than the width overflows, uncut.
    """
    lines: list[list[Cell]] = [[(" " * starts[0], "")]]
    pos = starts[0]
    flowing = False

    def new_line(at: int) -> None:
        nonlocal pos
        if not "".join(text for text, _ in lines[-1]).strip():
            lines.pop()  # nothing on it yet: start it over at ``at``
        lines.append([(" " * at, "")])
        pos = at

    def put(text: str, style: str) -> None:
        nonlocal pos
        lead = len(text) - len(text.lstrip(" "))  # a right-aligned cell keeps its padding
        lines[-1].append((" " * lead, ""))
        pos += lead
        hang, fresh, glued = pos, True, False
        for word in text.split():
            if not fresh and not glued and pos + 1 + len(word) > width:
                new_line(hang)
                fresh = True
            lines[-1].append((word if fresh else f" {word}", style))
            pos += len(word) + (0 if fresh else 1)
            glued = fresh and word in GLUED  # a marker stays with its name
            fresh = False

    for i, (text, style) in enumerate(row):
        last = i == len(row) - 1
        if i:
            at = pos + GAP if flowing or i >= len(starts) else starts[i]
            if pos + GAP > at:
                new_line(at)
            else:
                lines[-1].append((" " * (at - pos), ""))
                pos = at
        too_long = pos + len(text) > width
        if too_long and pos > under and (not last or width - pos < MIN_LAST):
            new_line(under)
            flowing = not last
        put(text, style)
    return [text_of(*cells) for cells in lines]


def columns(
    rows: Sequence[Sequence[Cell]],
    *,
    width: int,
    indent: int = 0,
    cap: int | None = None,
    under: int | None = None,
) -> list[Text]:
    """Rows of cells as aligned columns fitted to ``width`` (see :func:`layout_row`)."""
    starts = column_starts(rows, indent, cap)
    below = indent + HANG if under is None else under
    return [line for row in rows for line in layout_row(row, starts, width, below)]


def policy_lines(policy: Policy, *, width: int, indent: int, style: str = "dim") -> list[Text]:
    """``visibility: ...`` and ``repositories: ...`` (wrapped under themselves), for what is
    known: nothing for repositories never read, ``(none)`` for a list read and found empty."""
    visibility, repositories = policy
    lines: list[Text] = []
    if visibility is not None:
        lines += hanging(indent, "visibility: ", visibility, width, style)
    if repositories is not None:
        listed = ", ".join(repositories) or "(none)"
        lines += hanging(indent, "repositories: ", listed, width, style)
    return lines


def shared_policy(policies: Sequence[Policy]) -> Policy | None:
    """The policy most of a target's secrets have, drawn once under the target (the first of
    equals; one whose repositories are known over one whose are not). None: no policies."""
    known = [p for p in policies if p[1] is not None] or list(policies)
    if not known:
        return None
    return Counter(known).most_common(1)[0][0]


def differs(policy: Policy, shared: Policy | None) -> bool:
    """Whether a secret's policy must be drawn under it: it is not the target's shared one
    (repositories compare only when both are known; names fold case, as GitHub's do)."""
    if shared is None:
        return False
    if policy[0] != shared[0]:
        return True
    mine, theirs = policy[1], shared[1]
    if mine is None or theirs is None:
        return False
    return sorted(r.lower() for r in mine) != sorted(r.lower() for r in theirs)


def age_text(age: timedelta) -> str:
    """``2d3h4m``, ``5h0m``, ``12m`` (negative ages, from clock skew, read as 0m)."""
    minutes = max(0, int(age.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours or days else []
    return "".join([*parts, f"{minutes}m"])


def period_text(period: timedelta) -> str:
    """A configured period: ``45m``, ``6h``, ``1h30m`` (no ``0m`` on whole hours)."""
    text = age_text(period)
    return text.removesuffix("0m") if text.endswith("h0m") else text


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 target``, ``2 targets``, ``2 registries``; ``words`` for irregular plurals."""
    if words is None and word.endswith("y") and word[-2:-1] not in "aeiou":
        words = word[:-1] + "ies"
    return f"{count} {word if count == 1 else words or word + 's'}"


@contextmanager
def progress(
    description: str,
    total: int,
    *,
    enabled: bool = True,
    stream: TextIO | None = None,
    no_color: bool = False,
) -> Iterator[Callable[[], None]]:
    """A transient progress bar on stderr; yields ``advance``.

    Shown only when ``enabled`` (callers pass ``not json``), for two or more steps, and only
    when the stream is a terminal: logs and pipes never see it.
    """
    out = sys.stderr if stream is None else stream
    if not enabled or total < 2 or not out.isatty():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=make_console(out, no_color=no_color),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)
