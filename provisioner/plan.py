"""The plan: a pure diff of desired secrets against what GitHub has and what state recorded.

``diff`` takes plain values (desired, observed, state, now) and one callable that tells
whether a desired value still matches its state fingerprint (called only when the plan
needs to know, so sources are read lazily). No clock, no network, no environment.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal as Lit
from typing import NamedTuple

from provisioner.desired import DesiredSecret
from provisioner.domain import (
    ObservedSecret,
    ObservedTarget,
    Selection,
    StateEntry,
    StateKey,
    TargetRef,
    last_written,
)
from provisioner.naming import parse_registry_secret
from provisioner.safety import MassDelete, check_invariants, mass_deletes, within_capacity

Action = Lit["create", "update", "delete"]
Reason = Lit[
    "missing",
    "rotation-due",
    "value-changed",
    "drift",
    "value-unknown",
    "visibility-changed",
    "repositories-changed",
    "not-desired",
    "prune",
]
REASONS: tuple[Reason, ...] = typing.get_args(Reason)
"""The reasons in the order a change lists them."""
POLICY_ONLY = frozenset({"repositories-changed"})
NEW_VALUE: frozenset[Reason] = frozenset({"value-changed", "value-unknown", "rotation-due"})
"""Reasons of an update that may write a value unlike the one GitHub holds."""
EXPIRY_MARGIN = timedelta(hours=1)
"""A value recorded to expire (an ECR token) is rotation-due this long before it lapses."""


def _minus(these: Iterable[str] | None, those: Iterable[str] | None) -> tuple[str, ...]:
    """``these`` not in ``those`` (names fold case, as GitHub's do); empty if either is unknown."""
    if these is None or those is None:
        return ()
    known = {r.lower() for r in those}
    return tuple(sorted({r.lower(): r for r in these if r.lower() not in known}.values()))


@dataclass(frozen=True)
class Change:
    """One write: create, update or delete one secret on one target."""

    action: Action
    target: TargetRef
    secret: str
    registry: str | None
    reasons: tuple[Reason, ...]
    visibility: str | None = None
    repositories: tuple[str, ...] | None = None
    desired: DesiredSecret | None = None
    age: timedelta | None = None
    blocked: str | None = None
    """Why this change must not be carried out (a value of its registry cannot be read:
    a registry's three secrets are written together or not at all)."""
    previous_visibility: str | None = None
    previous_repositories: tuple[str, ...] | None = None
    """An update's policy as GitHub has it now (None: none, or not read), for the plan's diff."""
    previous_updated_at: datetime | None = None
    """An update's updated_at as GitHub has it now: what the state records for a write whose
    own updated_at could not be read back (any later write, ours or not, is newer)."""

    @property
    def repositories_added(self) -> tuple[str, ...]:
        """Repositories this change gives access to that GitHub does not list now."""
        return _minus(self.repositories, self.previous_repositories)

    @property
    def repositories_removed(self) -> tuple[str, ...]:
        """Repositories GitHub lists now that this change takes access from."""
        return _minus(self.previous_repositories, self.repositories)

    @property
    def rewrites_for_policy(self) -> bool:
        """A policy-only update that still writes a fresh value (a rotating secret, see
        :attr:`writes_value`): the plan says why, since its reasons alone do not."""
        return self.action == "update" and set(self.reasons) <= POLICY_ONLY and self.writes_value

    @property
    def writes_value(self) -> bool:
        """Whether applying needs the value (a policy-only change uses set-repositories)."""
        if self.action == "delete":
            return False
        if self.action == "create" or not set(self.reasons) <= POLICY_ONLY:
            return True
        # GitHub bumps updated_at on a repositories change, so a rotating secret gets a
        # fresh value too: its timestamp stays an honest issue time.
        return self.desired is not None and self.desired.rotate_after is not None


@dataclass(frozen=True)
class Unmanaged:
    """A registry secret on a configured target that this config does not manage."""

    target: TargetRef
    secret: str


class TargetFailure(NamedTuple):
    """A target the plan cannot change: it could not be read, or a check refused it."""

    target: TargetRef
    message: str


class ValueProblem(NamedTuple):
    """A value some changes would write that cannot be read or is too large."""

    message: str
    secrets: tuple[StateKey, ...]


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    unchanged: int = 0
    failed_targets: tuple[TargetFailure, ...] = ()
    forget: tuple[StateKey, ...] = ()
    """State entries whose secret is gone and no longer desired (dropped on apply)."""
    value_errors: tuple[ValueProblem, ...] = ()
    """Values a change would write that cannot be read or are too large: (message, secrets)."""
    warnings: tuple[str, ...] = ()
    """Things the user should know that block nothing (a state entry that is no registry
    secret, ignored)."""
    mass_deletes: tuple[MassDelete, ...] = ()
    """Targets past the safety valve (see :data:`MASS_DELETE_SHARE`)."""
    prune: bool = False
    """Computed with --prune: its unmanaged secrets are deleted, so renderers drop the hint."""

    @property
    def has_errors(self) -> bool:
        return bool(self.failed_targets or self.value_errors)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


EVERYTHING = Selection()
ValueCheck = Callable[[DesiredSecret, StateEntry], bool | None]
"""Whether the desired value is the one the state's fingerprint records; None when the value
cannot be read to tell (the change then plans as ``value-unknown`` and the read error, which
the plan reports naming the secret, keeps it and its registry's other secrets unwritten)."""


def _same_repos(a: Iterable[str], b: Iterable[str]) -> bool:
    return sorted(x.lower() for x in a) == sorted(x.lower() for x in b)


def _policy_reasons(d: DesiredSecret, o: ObservedSecret) -> list[Reason]:
    reasons: list[Reason] = []
    if d.target.scope == "org" and d.access.visibility != o.visibility:
        reasons.append("visibility-changed")
    elif d.repositories is not None and not _same_repos(d.repositories, o.repositories or ()):
        reasons.append("repositories-changed")
    return reasons


def _update_reasons(
    d: DesiredSecret,
    o: ObservedSecret,
    s: StateEntry | None,
    now: datetime,
    same_value: ValueCheck,
    force_rotate: bool = False,
) -> tuple[list[Reason], timedelta | None]:
    reasons: list[Reason] = []
    age: timedelta | None = None
    if d.rotate_after is not None:
        age = now - last_written(o, s)[0]
        lapsing = s is not None and s.expires_at is not None and now >= s.expires_at - EXPIRY_MARGIN
        if force_rotate or age >= d.rotate_after or lapsing:
            reasons.append("rotation-due")
    if s is not None and o.updated_at > s.updated_at:
        reasons.append("drift")
    if d.rotate_after is None and (s is None or s.fingerprint is None):
        reasons.append("value-unknown")
    if s is not None and s.fingerprint is not None and not reasons and d.rotate_after is None:
        same = same_value(d, s)
        if same is None:
            reasons.append("value-unknown")
        elif not same:
            reasons.append("value-changed")
    reasons.extend(_policy_reasons(d, o))
    return sorted(reasons, key=REASONS.index), age


def _change(
    action: Action,
    d: DesiredSecret,
    reasons: Sequence[Reason],
    age: timedelta | None = None,
    previous: ObservedSecret | None = None,
) -> Change:
    return Change(
        action=action,
        target=d.target,
        secret=d.name,
        registry=d.registry,
        reasons=tuple(reasons),
        visibility=d.access.visibility if d.target.scope == "org" else None,
        repositories=d.repositories,
        desired=d,
        age=age,
        previous_visibility=None if previous is None else previous.visibility,
        previous_repositories=None if previous is None else previous.repositories,
        previous_updated_at=None if previous is None else previous.updated_at,
    )


def diff(
    desired: Sequence[DesiredSecret],
    observed: Mapping[TargetRef, ObservedTarget],
    state: Mapping[StateKey, StateEntry],
    now: datetime,
    same_value: ValueCheck,
    *,
    configured: Iterable[TargetRef] = (),
    selection: Selection = EVERYTHING,
    prune: bool = False,
    force_rotate: bool = False,
) -> Plan:
    """Compare ``desired`` (the whole config) with ``observed`` and ``state``.

    The README's plan semantics table is its truth table.

    Only targets present in ``observed`` are planned; ``selection`` narrows the changes to
    the --target/--registry filters without ever turning a filtered-out secret into a delete.
    """
    changes: list[Change] = []
    unmanaged: list[Unmanaged] = []
    forget: list[StateKey] = []
    warnings: list[str] = []
    unchanged = 0
    wanted = {d.key for d in desired}

    def selected(target: TargetRef, name: str, registry: str | None) -> bool:
        parsed = parse_registry_secret(name)
        registry_id = registry or (parsed[0] if parsed else None)
        return selection.wants_target(target) and selection.wants_registry(registry_id)

    failed = [TargetFailure(t, o.error) for t, o in sorted(observed.items()) if o.error is not None]
    decided: list[tuple[DesiredSecret, ObservedSecret, list[Reason], timedelta | None]] = []
    for d in desired:
        target = observed.get(d.target)
        if target is None or target.error is not None or not selected(d.target, d.name, d.registry):
            continue
        o = target.secrets.get(d.name)
        if o is None:
            changes.append(_change("create", d, ["missing"]))
            continue
        reasons, age = _update_reasons(d, o, state.get(d.key), now, same_value, force_rotate)
        decided.append((d, o, reasons, age))
    # A value bound to its SERVER (an ECR token) is rewritten with a SERVER the state says
    # changed: a token minted for the old registry would not log in to the new one. (A SERVER
    # that cannot be compared, as in a scheduled run without a state, leaves the token to
    # its age: that run must not mint a token every time.)
    new_servers = {
        (d.target, d.registry)
        for d, _, reasons, _ in decided
        if d.part == "SERVER" and "value-changed" in reasons
    }
    for d, o, reasons, age in decided:
        follows = d.server_bound and (d.target, d.registry) in new_servers
        if follows and not NEW_VALUE.intersection(reasons):
            reasons = sorted([*reasons, "value-changed"], key=REASONS.index)
        if reasons:
            changes.append(_change("update", d, reasons, age, o))
        else:
            unchanged += 1

    for key, entry in sorted(state.items()):
        target_ref, name = key
        target = observed.get(target_ref)
        if key in wanted or target is None or target.error is not None:
            continue
        if not selected(target_ref, name, entry.registry):
            continue
        if parse_registry_secret(name) is None:
            # Whatever the state says, only registry secrets are ever deleted.
            warnings.append(
                f"{target_ref.label} {name}: the state lists it, but it is not a "
                "*_CONTAINER_REGISTRY_{SERVER,USER,PASSWORD} secret; ignored (never deleted)"
            )
            continue
        if name in target.secrets:
            changes.append(Change("delete", target_ref, name, entry.registry, ("not-desired",)))
        else:
            forget.append(key)

    managed = wanted | set(state)
    for target_ref in sorted(set(configured)):
        target = observed.get(target_ref)
        if target is None or target.error is not None:
            continue
        for name in sorted(target.secrets):
            parsed = parse_registry_secret(name)
            if parsed is None or (target_ref, name) in managed:
                continue
            if not selected(target_ref, name, None):
                continue
            unmanaged.append(Unmanaged(target_ref, name))
            if prune:
                changes.append(Change("delete", target_ref, name, parsed[0], ("prune",)))

    changes.sort(key=lambda c: (c.target, c.secret))
    check_invariants(changes)
    changes, over = within_capacity(changes, observed)
    return Plan(
        changes=tuple(changes),
        unmanaged=tuple(unmanaged),
        unchanged=unchanged,
        failed_targets=tuple(sorted([*failed, *(TargetFailure(t, m) for t, m in over)])),
        forget=tuple(forget),
        warnings=tuple(warnings),
        mass_deletes=mass_deletes(changes, observed, managed),
        prune=prune,
    )
