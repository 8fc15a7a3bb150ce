"""Text fits the console: at any width no line is longer, except a single word too long for
it, and no word is ever cut. Plan, status, doctor and the apply report, at 40 to 200 columns."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable

import pytest

from provisioner.apply import Outcome, Report
from provisioner.plan import Change, Plan
from provisioner.render import doctor as render_doctor
from provisioner.render import plan as render_plan
from provisioner.render import status as render_status
from provisioner.render import text as render_text
from tests.test_render import ORG, a_plan, some_checks, some_statuses

WIDTHS = [40, 60, 80, 120, 200]
MARKERS = ("+", "-", "~")
Draw = Callable[[io.StringIO, int], None]


def a_report() -> Report:
    plan = a_plan()
    error = "org:octo-org: permission denied: the token lacks the admin:org scope (403)"
    return Report(
        (
            Outcome(plan.changes[0], "ok"),
            Outcome(plan.changes[1], "failed", error),
            Outcome(plan.changes[3], "not-attempted"),
        )
    )


DRAWINGS: dict[str, Draw] = {
    "plan": lambda out, width: render_plan.write_plan(a_plan(), out, width=width),
    "status": lambda out, width: render_status.write_status(some_statuses(), out, width=width),
    "doctor": lambda out, width: render_doctor.write_doctor(some_checks(), out, width=width),
    "report": lambda out, width: render_plan.write_report(a_report(), out, width=width),
}


def drawn(name: str, width: int) -> list[str]:
    out = io.StringIO()
    DRAWINGS[name](out, width)
    return out.getvalue().splitlines()


def words(lines: list[str]) -> Counter[str]:
    return Counter(word for line in lines for word in line.split())


def one_word(line: str) -> bool:
    """A line that cannot be broken: one word (after a diff or plan marker, if any)."""
    parts = line.split()
    if parts and parts[0] in MARKERS:
        parts = parts[1:]
    return len(parts) <= 1


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_no_line_is_wider_than_the_console_but_a_single_word(name: str, width: int) -> None:
    lines = drawn(name, width)
    too_wide = [line for line in lines if len(line) > width and not one_word(line)]
    assert too_wide == [], "\n".join(lines)
    assert all(line == line.rstrip() for line in lines)  # no trailing blanks to grep around


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["plan", "doctor", "report"])
def test_wrapping_never_cuts_a_word(name: str, width: int) -> None:
    # The same words as on a console wide enough for every line: only the spacing differs.
    assert words(drawn(name, width)) == words(drawn(name, 1000))


@pytest.mark.parametrize("width", WIDTHS)
def test_status_keeps_every_name_whole(width: int) -> None:
    found = words(drawn("status", width))
    for name in ("ECR_CONTAINER_REGISTRY_PASSWORD", "octo-org/svc-notifications", "12h"):
        assert found[name] >= 1 or found[name + ","] >= 1, name


def test_a_word_longer_than_the_console_overflows_whole() -> None:
    name = "A_REGISTRY_WITH_A_VERY_LONG_IDENTIFIER_CONTAINER_REGISTRY_PASSWORD"
    plan = Plan(changes=(Change("create", ORG, name, "A", ("missing",), "all", None),))
    lines = drawn_plan(plan, 40)
    (line,) = [line for line in lines if name in line]
    assert line == f"  + {name}"
    assert any(line.strip() == "(missing)" for line in lines)


def drawn_plan(plan: Plan, width: int) -> list[str]:
    out = io.StringIO()
    render_plan.write_plan(plan, out, width=width)
    return out.getvalue().splitlines()


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("", 10, [""]),
        ("one two three", 7, ["one two", "three"]),
        ("one two three", 100, ["one two three"]),
        ("averyveryverylongword x", 5, ["averyveryverylongword", "x"]),
        ("a  b", 10, ["a b"]),
    ],
)
def test_wrap_breaks_only_between_words(text: str, width: int, expected: list[str]) -> None:
    assert render_text.wrap(text, width) == expected


def test_the_width_comes_from_columns_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "64")
    assert render_text.make_console(io.StringIO()).width == 64
    assert render_text.make_console(io.StringIO(), width=90).width == 90
    out = io.StringIO()
    render_plan.write_plan(a_plan(), out)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 64
    assert max(len(line) for line in drawn("plan", 200)) > 64  # it would not fit otherwise
