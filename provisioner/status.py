"""Status: what each target holds for each registry, how old it is, and whether it is stale.

Pure, like the plan: desired secrets, observed targets, state and now in; rows out. A secret's
age is the time since its value was last written, by the plan's own rule
(:func:`provisioner.plan.last_written`), so ``status`` calls due exactly what ``plan`` rotates.
An ECR authorization token cannot pull once it is 12 hours old, so a token PASSWORD that old
is ``expired``, not just ``due``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal as Lit

from provisioner.desired import DesiredSecret
from provisioner.domain import (
    ObservedTarget,
    Selection,
    StateEntry,
    StateKey,
    TargetRef,
    WrittenFrom,
    last_written,
)
from provisioner.hosts import ECR_TOKEN_LIFE
from provisioner.naming import SUFFIXES, parse_registry_secret, secret_name
from provisioner.plan import EVERYTHING, EXPIRY_MARGIN
from provisioner.sources import EcrTokenPart

Rotation = Lit["ok", "due", "expired", "missing"]
STALE: frozenset[str] = frozenset({"due", "expired"})
AgeFrom = WrittenFrom


@dataclass(frozen=True)
class SecretStatus:
    """One of a registry's three secrets on one target."""

    name: str
    part: str
    exists: bool
    managed: bool
    age: timedelta | None = None
    age_from: AgeFrom | None = None
    visibility: str | None = None
    repositories: tuple[str, ...] | None = None
    expires_at: datetime | None = None
    """When the value last written stops working, as the state recorded it (ECR tokens)."""


@dataclass(frozen=True)
class RegistryStatus:
    """A registry on a target; ``desired`` is False for leftovers the config no longer asks for."""

    registry: str
    secrets: tuple[SecretStatus, ...]
    desired: bool = True
    rotate_after: timedelta | None = None
    token_life: timedelta | None = None
    rotation: Rotation | None = None
    """None when the PASSWORD does not rotate."""

    @property
    def stale(self) -> bool:
        return self.rotation in STALE

    @property
    def due_in(self) -> timedelta | None:
        """Time left before rotation is due (negative when past due)."""
        password = self.secrets[-1]
        if self.rotate_after is None or password.age is None:
            return None
        return self.rotate_after - password.age


@dataclass(frozen=True)
class TargetStatus:
    target: TargetRef
    registries: tuple[RegistryStatus, ...] = ()
    error: str | None = None


def _secret(
    target: TargetRef,
    name: str,
    part: str,
    observed: ObservedTarget,
    state: Mapping[StateKey, StateEntry],
    now: datetime,
) -> SecretStatus:
    o = observed.secrets.get(name)
    s = state.get((target, name))
    if o is None:
        return SecretStatus(name, part, exists=False, managed=s is not None)
    written, age_from = last_written(o, s)
    return SecretStatus(
        name,
        part,
        exists=True,
        managed=s is not None,
        age=now - written,
        age_from=age_from,
        visibility=o.visibility,
        repositories=o.repositories,
        expires_at=None if s is None else s.expires_at,
    )


def _rotation(
    password: SecretStatus, rotate_after: timedelta, token_life: timedelta | None, now: datetime
) -> Rotation:
    if not password.exists or password.age is None:
        return "missing"
    expires = password.expires_at
    if (token_life is not None and password.age >= token_life) or (
        expires is not None and now >= expires
    ):
        return "expired"
    if expires is not None and now >= expires - EXPIRY_MARGIN:
        return "due"  # as the plan: rotated before the recorded expiry
    return "due" if password.age >= rotate_after else "ok"


def _desired_registry(
    target: TargetRef,
    registry: str,
    wanted: Mapping[str, DesiredSecret],
    observed: ObservedTarget,
    state: Mapping[StateKey, StateEntry],
    now: datetime,
) -> RegistryStatus:
    secrets = tuple(
        _secret(target, secret_name(registry, part), part, observed, state, now)
        for part in SUFFIXES
    )
    password = wanted[secret_name(registry, "PASSWORD")]
    rotate_after = password.rotate_after
    if rotate_after is None:
        return RegistryStatus(registry, secrets)
    token_life = ECR_TOKEN_LIFE if isinstance(password.value, EcrTokenPart) else None
    return RegistryStatus(
        registry,
        secrets,
        rotate_after=rotate_after,
        token_life=token_life,
        rotation=_rotation(secrets[-1], rotate_after, token_life, now),
    )


def _leftovers(
    target: TargetRef,
    desired_names: set[str],
    observed: ObservedTarget,
    state: Mapping[StateKey, StateEntry],
    now: datetime,
    selection: Selection,
) -> list[RegistryStatus]:
    """Registry secrets on the target that the config does not ask for (managed or not)."""
    found: dict[str, list[str]] = {}
    names = set(observed.secrets) | {n for t, n in state if t == target}
    for name in sorted(names - desired_names):
        parsed = parse_registry_secret(name)
        if parsed is not None and selection.wants_registry(parsed[0]):
            found.setdefault(parsed[0], []).append(parsed[1])
    out = []
    for registry, parts in sorted(found.items()):
        secrets = tuple(
            _secret(target, secret_name(registry, part), part, observed, state, now)
            for part in SUFFIXES
            if part in parts
        )
        if any(s.exists for s in secrets):
            out.append(RegistryStatus(registry, secrets, desired=False))
    return out


def build(
    desired: Sequence[DesiredSecret],
    observed: Mapping[TargetRef, ObservedTarget],
    state: Mapping[StateKey, StateEntry],
    now: datetime,
    selection: Selection = EVERYTHING,
) -> list[TargetStatus]:
    """One entry per observed target (config order), its registries in config order."""
    by_target: dict[TargetRef, dict[str, DesiredSecret]] = {}
    for d in desired:
        by_target.setdefault(d.target, {})[d.name] = d
    out: list[TargetStatus] = []
    for target, seen in observed.items():
        if not selection.wants_target(target):
            continue
        if seen.error is not None:
            out.append(TargetStatus(target, error=seen.error))
            continue
        wanted = by_target.get(target, {})
        registries = [
            _desired_registry(target, registry, wanted, seen, state, now)
            for registry in dict.fromkeys(d.registry for d in wanted.values())
            if selection.wants_registry(registry)
        ]
        registries += _leftovers(target, set(wanted), seen, state, now, selection)
        out.append(TargetStatus(target, tuple(registries)))
    return out


def stale(statuses: Sequence[TargetStatus]) -> list[tuple[TargetRef, RegistryStatus]]:
    """Every rotating registry whose PASSWORD is past due or expired."""
    return [(t.target, r) for t in statuses for r in t.registries if r.stale]
