"""Renderers for ``status`` and ``doctor``: text tables (through Rich) and JSON documents.

Like the plan's renderers: plain values in, an injected stream out, the same characters with
or without colour. Never a value: only names, ages, policies and check messages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.render import (
    FORMAT_VERSION,
    Cell,
    age_text,
    columns,
    make_console,
    period_text,
    plural,
    write_json,
)
from provisioner.status import RegistryStatus, SecretStatus, TargetStatus

if TYPE_CHECKING:
    from provisioner.doctor import Check

__all__ = ["doctor_data", "status_data", "write_doctor", "write_json", "write_status"]

ROTATION_STYLES = {"ok": "green", "due": "yellow", "expired": "bold red", "missing": "red"}
CHECK_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}
HEADER = ("REGISTRY", "SECRET", "EXISTS", "AGE", "MANAGED", "POLICY", "ROTATION")


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


def _policy(target_scope: str, s: SecretStatus) -> str:
    if not s.exists or target_scope == "repository":
        return "-"
    if target_scope == "user":
        return ", ".join(s.repositories or ()) or "(no repositories)"
    if s.visibility == "selected" and s.repositories is not None:
        return f"selected: {', '.join(s.repositories) or '(none)'}"
    return s.visibility or "-"


def _rotation_cell(r: RegistryStatus) -> Cell:
    if r.rotation is None:
        return ("", "")
    style = ROTATION_STYLES[r.rotation]
    assert r.rotate_after is not None
    every = f"every {period_text(r.rotate_after)}"
    due_in = r.due_in
    if r.rotation == "missing":
        return (f"missing ({every})", style)
    if r.rotation == "expired":
        return (f"expired: token older than {period_text(r.token_life or timedelta())}", style)
    if r.rotation == "due" and due_in is not None:
        return (f"due {age_text(-due_in)} ago ({every})", style)
    return (f"ok, due in {age_text(due_in or timedelta())} ({every})", style)


def _rows(scope: str, r: RegistryStatus) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    label = r.registry if r.desired else f"{r.registry} (not in config)"
    for i, s in enumerate(r.secrets):
        rows.append(
            [
                (label if i == 0 else "", "bold" if r.desired else "yellow"),
                (s.name, ""),
                ("yes", "green") if s.exists else ("no", "red"),
                (age_text(s.age) if s.age is not None else "-", ""),
                ("yes", "") if s.managed else ("no", "yellow" if s.exists else ""),
                (_policy(scope, s), "dim"),
                _rotation_cell(r) if s.part == "PASSWORD" else ("", ""),
            ]
        )
    return rows


def write_status(statuses: list[TargetStatus], out: TextIO, *, no_color: bool = False) -> None:
    """A table per target (one row per secret), then a one-line summary."""
    console = make_console(out, no_color=no_color)
    header: list[Cell] = [(h, "bold") for h in HEADER]
    for t in statuses:
        console.print(t.target.label, style="bold")
        if t.error is not None:
            console.print(f"  error: {t.error}", style="red")
        elif not t.registries:
            console.print("  (no registry secrets)")
        else:
            rows = [row for r in t.registries for row in _rows(t.target.scope, r)]
            for line in columns([header, *rows], indent="  "):
                console.print(line)
        console.print()
    c = _counts(statuses)
    summary = (
        f"Status: {plural(c['targets'], 'target')}, "
        f"{plural(c['registries'], 'registry', 'registries')}; "
        f"{plural(c['missing'], 'secret')} missing, {plural(c['due'], 'rotation')} due, "
        f"{c['expired']} expired."
    )
    if c["unreadable"]:
        summary += f" {plural(c['unreadable'], 'target')} could not be read."
    bad = c["missing"] or c["due"] or c["expired"] or c["unreadable"]
    console.print(summary, style="bold yellow" if bad else "bold")


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


def write_doctor(checks: list[Check], out: TextIO, *, no_color: bool = False) -> None:
    """One line per check (status, subject, message), a ``fix:`` line under each problem."""
    console = make_console(out, no_color=no_color)
    rows: list[list[Cell]] = [
        [
            (c.status.ljust(4), CHECK_STYLES[c.status]),
            (f"{c.check} {c.subject}".strip(), ""),
            (c.message, ""),
        ]
        for c in checks
    ]
    lines = columns(rows)
    for check, line in zip(checks, lines, strict=True):
        console.print(line)
        if check.fix and check.status != "ok":
            console.print(f"      fix: {check.fix}", style="dim")
    counts = doctor_data(checks)["summary"]
    summary = (
        f"Doctor: {counts['ok']} ok, {plural(counts['warn'], 'warning')}, {counts['fail']} failed."
    )
    console.print()
    console.print(summary, style="bold red" if counts["fail"] else "bold")
