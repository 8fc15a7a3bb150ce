"""``plan --format markdown``: a summary, a table per target, unmanaged secrets and problems;
never an ANSI code; nothing from the config or GitHub can break a table or become markup."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest

from provisioner.domain import TargetRef
from provisioner.plan import Change, MassDelete, Plan
from provisioner.render.markdown import code, escape, write_markdown
from tests.test_render import ORG, SNAPSHOTS, Tty, a_plan

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def markdown(plan: Plan) -> str:
    out = io.StringIO()
    write_markdown(plan, out)
    return out.getvalue()


def test_markdown_snapshot() -> None:
    expected = (SNAPSHOTS / "plan.md").read_text()
    assert markdown(a_plan()) == expected, markdown(a_plan())


def test_one_table_per_target_with_the_four_columns() -> None:
    text = markdown(a_plan())
    assert text.count("| secret | action | reasons | policy |") == 3
    assert "#### org:octo-org" in text and "#### user:octocat" in text
    assert "| `ACR_CONTAINER_REGISTRY_USER` | update | repositories-changed | " in text
    assert "adds `octo-org/web`; removes `octo-org/old`" in text
    assert text.splitlines()[2] == "**Plan: 2 to create, 3 to update, 1 to delete.**"


def test_no_ansi_even_on_a_colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    tty = Tty()
    write_markdown(a_plan(), tty)
    assert "\x1b" not in tty.getvalue()


def test_pipes_and_markup_in_names_and_messages_are_escaped() -> None:
    odd = TargetRef("repository", "octo|org/we*ird_<b>")
    change = Change("create", odd, "X_CONTAINER_REGISTRY_USER", "X", ("missing",))
    plan = Plan(
        changes=(change,),
        failed_targets=((TargetRef("org", "broken"), "org:broken: 502 | <html> `oops`"),),
        mass_deletes=(MassDelete(ORG, 5, 10),),
    )
    text = markdown(plan)
    rows = [line for line in text.splitlines() if line.startswith("| `X_")]
    assert rows and all(len(UNESCAPED_PIPE.findall(row)) == 5 for row in rows)
    assert "#### repository:octo\\|org/we\\*ird\\_\\<b\\>" in text
    assert "- org:broken: 502 \\| \\<html\\> \\`oops\\`" in text
    assert "#### Warnings" in text and "--allow-mass-delete" in text
    assert escape("a\nb | c") == "a b \\| c"
    assert code("a|b") == "`a\\|b`" and code("a`b") == "a\\`b"


def test_errors_name_each_secret_a_value_is_missing_for() -> None:
    plan = replace(
        a_plan(),
        value_errors=(("ACR_PASSWORD is not set", ((ORG, "ACR_CONTAINER_REGISTRY_PASSWORD"),)),),
    )
    text = markdown(plan)
    assert "#### Errors" in text
    assert "- org:octo-org ACR\\_CONTAINER\\_REGISTRY\\_PASSWORD: ACR\\_PASSWORD is not set" in text


def test_no_changes_and_the_prune_hint() -> None:
    assert markdown(Plan(unchanged=3)) == "### provision plan\n\n**No changes.**\n"
    assert "deleted only with `--prune`" in markdown(a_plan())
    assert "--prune" not in markdown(a_plan(prune=True))


def test_a_visibility_change_shows_both_visibilities() -> None:
    change = Change(
        "update",
        ORG,
        "ACR_CONTAINER_REGISTRY_USER",
        "ACR",
        ("visibility-changed",),
        "all",
        None,
        previous_visibility="private",
    )
    row = (
        "| `ACR_CONTAINER_REGISTRY_USER` | update | visibility-changed "
        "| visibility `private` → `all` |"
    )
    assert row in markdown(Plan(changes=(change,))).splitlines()
