"""``status`` as text tables (through Rich) and as its JSON document.

Like the plan's renderer: plain values in, an injected stream out, the same characters with
or without colour, laid out for the console's width with :mod:`provisioner.render.text`.
Never a value: only names, ages and policies.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.render.text import (
    FORMAT_VERSION,
    GAP,
    MIN_LAST,
    Cell,
    Policy,
    age_text,
    column_starts,
    differs,
    hanging,
    layout_row,
    make_console,
    period_text,
    plural,
    policy_lines,
    shared_policy,
    text_of,
    write_json,
)
from provisioner.status import RegistryStatus, SecretStatus, TargetStatus

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["status_data", "write_json", "write_status"]

ROTATION_STYLES = {"ok": "green", "due": "yellow", "expired": "bold red", "missing": "red"}
HEADER = ("REGISTRY", "SECRET", "EXISTS", "AGE", "MANAGED", "ROTATION")
INDENT = 2


def _seconds(age: timedelta | None) -> int | None:
    return None if age is None else int(age.total_seconds())


def _secret_data(s: SecretStatus) -> dict[str, Any]:
    data: dict[str, Any] = {
        "secret": s.name,
        "part": s.part,
        "exists": s.exists,
        "managed": s.managed,
        "age_seconds": _seconds(s.age),
        "age_from": s.age_from,
    }
    if s.visibility is not None:
        data["visibility"] = s.visibility
    if s.repositories is not None:
        data["repositories"] = list(s.repositories)
    if s.expires_at is not None:
        data["expires_at"] = s.expires_at.isoformat()
    return data


def _registry_data(r: RegistryStatus) -> dict[str, Any]:
    data: dict[str, Any] = {
        "registry": r.registry,
        "in_config": r.desired,
        "secrets": [_secret_data(s) for s in r.secrets],
    }
    if r.rotation is not None:
        data["rotation"] = {
            "status": r.rotation,
            "rotate_after_seconds": _seconds(r.rotate_after),
            "due_in_seconds": _seconds(r.due_in),
            "token_life_seconds": _seconds(r.token_life),
        }
    return data


def status_data(statuses: list[TargetStatus]) -> dict[str, Any]:
    """The JSON form of ``status``: targets, their registries, each secret; and a summary."""
    targets = []
    for t in statuses:
        entry: dict[str, Any] = {"scope": t.target.scope, "target": t.target.name}
        if t.error is not None:
            entry["error"] = t.error
        else:
            entry["registries"] = [_registry_data(r) for r in t.registries]
        targets.append(entry)
    return {"format_version": FORMAT_VERSION, "targets": targets, "summary": _counts(statuses)}


def _counts(statuses: list[TargetStatus]) -> dict[str, int]:
    registries = [r for t in statuses for r in t.registries if r.desired]
    return {
        "targets": len(statuses),
        "unreadable": sum(1 for t in statuses if t.error is not None),
        "registries": len(registries),
        "missing": sum(1 for r in registries for s in r.secrets if not s.exists),
        "due": sum(1 for r in registries if r.rotation == "due"),
        "expired": sum(1 for r in registries if r.rotation == "expired"),
    }


def _rotation_text(r: RegistryStatus) -> str:
    assert r.rotation is not None and r.rotate_after is not None
    every = f"every {period_text(r.rotate_after)}"
    due_in = r.due_in
    expires = r.secrets[-1].expires_at  # as the state recorded it at the last write
    when = expires.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if expires else ""
    if r.rotation == "missing":
        return f"missing ({every})"
    age = r.secrets[-1].age
    if r.rotation == "expired":
        if expires is not None and (r.token_life is None or (age and age < r.token_life)):
            return f"expired at {when}"  # the recorded expiry came first
        return f"expired, token older than {period_text(r.token_life or timedelta())}"
    if r.rotation == "due" and due_in is not None and due_in > timedelta() and expires:
        return f"due: expires at {when} ({every})"
    if r.rotation == "due" and due_in is not None:
        return f"due {age_text(-due_in)} ago ({every})"
    return f"ok, due in {age_text(due_in or timedelta())} ({every})"


def _rotation_cell(r: RegistryStatus) -> Cell:
    if r.rotation is None:
        return ("", "")
    return (_rotation_text(r), ROTATION_STYLES[r.rotation])


def _policy(scope: str, s: SecretStatus) -> Policy | None:
    """What GitHub said of a secret's access (None: a repository secret, or not there)."""
    if not s.exists or scope == "repository":
        return None
    return (s.visibility if scope == "org" else None, s.repositories)


def _label(r: RegistryStatus) -> Cell:
    if r.desired:
        return (r.registry, "bold")
    return (f"{r.registry} (not in config)", "yellow")


def _cells(r: RegistryStatus, s: SecretStatus, rotation: bool) -> list[Cell]:
    cells: list[Cell] = [
        (s.name, ""),
        ("yes", "green") if s.exists else ("no", "red"),
        (age_text(s.age) if s.age is not None else "-", ""),
        ("yes", "") if s.managed else ("no", "yellow" if s.exists else ""),
    ]
    if rotation:
        cells.append(_rotation_cell(r) if s.part == "PASSWORD" else ("", ""))
    return cells


def _table(t: TargetStatus, width: int) -> tuple[list[list[Cell]], list[int], bool, bool]:
    """The rows (a header, then one per secret), their column starts, whether the registry
    is a column (else a line above its secrets: narrow consoles) and whether rotation is
    (else a line under the PASSWORD: the column would be too narrow)."""
    header: list[Cell] = [(h, "bold") for h in HEADER]
    rows = [header] + [
        [_label(r) if i == 0 else ("", ""), *_cells(r, s, True)]
        for r in t.registries
        for i, s in enumerate(r.secrets)
    ]
    starts = column_starts(rows, INDENT)
    as_column = starts[-1] - GAP <= width
    if not as_column:
        rows = [row[1:] for row in rows]
        starts = column_starts(rows, INDENT + GAP)
    rotating = any(r.rotation is not None for r in t.registries)
    beside = rotating and width - starts[-1] >= MIN_LAST
    if not beside:
        rows = [row[:-1] for row in rows]
    return rows, starts, as_column, beside


def _target_lines(t: TargetStatus, width: int) -> list[Text]:
    """The target's policy (once, as most of its secrets have it), then the table: one row
    per secret, rotation beside the PASSWORD row when it fits, else under it, and under any
    secret whose policy is not the target's, its own."""
    scope = t.target.scope
    secrets = [s for r in t.registries for s in r.secrets]
    policies = {s.name: p for s in secrets if (p := _policy(scope, s)) is not None}
    shared = shared_policy(list(policies.values()))
    lines = [] if shared is None else policy_lines(shared, width=width, indent=INDENT)
    rows, starts, as_column, beside = _table(t, width)
    under = starts[1] if as_column else starts[0]
    detail = under + GAP  # under a row: deeper than the secret names, so it reads as theirs
    lines += layout_row(rows[0], starts, width, under)
    at = 1
    for r in t.registries:
        if not as_column:
            lines.append(text_of((" " * INDENT, ""), _label(r)))
        for s in r.secrets:
            lines += layout_row(rows[at], starts, width, under)
            at += 1
            if not beside and r.rotation is not None and s.part == "PASSWORD":
                style = ROTATION_STYLES[r.rotation]
                lines += hanging(detail, "rotation: ", _rotation_text(r), width, style)
            mine = policies.get(s.name)
            if mine is not None and differs(mine, shared):
                lines += policy_lines(mine, width=width, indent=detail)
    return lines


def write_status(
    statuses: list[TargetStatus], out: TextIO, *, no_color: bool = False, width: int | None = None
) -> None:
    """A block per target (its access policy, a row per secret), then a one-line summary."""
    console = make_console(out, no_color=no_color, width=width)
    w = console.width
    for t in statuses:
        console.print(text_of((t.target.label, "bold")))
        if t.error is not None:
            lines = hanging(INDENT, "error: ", t.error, w, "red")
        elif not t.registries:
            lines = [text_of(("  (no registry secrets)", ""))]
        else:
            lines = _target_lines(t, w)
        for line in lines:
            console.print(line)
        console.print()
    c = _counts(statuses)
    summary = (
        f"Status: {plural(c['targets'], 'target')}, {plural(c['registries'], 'registry')}; "
        f"{plural(c['missing'], 'secret')} missing, {plural(c['due'], 'rotation')} due, "
        f"{c['expired']} expired."
    )
    if c["unreadable"]:
        summary += f" {plural(c['unreadable'], 'target')} could not be read."
    bad = c["missing"] or c["due"] or c["expired"] or c["unreadable"]
    for line in hanging(0, "", summary, w, "bold yellow" if bad else "bold"):
        console.print(line)
