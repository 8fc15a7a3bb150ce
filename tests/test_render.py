"""Rendering: the plan, the apply report, status and doctor as text (snapshots), colour rules,
and the progress bar (terminal only)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provisioner import render, render_status, status
from provisioner.apply import Outcome, Report
from provisioner.desired import Access, DesiredSecret, TargetRef
from provisioner.doctor import Check
from provisioner.plan import Change, ObservedSecret, ObservedTarget, Plan, StateEntry, Unmanaged
from provisioner.sources import EcrTokenPart

SNAPSHOTS = Path(__file__).parent / "snapshots"
ORG = TargetRef("org", "octo-org")
REPO = TargetRef("repository", "octo-org/legacy")
USER = TargetRef("user", "octocat")
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
ANSI = "\x1b["


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def snapshot(name: str, text: str) -> None:
    expected = (SNAPSHOTS / name).read_text()
    assert text == expected, f"{name} differs:\n{text}"


def a_plan() -> Plan:
    repos = ("octo-org/api", "octo-org/web")
    return Plan(
        changes=(
            Change(
                "create",
                ORG,
                "ACR_CONTAINER_REGISTRY_PASSWORD",
                "ACR",
                ("missing",),
                "selected",
                repos,
            ),
            Change(
                "update",
                ORG,
                "ACR_CONTAINER_REGISTRY_USER",
                "ACR",
                ("repositories-changed",),
                "selected",
                repos,
            ),
            Change(
                "update",
                ORG,
                "GAR_CONTAINER_REGISTRY_PASSWORD",
                "GAR",
                ("rotation-due",),
                "selected",
                repos,
                age=timedelta(hours=7, minutes=5),
            ),
            Change("delete", REPO, "OLD_CONTAINER_REGISTRY_USER", "OLD", ("prune",)),
        ),
        unmanaged=(Unmanaged(REPO, "OLD_CONTAINER_REGISTRY_USER"),),
        unchanged=5,
    )


def test_plan_snapshot() -> None:
    out = io.StringIO()
    render.write_plan(a_plan(), out)
    snapshot("plan.txt", out.getvalue())


def test_no_changes_is_one_line() -> None:
    out = io.StringIO()
    render.write_plan(Plan(unchanged=9), out)
    assert out.getvalue() == "No changes.\n"


def test_report_snapshot() -> None:
    plan = a_plan()
    report = Report(
        (
            Outcome(plan.changes[0], "ok"),
            Outcome(plan.changes[1], "failed", "org:octo-org: permission denied (403)"),
            Outcome(plan.changes[2], "not-attempted"),
            Outcome(plan.changes[3], "ok"),
        )
    )
    out = io.StringIO()
    render.write_report(report, out)
    snapshot("report.txt", out.getvalue())


def desired_for(
    target: TargetRef, registry: str, *, rotate: timedelta | None = None, ecr: bool = False
) -> list[DesiredSecret]:
    out = []
    for part in ("SERVER", "USER", "PASSWORD"):
        value: object = EcrTokenPart("us-east-1", None, part) if ecr else object()
        out.append(
            DesiredSecret(
                target,
                f"{registry}_CONTAINER_REGISTRY_{part}",
                registry,
                part,
                value,
                Access("selected" if target.scope == "org" else None),
                rotate if part == "PASSWORD" else None,
            )
        )
    return out


def some_statuses() -> list[status.TargetStatus]:
    desired = [
        *desired_for(ORG, "ACR"),
        *desired_for(ORG, "ECR", rotate=timedelta(hours=6), ecr=True),
        *desired_for(USER, "GAR", rotate=timedelta(minutes=45)),
        *desired_for(REPO, "HUB"),
    ]
    repos = ("octo-org/api", "octo-org/web")

    def seen(
        name: str, hours: float, visibility: str | None = None, r: tuple[str, ...] | None = None
    ) -> ObservedSecret:
        return ObservedSecret(name, NOW - timedelta(hours=hours), visibility, r)

    org_secrets = {
        n: seen(n, 2, "selected", repos)
        for n in (
            "ACR_CONTAINER_REGISTRY_SERVER",
            "ACR_CONTAINER_REGISTRY_USER",
            "ECR_CONTAINER_REGISTRY_SERVER",
            "ECR_CONTAINER_REGISTRY_USER",
            "ECR_CONTAINER_REGISTRY_PASSWORD",
        )
    }
    user_secrets = {
        n: seen(n, 1, None, ("octo-org/api",))
        for n in (
            "GAR_CONTAINER_REGISTRY_SERVER",
            "GAR_CONTAINER_REGISTRY_USER",
            "GAR_CONTAINER_REGISTRY_PASSWORD",
        )
    }
    observed = {
        ORG: ObservedTarget(ORG, org_secrets),
        USER: ObservedTarget(USER, user_secrets),
        REPO: ObservedTarget(REPO, error="repository:octo-org/legacy: 404: not found"),
    }
    state = {
        (ORG, "ECR_CONTAINER_REGISTRY_PASSWORD"): StateEntry("fp", NOW - timedelta(hours=13)),
        (ORG, "ACR_CONTAINER_REGISTRY_SERVER"): StateEntry("fp", NOW - timedelta(hours=2)),
    }
    return status.build(desired, observed, state, NOW)


def test_status_snapshot() -> None:
    out = io.StringIO()
    render_status.write_status(some_statuses(), out)
    snapshot("status.txt", out.getvalue())


def some_checks() -> list[Check]:
    return [
        Check("token", "", "ok", "classic token from GH_TOKEN; scopes: admin:org, repo"),
        Check(
            "target",
            "user:octocat",
            "fail",
            "user:octocat: permission denied: the token lacks the codespace scope",
            "give the token the codespace or codespace:secrets scope",
        ),
        Check(
            "shadow",
            "ACR_CONTAINER_REGISTRY_*",
            "warn",
            "repository:octo-org/api shadows org:octo-org in octo-org/api",
            "keep these secrets at one level only",
        ),
        Check(
            "registry",
            "ACR",
            "fail",
            "login failed: 127.0.0.1:5000 rejected the credentials (HTTP 401)",
            "check the username and password sources of ACR",
        ),
        Check("registry", "GHCR", "warn", "ghcr.io needs no secrets", "use package settings"),
    ]


def test_doctor_snapshot() -> None:
    out = io.StringIO()
    render_status.write_doctor(some_checks(), out)
    snapshot("doctor.txt", out.getvalue())


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    tty = Tty()
    render.write_plan(a_plan(), tty)
    coloured = tty.getvalue()
    assert ANSI in coloured
    plain = io.StringIO()
    render.write_plan(a_plan(), plain)  # not a terminal
    assert ANSI not in plain.getvalue()
    flag = Tty()
    render.write_plan(a_plan(), flag, no_color=True)
    assert ANSI not in flag.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    env = Tty()
    render_status.write_doctor(some_checks(), env)
    assert ANSI not in env.getvalue()
    # Same characters with and without colour.
    assert flag.getvalue() == plain.getvalue()


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    with render.progress("Reading GitHub", 3, stream=pipe) as advance:
        advance()
    assert pipe.getvalue() == ""
    tty = Tty()
    with render.progress("Reading GitHub", 3, stream=tty) as advance:
        for _ in range(3):
            advance()
    assert "Reading GitHub" in tty.getvalue()
    quiet = Tty()
    with render.progress("Reading GitHub", 3, stream=quiet, enabled=False) as advance:
        advance()
    assert quiet.getvalue() == ""


def test_plan_json_is_unchanged_by_rendering() -> None:
    data = render.plan_data(a_plan())
    assert data["changes"][0] == {
        "action": "create",
        "scope": "org",
        "target": "octo-org",
        "secret": "ACR_CONTAINER_REGISTRY_PASSWORD",
        "registry": "ACR",
        "reasons": ["missing"],
        "visibility": "selected",
        "repositories": ["octo-org/api", "octo-org/web"],
    }
    assert data["summary"] == {"create": 1, "update": 2, "delete": 1, "unchanged": 5}
