"""The plan as GitHub-flavoured Markdown: for pull-request comments and ``$GITHUB_STEP_SUMMARY``.

A summary line, one table per target (secret, action, reasons, policy), then the unmanaged
secrets, warnings and errors as lists. Written straight to the stream, never through Rich:
no ANSI code can reach it, terminal or not. Every text from the config or GitHub is escaped,
so a pipe never ends a cell early and no name turns into markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import TextIO

from provisioner.plan import Change, Plan
from provisioner.render.plan import reasons_text, summary_line

TITLE = "### provision plan"
SPECIALS = frozenset("\\`*_[]<>|#~&")
"""Markdown punctuation escaped in plain text (a backslash makes each one literal)."""


def escape(text: str) -> str:
    """``text`` as literal Markdown on one line (a line break would end a table row)."""
    flat = " ".join(text.split())
    return "".join(f"\\{ch}" if ch in SPECIALS else ch for ch in flat)


def code(text: str) -> str:
    """``text`` as a code span; in a table a pipe still needs its backslash (GFM reads the
    row's pipes before the spans). A name with a backtick is escaped plain text instead."""
    flat = " ".join(text.split())
    if "`" in flat or not flat:
        return escape(flat)
    return "`" + flat.replace("|", "\\|") + "`"


def _names(repositories: Iterable[str]) -> str:
    return ", ".join(code(r) for r in repositories) or "(none)"


def _policy(change: Change) -> str:
    """What a change does to the access policy: for a repositories change the repositories
    it adds and removes, else the whole policy it sets (every org write carries it)."""
    if change.action == "delete" or change.target.scope == "repository":
        return ""
    if "repositories-changed" in change.reasons and change.previous_repositories is not None:
        parts = [f"adds {_names(change.repositories_added)}"] if change.repositories_added else []
        if change.repositories_removed:
            parts.append(f"removes {_names(change.repositories_removed)}")
        return "; ".join(parts)
    parts = []
    if change.target.scope == "org" and change.visibility is not None:
        visibility = code(change.visibility)
        if "visibility-changed" in change.reasons and change.previous_visibility is not None:
            visibility = f"{code(change.previous_visibility)} → {visibility}"
        parts.append(f"visibility {visibility}")
    if change.repositories is not None:
        parts.append(f"repositories {_names(change.repositories)}")
    return "; ".join(parts)


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _tables(plan: Plan) -> Iterator[str]:
    for target, changes in groupby(plan.changes, key=lambda c: c.target):
        yield f"#### {escape(target.label)}"
        yield ""
        yield _row(["secret", "action", "reasons", "policy"])
        yield _row(["---"] * 4)
        for c in changes:
            yield _row([code(c.secret), c.action, escape(reasons_text(c)), _policy(c)])
        yield ""


def _unmanaged(plan: Plan) -> Iterator[str]:
    if not plan.unmanaged:
        return
    yield "#### Unmanaged registry secrets"
    yield ""
    if not plan.prune:
        yield "Not managed by this config: deleted only with `--prune`."
        yield ""
    for u in plan.unmanaged:
        yield f"- {escape(u.target.label)} {code(u.secret)}"
    yield ""


def _problems(plan: Plan) -> Iterator[str]:
    warnings = [*plan.warnings, *(m.message for m in plan.mass_deletes)]
    errors = [m if m.startswith(t.label) else f"{t.label}: {m}" for t, m in plan.failed_targets]
    errors += [
        f"{t.label} {name}: {message}" for message, keys in plan.value_errors for t, name in keys
    ]
    for title, items in (("Warnings", warnings), ("Errors", errors)):
        if items:
            yield f"#### {title}"
            yield ""
            yield from (f"- {escape(item)}" for item in items)
            yield ""


def write_markdown(plan: Plan, out: TextIO) -> None:
    """The whole plan as Markdown (no hint to pass --prune when the plan was made with it)."""
    lines = [TITLE, "", f"**{escape(summary_line(plan))}**", ""]
    lines += [*_tables(plan), *_unmanaged(plan), *_problems(plan)]
    while lines and not lines[-1]:
        lines.pop()
    out.write("\n".join(lines) + "\n")
