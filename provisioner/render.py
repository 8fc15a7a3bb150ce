"""Renderers: a plan (and an apply report) as text or as the JSON document of DESIGN.md §4.

Both derive from the same values, so text and JSON never disagree. Writers take a stream;
text goes through a Rich console on it: colours only on a terminal, never with ``--no-color``
or ``NO_COLOR``, and the same characters either way. Rich is imported lazily (``validate``
and ``--version`` never load it).
"""

from __future__ import annotations

import json
import os
import sys
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
MARKERS = {"create": "+", "update": "~", "delete": "-"}
STYLES = {"create": "green", "update": "yellow", "delete": "red"}
Cell = tuple[str, str]
"""A table cell: its text and a Rich style ("" for none)."""


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


def write_json(document: dict[str, Any], out: TextIO) -> None:
    json.dump(document, out, indent=2)
    out.write("\n")


def make_console(out: TextIO, *, no_color: bool = False) -> Console:
    """A Rich console on ``out``: colour only on a terminal, none with ``no_color``/NO_COLOR.

    Plain text otherwise: no markup, no highlighting, no wrapping (lines stay greppable).
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
    )


def _text(*cells: Cell) -> Text:
    from rich.text import Text

    line = Text()
    for text, style in cells:
        line.append(text, style=style or None)
    return line


def columns(rows: Sequence[Sequence[Cell]], indent: str = "") -> list[Text]:
    """Rows of cells, each column padded to its widest cell (two spaces between columns)."""
    count = max((len(r) for r in rows), default=0)
    widths = [max(len(r[i][0]) for r in rows if i < len(r)) for i in range(count)]
    lines = []
    for row in rows:
        cells: list[Cell] = [(indent, "")]
        for i, (text, style) in enumerate(row):
            last = i == len(row) - 1
            cells.append((text, style))
            if not last:
                cells.append((" " * (widths[i] - len(text) + 2), ""))
        line = _text(*cells)
        line.rstrip()
        lines.append(line)
    return lines


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
    """``1 target``, ``2 targets``; ``words`` for irregular plurals."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def _change_cells(change: Change) -> list[Cell]:
    reasons = ", ".join(change.reasons)
    if change.age is not None and "rotation-due" in change.reasons:
        reasons += f"; age {age_text(change.age)}"
    style = STYLES[change.action]
    cells: list[Cell] = [(f"{MARKERS[change.action]} {change.secret}", style), (f"({reasons})", "")]
    policy = []
    if change.action != "delete":
        if change.target.scope == "org" and change.visibility:
            policy.append(f"visibility: {change.visibility}")
        if change.repositories is not None:
            policy.append(f"repositories: {', '.join(change.repositories) or '(none)'}")
    if policy:
        cells.append(("  ".join(policy), "dim"))
    return cells


def summary_line(plan: Plan) -> str:
    if plan.failed_targets:
        failed = len(plan.failed_targets)
        return (
            f"Plan incomplete: {failed} target{'s' if failed > 1 else ''} could not be read "
            f"(see the errors); for the others: {plan.count('create')} to create, "
            f"{plan.count('update')} to update, {plan.count('delete')} to delete."
        )
    if not plan.changes:
        return "No changes."
    return (
        f"Plan: {plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('delete')} to delete."
    )


def write_plan(plan: Plan, out: TextIO, *, no_color: bool = False) -> None:
    """One block per target with Terraform-like markers, then unmanaged secrets, then a summary.

    Columns (marker, secret, reasons, policy) are aligned across the whole plan.
    """
    console = make_console(out, no_color=no_color)
    lines = columns([_change_cells(c) for c in plan.changes], indent="  ")
    at = 0
    for target, changes in groupby(plan.changes, key=lambda c: c.target):
        console.print(_text((target.label, "bold")))
        for _ in changes:
            console.print(lines[at])
            at += 1
        console.print()
    if plan.unmanaged:
        console.print("Unmanaged registry secrets (deleted only with --prune):")
        rows = [[(u.target.label, ""), (u.secret, "yellow")] for u in plan.unmanaged]
        for line in columns(rows, indent="  "):
            console.print(line)
        console.print()
    style = "red" if plan.has_errors else "bold"
    console.print(_text((summary_line(plan), style)))


RESULT_CELLS: dict[str, Cell] = {
    "ok": ("done", "green"),
    "failed": ("FAILED", "bold red"),
    "not-attempted": ("not attempted", "yellow"),
}


def write_report(report: Report, out: TextIO, *, no_color: bool = False) -> None:
    """What apply did: done, failed (with the reason) and not attempted."""
    console = make_console(out, no_color=no_color)
    rows: list[list[Cell]] = []
    for outcome in report.outcomes:
        c = outcome.change
        text, style = RESULT_CELLS[outcome.result]
        row: list[Cell] = [
            (text.rjust(13), style),
            (f"{MARKERS[c.action]} {c.target.label}", STYLES[c.action]),
            (c.secret, ""),
        ]
        if outcome.error:
            row.append((outcome.error, "red"))
        rows.append(row)
    for line in columns(rows):
        console.print(line)
    failed = report.count("failed")
    summary = (
        f"Apply: {report.count('ok')} done, {failed} failed, "
        f"{report.count('not-attempted')} not attempted."
        + (" Interrupted." if report.interrupted else "")
    )
    console.print(_text((summary, "bold red" if failed or report.interrupted else "bold")))


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
