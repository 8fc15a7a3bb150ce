"""The core of ``plan`` and ``apply``: config -> desired -> observed -> plan -> apply.

Plain functions over their collaborators (client, resolver, state), which the CLI builds
through one factory and tests replace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from provisioner import crypto, desired
from provisioner.config import Config
from provisioner.desired import DesiredSecret, Selection, TargetRef
from provisioner.errors import GitHubError
from provisioner.github.client import GitHubClient
from provisioner.observe import observe
from provisioner.plan import Change, ObservedTarget, Plan, StateEntry, StateKey, diff
from provisioner.repos import RepoIndex
from provisioner.sources import Resolver


@dataclass
class Run:
    """Everything one plan/apply run needs, built once by the CLI's factory."""

    config: Config
    client: GitHubClient
    resolver: Resolver
    state: dict[StateKey, StateEntry]
    selection: Selection = field(default_factory=Selection)
    now: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    index: RepoIndex | None = None

    def repo_index(self) -> RepoIndex:
        if self.index is None:
            self.index = RepoIndex(self.client)
        return self.index


def targets_to_observe(run: Run) -> list[TargetRef]:
    """Configured targets and targets known only from state (removed from the config)."""
    configured = [TargetRef.of(t) for t in run.config.targets]
    from_state = sorted({target for target, _ in run.state} - set(configured))
    return [t for t in dict.fromkeys([*configured, *from_state]) if run.selection.wants_target(t)]


def _resolve_access(
    run: Run, wanted: Sequence[DesiredSecret], targets: set[TargetRef]
) -> tuple[list[DesiredSecret], dict[TargetRef, str]]:
    """Expand each observed target's repository patterns (globs list the owner once)."""
    index = run.repo_index()
    expanded: dict[TargetRef, tuple[str, ...] | None] = {}
    failed: dict[TargetRef, str] = {}
    out: list[DesiredSecret] = []
    for d in wanted:
        if d.target not in targets or d.target in failed:
            out.append(d)
            continue
        if d.target not in expanded:
            try:
                patterns = d.access.patterns
                expanded[d.target] = None if patterns is None else index.expand(d.target, patterns)
            except GitHubError as e:
                failed[d.target] = str(e)
                out.append(d)
                continue
        out.append(replace(d, repositories=expanded[d.target]))
    return out, failed


def make_plan(run: Run, *, prune: bool = False, force_rotate: bool = False) -> Plan:
    """Read GitHub (and only the sources the plan needs) and compute the plan."""
    targets = targets_to_observe(run)
    wanted, failed = _resolve_access(run, desired.build(run.config), set(targets))
    index = run.repo_index()
    observed = observe(run.client, index, [t for t in targets if t not in failed], wanted)
    for target, message in failed.items():
        observed[target] = ObservedTarget(target=target, error=message)

    def same_value(d: DesiredSecret, s: StateEntry) -> bool:
        return crypto.matches(run.resolver.resolve(d.value), s.fingerprint)

    plan = diff(
        wanted,
        observed,
        run.state,
        run.now(),
        same_value,
        configured=[TargetRef.of(t) for t in run.config.targets],
        selection=run.selection,
        prune=prune,
        force_rotate=force_rotate,
    )
    return _check_repositories(run, plan)


def _check_repositories(run: Run, plan: Plan) -> Plan:
    """Resolve the IDs the writes will need now, so an unknown repository fails the plan."""
    index = run.repo_index()
    bad: dict[TargetRef, str] = {}
    for change in plan.changes:
        if change.repositories is None or change.action == "delete" or change.target in bad:
            continue
        try:
            index.ids(change.target, change.repositories)
        except GitHubError as e:
            bad[change.target] = str(e)
    if not bad:
        return plan
    kept: tuple[Change, ...] = tuple(c for c in plan.changes if c.target not in bad)
    return replace(
        plan,
        changes=kept,
        failed_targets=tuple(sorted([*plan.failed_targets, *bad.items()])),
    )
