"""The plan (and the apply report) as text, and as the JSON document of ``plan --json``.

Both derive from the same values, so text and JSON never disagree. Writers take a stream and
lay lines out with :mod:`provisioner.render.text`; lines break only between words, so the
output stays plain and greppable in a log or a pipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.domain import TargetRef
from provisioner.plan import Change, Plan
from provisioner.render.text import (
    FORMAT_VERSION,
    GAP,
    Cell,
    Policy,
    age_text,
    column_starts,
    columns,
    differs,
    hanging,
    layout_row,
    make_console,
    plural,
    policy_lines,
    shared_policy,
    text_of,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from provisioner.apply import Report


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


def _error(message: str, target: TargetRef, **where: str) -> dict[str, Any]:
    """One item of a plan's ``errors``: ``message``, as in every error document, and
    ``error`` (the same text) kept for scripts written against it."""
    return {
        "message": message,
        "scope": target.scope,
        "target": target.name,
        **where,
        "error": message,
    }


def plan_data(plan: Plan, report: Report | None = None, *, refused: bool = False) -> dict[str, Any]:
    """The JSON form of a plan; with a report, each change also carries its ``result``.

    ``refused``: apply refused the plan at the safety valve (nothing was attempted): each
    target past it is an error."""
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
    errors = [_error(message, t) for t, message in plan.failed_targets]
    errors += [
        _error(message, t, secret=name) for message, keys in plan.value_errors for t, name in keys
    ]
    if refused:
        errors += [_error(m.message, m.target) for m in plan.mass_deletes]
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
