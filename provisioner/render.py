"""Renderers: a plan (and an apply report) as text or as the JSON document of DESIGN.md §4.

Both derive from :func:`plan_data`, so text and JSON never disagree. Writers take a stream.
"""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.plan import Change, Plan

if TYPE_CHECKING:
    from provisioner.apply import Report

FORMAT_VERSION = 1
MARKERS = {"create": "+", "update": "~", "delete": "-"}


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
    if plan.failed_targets:
        document["errors"] = [
            {"scope": t.scope, "target": t.name, "error": message}
            for t, message in plan.failed_targets
        ]
    return document


def write_json(document: dict[str, Any], out: TextIO) -> None:
    json.dump(document, out, indent=2)
    out.write("\n")


def _age(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours or days else []
    return "".join([*parts, f"{minutes}m"])


def _change_line(change: Change, width: int) -> str:
    reasons = ", ".join(change.reasons)
    if change.age is not None and "rotation-due" in change.reasons:
        reasons += f"; age {_age(change.age)}"
    line = f"  {MARKERS[change.action]} {change.secret.ljust(width)}  ({reasons})"
    if change.action != "delete":
        if change.target.scope == "org" and change.visibility:
            line += f"  visibility: {change.visibility}"
        if change.repositories is not None:
            line += f"  repositories: {', '.join(change.repositories) or '(none)'}"
    return line


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


def write_plan(plan: Plan, out: TextIO) -> None:
    """One block per target with Terraform-like markers, then unmanaged secrets, then a summary."""
    width = max((len(c.secret) for c in plan.changes), default=0)
    for target, changes in groupby(plan.changes, key=lambda c: c.target):
        out.write(f"{target.label}\n")
        for change in changes:
            out.write(_change_line(change, width) + "\n")
        out.write("\n")
    if plan.unmanaged:
        out.write("Unmanaged registry secrets (deleted only with --prune):\n")
        for u in plan.unmanaged:
            out.write(f"  {u.target.label}  {u.secret}\n")
        out.write("\n")
    out.write(summary_line(plan) + "\n")


def write_report(report: Report, out: TextIO) -> None:
    """What apply did: done, failed (with the reason) and not attempted."""
    for outcome in report.outcomes:
        c = outcome.change
        mark = {"ok": "done", "failed": "FAILED", "not-attempted": "not attempted"}[outcome.result]
        line = f"{mark:>13}  {MARKERS[c.action]} {c.target.label} {c.secret}"
        if outcome.error:
            line += f": {outcome.error}"
        out.write(line + "\n")
    out.write(
        f"Apply: {report.count('ok')} done, {report.count('failed')} failed, "
        f"{report.count('not-attempted')} not attempted."
        + (" Interrupted." if report.interrupted else "")
        + "\n"
    )
