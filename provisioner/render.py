"""Renderers: a plan (and an apply report) as text or as the JSON document of DESIGN.md §4.

Both derive from the same values, so text and JSON never disagree. Writers take a stream;
text goes through a Rich console on it: colours only on a terminal, never with ``--no-color``
or ``NO_COLOR``, and the same characters either way. Rich is imported lazily (``validate``
and ``--version`` never load it).

Text is laid out for the console's width (Rich's: the terminal's, ``COLUMNS``, else 80; tests
pass one) by the helpers in the first half of this module (console, columns, wrapping, ages,
plurals, progress), which ``render_status`` shares; the plan and report drawing follows them.
Lines break only between words, so output stays plain and greppable in a log or a pipe.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.plan import Change, Plan

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from provisioner.apply import Report

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


# --- The plan and the apply report ------------------------------------------------------------

MARKERS = {"create": "+", "update": "~", "delete": "-"}
STYLES = {"create": "green", "update": "yellow", "delete": "red"}
INDENT = 2
DETAIL = 6
"""Where the lines under a change (repository diff, its own policy) start."""
REWRITE_NOTE = "value rewritten too, so its age stays its issue time"
"""Why a rotating secret's policy-only update writes a value (GitHub restamps updated_at on a
repositories change; the age of a rotating secret is read from that stamp)."""


def change_data(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {
        "action": change.action,
        "scope": change.target.scope,
        "target": change.target.name,
        "secret": change.secret,
        "registry": change.registry,
        "reasons": list(change.reasons),
    }
    if change.action != "delete":
        if change.target.scope == "org":
            data["visibility"] = change.visibility
        if change.repositories is not None:
            data["repositories"] = list(change.repositories)
    return data


def plan_data(plan: Plan, report: Report | None = None) -> dict[str, Any]:
    """The JSON form of a plan; with a report, each change also carries its ``result``."""
    results = {o.change: o for o in report.outcomes} if report else {}
    changes = []
    for change in plan.changes:
        data = change_data(change)
        if report is not None:
            outcome = results.get(change)
            data["result"] = outcome.result if outcome else "not-attempted"
            if outcome is not None and outcome.error:
                data["error"] = outcome.error
        changes.append(data)
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "changes": changes,
        "unmanaged": [
            {"scope": u.target.scope, "target": u.target.name, "secret": u.secret}
            for u in plan.unmanaged
        ],
        "summary": {
            "create": plan.count("create"),
            "update": plan.count("update"),
            "delete": plan.count("delete"),
            "unchanged": plan.unchanged,
        },
    }
    errors = [
        {"scope": t.scope, "target": t.name, "error": message} for t, message in plan.failed_targets
    ]
    errors += [
        {"scope": t.scope, "target": t.name, "secret": name, "error": message}
        for message, keys in plan.value_errors
        for t, name in keys
    ]
    if errors:
        document["errors"] = errors
    return document


def reasons_text(change: Change) -> str:
    """The reasons as the text and markdown plans show them (JSON keeps the bare names)."""
    text = ", ".join(change.reasons)
    if change.age is not None and "rotation-due" in change.reasons:
        text += f"; age {age_text(change.age)}"
    if change.rewrites_for_policy:
        text += f"; {REWRITE_NOTE}"
    return text


def desired_policy(change: Change) -> Policy | None:
    """The policy a create or update sets (None: a delete, or a repository secret)."""
    if change.action == "delete" or change.target.scope == "repository":
        return None
    visibility = change.visibility if change.target.scope == "org" else None
    return (visibility, change.repositories)


def _change_cells(change: Change) -> list[Cell]:
    marker = (f"{MARKERS[change.action]} {change.secret}", STYLES[change.action])
    return [marker, (f"({reasons_text(change)})", "")]


def _change_details(change: Change, shared: Policy | None, width: int) -> list[Text]:
    """Under a change: its policy when not the target's, what GitHub's repositories gain and
    lose, and the visibility it replaces."""
    lines: list[Text] = []
    policy = desired_policy(change)
    if policy is not None and differs(policy, shared):
        lines += policy_lines(policy, width=width, indent=DETAIL)
    if "visibility-changed" in change.reasons and change.previous_visibility is not None:
        was = f"visibility: {change.previous_visibility} -> {change.visibility}"
        lines += hanging(DETAIL, "", was, width, "dim")
    if "repositories-changed" in change.reasons:
        lines += [
            text_of((" " * DETAIL, ""), (f"+ {r}", "green")) for r in change.repositories_added
        ]
        lines += [
            text_of((" " * DETAIL, ""), (f"- {r}", "red")) for r in change.repositories_removed
        ]
    return lines


def summary_line(plan: Plan) -> str:
    counts = (
        f"{plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('delete')} to delete."
    )
    if plan.failed_targets:
        unread = plural(len(plan.failed_targets), "target")
        return (
            f"Plan incomplete: {unread} could not be read (see the errors); for the others: "
            + counts
        )
    if not plan.changes:
        return "No changes."
    return f"Plan: {counts}"


def unmanaged_heading(prune: bool) -> str:
    if prune:  # the plan deletes them (its "(prune)" lines): no hint to pass --prune
        return "Unmanaged registry secrets:"
    return "Unmanaged registry secrets (deleted only with --prune):"


def _print(console: Console, lines: Sequence[Text]) -> None:
    for line in lines:
        console.print(line)


def write_plan(
    plan: Plan,
    out: TextIO,
    *,
    no_color: bool = False,
    width: int | None = None,
) -> None:
    """One block per target (its header, the access policy its changes set, one line per
    change with Terraform-like markers), then unmanaged secrets, then a summary.

    The reasons column is aligned across the whole plan.
    """
    console = make_console(out, no_color=no_color, width=width)
    w = console.width
    starts = column_starts([_change_cells(c) for c in plan.changes], INDENT)
    for target, group in groupby(plan.changes, key=lambda c: c.target):
        changes = list(group)
        console.print(text_of((target.label, "bold")))
        shared = shared_policy([p for c in changes if (p := desired_policy(c)) is not None])
        if shared is not None:
            _print(console, policy_lines(shared, width=w, indent=INDENT))
        for change in changes:
            _print(console, layout_row(_change_cells(change), starts, w, DETAIL))
            _print(console, _change_details(change, shared, w))
        console.print()
    if plan.unmanaged:
        _print(console, hanging(0, "", unmanaged_heading(plan.prune), w))
        rows = [[(u.target.label, ""), (u.secret, "yellow")] for u in plan.unmanaged]
        _print(console, columns(rows, width=w, indent=INDENT))
        console.print()
    style = "red" if plan.has_errors else "bold"
    _print(console, hanging(0, "", summary_line(plan), w, style))


RESULT_CELLS: dict[str, Cell] = {
    "ok": ("done", "green"),
    "failed": ("FAILED", "bold red"),
    "not-attempted": ("not attempted", "yellow"),
}
RESULT_WIDTH = 13


def write_report(
    report: Report, out: TextIO, *, no_color: bool = False, width: int | None = None
) -> None:
    """What apply did: done, failed (with the reason) and not attempted."""
    console = make_console(out, no_color=no_color, width=width)
    rows: list[list[Cell]] = []
    for outcome in report.outcomes:
        c = outcome.change
        text, style = RESULT_CELLS[outcome.result]
        row: list[Cell] = [
            (text.rjust(RESULT_WIDTH), style),
            (f"{MARKERS[c.action]} {c.target.label}", STYLES[c.action]),
            (c.secret, ""),
        ]
        if outcome.error:
            row.append((outcome.error, "red"))
        rows.append(row)
    _print(console, columns(rows, width=console.width, under=RESULT_WIDTH + GAP))
    failed = report.count("failed")
    summary = (
        f"Apply: {report.count('ok')} done, {failed} failed, "
        f"{report.count('not-attempted')} not attempted."
        + (" Interrupted." if report.interrupted else "")
    )
    style = "bold red" if failed or report.interrupted else "bold"
    _print(console, hanging(0, "", summary, console.width, style))
