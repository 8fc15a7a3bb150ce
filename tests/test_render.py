"""Rendering: the plan, the apply report, status and doctor as text (snapshots), colour rules,
and the progress bar (terminal only)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provisioner import status
from provisioner.apply import Outcome, Report
from provisioner.desired import Access, DesiredSecret
from provisioner.doctor.checks import Check
from provisioner.domain import ObservedSecret, ObservedTarget, StateEntry, TargetRef
from provisioner.plan import Change, Plan, Unmanaged
from provisioner.render import doctor as render_doctor
from provisioner.render import plan as render_plan
from provisioner.render import status as render_status
from provisioner.render import text as render_text
from provisioner.sources import EcrTokenPart

SNAPSHOTS = Path(__file__).parent / "snapshots"
ORG = TargetRef("org", "octo-org")
REPO = TargetRef("repository", "octo-org/legacy")
USER = TargetRef("user", "octocat")
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
ANSI = "\x1b["
H6 = timedelta(hours=6)
SERVICES = ("auth", "billing", "checkout", "search", "payments", "notifications")
WIDTH = 80
"""The snapshots' width (the tool's own default without a terminal or COLUMNS)."""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def snapshot(name: str, text: str) -> None:
    expected = (SNAPSHOTS / name).read_text()
    assert text == expected, f"{name} differs:\n{text}"


def rotating(target: TargetRef, name: str) -> DesiredSecret:
    """A desired PASSWORD that rotates (what makes a policy change rewrite its value)."""
    return DesiredSecret(target, name, name.split("_")[0], "PASSWORD", object(), Access(), H6)


def a_plan(*, prune: bool = False) -> Plan:
    repos = ("octo-org/api", "octo-org/web")
    many = ("octo-org/api", "octocat/dotfiles", *(f"octo-org/svc-{n}" for n in SERVICES))
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
                previous_visibility="selected",
                previous_repositories=("octo-org/api", "octo-org/old"),
            ),
            Change(
                "update",
                ORG,
                "ECR_CONTAINER_REGISTRY_PASSWORD",
                "ECR",
                ("repositories-changed",),
                "selected",
                repos,
                desired=rotating(ORG, "ECR_CONTAINER_REGISTRY_PASSWORD"),
                previous_visibility="selected",
                previous_repositories=("octo-org/api",),
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
            Change(
                "create", USER, "HUB_CONTAINER_REGISTRY_SERVER", "HUB", ("missing",), None, many
            ),
        ),
        unmanaged=(Unmanaged(REPO, "OLD_CONTAINER_REGISTRY_USER"),),
        unchanged=5,
        prune=prune,
    )


def test_plan_snapshot() -> None:
    out = io.StringIO()
    render_plan.write_plan(a_plan(), out, width=WIDTH)
    snapshot("plan.txt", out.getvalue())


def test_no_changes_is_one_line() -> None:
    out = io.StringIO()
    render_plan.write_plan(Plan(unchanged=9), out)
    assert out.getvalue() == "No changes.\n"


def test_report_snapshot() -> None:
    plan = a_plan()
    report = Report(
        (
            Outcome(plan.changes[0], "ok"),
            Outcome(plan.changes[1], "failed", "org:octo-org: permission denied (403)"),
            Outcome(plan.changes[3], "not-attempted"),
            Outcome(plan.changes[4], "ok"),
        )
    )
    out = io.StringIO()
    render_plan.write_report(report, out, width=WIDTH)
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
    repos = ("octo-org/api", "octo-org/web", *(f"octo-org/svc-{n}" for n in SERVICES))

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
    # One org secret drifted to another visibility: drawn under its own row.
    org_secrets["ACR_CONTAINER_REGISTRY_USER"] = seen("ACR_CONTAINER_REGISTRY_USER", 2, "all")
    user_secrets = {
        n: seen(n, 1, None, ("octo-org/api",))
        for n in (
            "GAR_CONTAINER_REGISTRY_SERVER",
            "GAR_CONTAINER_REGISTRY_USER",
            "GAR_CONTAINER_REGISTRY_PASSWORD",
        )
    }
    # A secret the config does not ask for: its repositories are never read (no policy shown).
    user_secrets["OLD_CONTAINER_REGISTRY_USER"] = seen("OLD_CONTAINER_REGISTRY_USER", 30)
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
    render_status.write_status(some_statuses(), out, width=WIDTH)
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
        Check(
            "target",
            "repository:octo-org/a-repository-with-a-long-name",
            "ok",
            "lists secrets and reads the public key",
        ),
    ]


def test_doctor_snapshot() -> None:
    out = io.StringIO()
    render_doctor.write_doctor(some_checks(), out, width=WIDTH)
    snapshot("doctor.txt", out.getvalue())


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    tty = Tty()
    render_plan.write_plan(a_plan(), tty)
    coloured = tty.getvalue()
    assert ANSI in coloured
    plain = io.StringIO()
    render_plan.write_plan(a_plan(), plain)  # not a terminal
    assert ANSI not in plain.getvalue()
    flag = Tty()
    render_plan.write_plan(a_plan(), flag, no_color=True)
    assert ANSI not in flag.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    env = Tty()
    render_doctor.write_doctor(some_checks(), env)
    assert ANSI not in env.getvalue()
    # Same characters with and without colour.
    assert flag.getvalue() == plain.getvalue()


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    with render_text.progress("Reading GitHub", 3, stream=pipe) as advance:
        advance()
    assert pipe.getvalue() == ""
    tty = Tty()
    with render_text.progress("Reading GitHub", 3, stream=tty) as advance:
        for _ in range(3):
            advance()
    assert "Reading GitHub" in tty.getvalue()
    quiet = Tty()
    with render_text.progress("Reading GitHub", 3, stream=quiet, enabled=False) as advance:
        advance()
    assert quiet.getvalue() == ""


def test_plan_json_is_unchanged_by_rendering() -> None:
    data = render_plan.plan_data(a_plan())
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
    assert data["summary"] == {"create": 2, "update": 3, "delete": 1, "unchanged": 5}
    # The policy diff and the rewrite note are text only: JSON keeps the documented keys.
    assert data["changes"][2]["reasons"] == ["repositories-changed"]
    assert set(data["changes"][1]) == set(data["changes"][0])


def plan_lines(plan: Plan, width: int = WIDTH) -> list[str]:
    out = io.StringIO()
    render_plan.write_plan(plan, out, width=width)
    return out.getvalue().splitlines()


def test_plan_shows_each_targets_policy_once_under_its_header() -> None:
    lines = plan_lines(a_plan())
    org = lines.index("org:octo-org")
    assert lines[org + 1 : org + 3] == [
        "  visibility: selected",
        "  repositories: octo-org/api, octo-org/web",
    ]
    assert sum("visibility:" in line for line in lines) == 1
    assert sum("repositories:" in line for line in lines) == 2  # the org's and the user's
    changes = [line for line in lines if line.startswith(("  + ", "  ~ ", "  - "))]
    assert changes and not [line for line in changes if "octo-org/api" in line]
    # A repository secret has no policy: nothing under its header but its change.
    legacy = lines.index("repository:octo-org/legacy")
    assert lines[legacy + 1].startswith("  - OLD_CONTAINER_REGISTRY_USER")


def test_a_change_with_its_own_policy_draws_it_under_itself() -> None:
    # One target twice in a config, with two policies: the odd one out says so where it is.
    base = a_plan().changes[0]
    other = Change("create", ORG, "ZED_CONTAINER_REGISTRY_USER", "ZED", ("missing",), "all", None)
    lines = plan_lines(Plan(changes=(base, other)))
    at = next(i for i, line in enumerate(lines) if "ZED_CONTAINER_REGISTRY_USER" in line)
    assert lines[at + 1] == "      visibility: all"
    assert lines[1] == "  visibility: selected"


def test_repository_changes_are_drawn_as_a_diff_against_github() -> None:
    lines = plan_lines(a_plan())
    at = next(i for i, line in enumerate(lines) if "~ ACR_CONTAINER_REGISTRY_USER" in line)
    assert lines[at + 1 : at + 3] == ["      + octo-org/web", "      - octo-org/old"]
    assert "octo-org/api" not in "".join(lines[at : at + 3])  # unchanged: not repeated
    # Names fold case as GitHub's do: a respelling is no change.
    respelt = Change(
        "update",
        ORG,
        "X_CONTAINER_REGISTRY_USER",
        "X",
        ("repositories-changed",),
        "selected",
        ("Octo-Org/API", "octo-org/new"),
        previous_repositories=("octo-org/api",),
    )
    assert (respelt.repositories_added, respelt.repositories_removed) == (("octo-org/new",), ())


def test_a_rotating_secrets_policy_change_says_its_value_is_rewritten() -> None:
    lines = plan_lines(a_plan(), width=120)
    (line,) = [line for line in lines if "~ ECR_CONTAINER_REGISTRY_PASSWORD" in line]
    assert line.endswith(f"(repositories-changed; {render_plan.REWRITE_NOTE})")
    (plain,) = [line for line in lines if "~ ACR_CONTAINER_REGISTRY_USER" in line]
    assert plain.endswith("(repositories-changed)")  # not rotating: set-repositories only


@pytest.mark.parametrize("prune", [False, True])
def test_the_prune_hint_only_without_prune(prune: bool) -> None:
    text = "\n".join(plan_lines(a_plan(prune=prune)))
    assert "Unmanaged registry secrets" in text
    assert ("deleted only with --prune" in text) is not prune


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [
        (1, "registry", "1 registry"),
        (2, "registry", "2 registries"),
        (0, "registry", "0 registries"),
        (1, "target", "1 target"),
        (3, "target", "3 targets"),
        (2, "key", "2 keys"),
        (2, "mouse", "2 mice"),
    ],
)
def test_plural(count: int, word: str, expected: str) -> None:
    words = "mice" if word == "mouse" else None
    assert render_text.plural(count, word, words) == expected


def test_plan_incomplete_counts_targets_in_words() -> None:
    one = Plan(failed_targets=((ORG, "boom"),))
    assert render_plan.summary_line(one).startswith("Plan incomplete: 1 target could not be read")


def status_text(statuses: list[status.TargetStatus], width: int = WIDTH) -> str:
    out = io.StringIO()
    render_status.write_status(statuses, out, width=width)
    return out.getvalue()


def user_status(repositories: tuple[str, ...] | None, *, desired: bool) -> str:
    name = "GAR_CONTAINER_REGISTRY_USER"
    secrets = {name: ObservedSecret(name, NOW - timedelta(hours=1), None, repositories)}
    wanted = desired_for(USER, "GAR") if desired else []
    return status_text(status.build(wanted, {USER: ObservedTarget(USER, secrets)}, {}, NOW))


def test_status_says_no_repositories_only_when_it_read_them() -> None:
    assert "  repositories: (none)" in user_status((), desired=True)
    assert "  repositories: octo-org/api" in user_status(("octo-org/api",), desired=True)
    never_read = user_status(None, desired=False)  # not in the config: never read
    assert "GAR (not in config)" in never_read
    assert "repositories" not in never_read and "(none)" not in never_read


def test_status_shows_the_policy_once_and_a_drifted_one_under_its_secret() -> None:
    lines = status_text(some_statuses()).splitlines()
    assert lines[1] == "  visibility: selected"
    assert lines[2].startswith("  repositories: octo-org/api, octo-org/web, octo-org/svc-auth")
    assert sum("visibility:" in line for line in lines) == 2
    at = next(i for i, line in enumerate(lines) if "ACR_CONTAINER_REGISTRY_USER" in line)
    assert lines[at + 1].strip() == "visibility: all"


def test_status_summary_counts_in_words() -> None:
    (one,) = status.build(desired_for(ORG, "ACR"), {ORG: ObservedTarget(ORG, {})}, {}, NOW)
    assert "Status: 1 target, 1 registry; 3 secrets missing" in status_text([one])


def test_rotation_beside_its_secret_when_the_console_is_wide_enough() -> None:
    wide = status_text(some_statuses(), width=120).splitlines()
    (row,) = [line for line in wide if "ECR_CONTAINER_REGISTRY_PASSWORD" in line]
    assert row.endswith("yes      expired, token older than 12h")
    assert any(line.rstrip().endswith("ROTATION") for line in wide)
    narrow = status_text(some_statuses(), width=80).splitlines()
    at = next(i for i, line in enumerate(narrow) if "ECR_CONTAINER_REGISTRY_PASSWORD" in line)
    assert narrow[at].endswith("13h0m  yes")
    assert narrow[at + 1].strip() == "rotation: expired, token older than 12h"
    assert not any("ROTATION" in line for line in narrow)


def test_doctor_caps_the_subject_column() -> None:
    out = io.StringIO()
    render_doctor.write_doctor(some_checks(), out, width=WIDTH)
    lines = out.getvalue().splitlines()
    long = next(i for i, line in enumerate(lines) if "a-repository-with-a-long-name" in line)
    assert lines[long].endswith("a-repository-with-a-long-name")  # its message moved down
    message_at = lines[0].index("classic token")
    assert lines[long + 1] == " " * message_at + "lists secrets and reads the public key"
    assert message_at <= 6 + render_doctor.SUBJECT_CAP + 2


def test_a_visibility_change_names_the_visibility_it_replaces() -> None:
    change = Change(
        "update",
        ORG,
        "ACR_CONTAINER_REGISTRY_USER",
        "ACR",
        ("visibility-changed",),
        "selected",
        ("octo-org/api",),
        previous_visibility="private",
    )
    lines = plan_lines(Plan(changes=(change,)))
    assert lines[1:4] == [
        "  visibility: selected",
        "  repositories: octo-org/api",
        "  ~ ACR_CONTAINER_REGISTRY_USER  (visibility-changed)",
    ]
    assert lines[4] == "      visibility: private -> selected"
