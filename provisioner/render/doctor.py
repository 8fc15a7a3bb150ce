"""``doctor``'s checks as text (one line each, a ``fix:`` under each problem) and as JSON.

Laid out for the console's width with :mod:`provisioner.render.text`; the subject column is
capped so that one long subject never pushes every message to the right.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from provisioner.render.text import (
    FORMAT_VERSION,
    Cell,
    column_starts,
    hanging,
    layout_row,
    make_console,
    plural,
    text_of,
)

if TYPE_CHECKING:
    from provisioner.doctor.checks import Check

CHECK_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}
SUBJECT_CAP = 32
"""The doctor's subject column is at most this wide, or a quarter of a wider console (and
never over two fifths of it): one long subject must not push every message to the right."""
FIX_INDENT = 6


def doctor_data(checks: list[Check]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "checks": [
            {
                "check": c.check,
                "subject": c.subject,
                "status": c.status,
                "message": c.message,
                **({"fix": c.fix} if c.fix else {}),
            }
            for c in checks
        ],
        "summary": {s: sum(1 for c in checks if c.status == s) for s in ("ok", "warn", "fail")},
    }


def write_doctor(
    checks: list[Check], out: TextIO, *, no_color: bool = False, width: int | None = None
) -> None:
    """One line per check (status, subject, message), a ``fix:`` line under each problem.

    The subject column is capped: a longer subject puts its message on the next line.
    """
    console = make_console(out, no_color=no_color, width=width)
    w = console.width
    rows: list[list[Cell]] = [
        [
            (c.status.ljust(4), CHECK_STYLES[c.status]),
            (f"{c.check} {c.subject}".strip(), ""),
            (c.message, ""),
        ]
        for c in checks
    ]
    starts = column_starts(rows, cap=min(max(SUBJECT_CAP, w // 4), w * 2 // 5))
    for check, row in zip(checks, rows, strict=True):
        lines = layout_row(row, starts, w, FIX_INDENT)
        if check.fix and check.status != "ok":
            lines += hanging(FIX_INDENT, "fix: ", check.fix, w, "dim")
        for line in lines:
            console.print(line)
    counts = doctor_data(checks)["summary"]
    summary = (
        f"Doctor: {counts['ok']} ok, {plural(counts['warn'], 'warning')}, {counts['fail']} failed."
    )
    console.print()
    console.print(text_of((summary, "bold red" if counts["fail"] else "bold")))
