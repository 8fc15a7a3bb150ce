"""The shared nouns of every layer: targets, the --target/--registry selection, what GitHub
holds (observed) and what the state recorded. Plain frozen values; this module imports nothing
of the project but its errors, so every layer (config, github, state, plan) may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from provisioner.errors import UsageError

Scope = Literal["org", "repository", "user"]
SCOPES: tuple[Scope, ...] = ("org", "repository", "user")


class Named(Protocol):
    """A config target: what :meth:`TargetRef.of` reads."""

    @property
    def scope(self) -> Scope: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True, order=True)
class TargetRef:
    """Where secrets live: an organization, a repository (``owner/name``) or the user.

    Names compare case-insensitively, as GitHub's do: ``org:Octo-Org`` *is* ``org:octo-org``
    (as a dict key, in the state, in --target), so renaming a target's spelling in the config
    plans no change instead of creating on one spelling and deleting on the other. ``name``
    keeps the spelling it was made with, for display and URLs.
    """

    scope: Scope
    name: str = field(compare=False)
    folded: str = field(init=False, repr=False)
    """The name case-folded: what equality, hashing and ordering use."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", self.name.casefold())

    @property
    def label(self) -> str:
        return f"{self.scope}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> TargetRef:
        """``org:octo-org`` / ``repository:octo-org/api`` / ``user:octocat`` (the --target flag)."""
        scope, sep, name = text.partition(":")
        if not sep or scope not in SCOPES or not name:
            raise UsageError(
                f"--target {text!r}: expected SCOPE:NAME with SCOPE one of org, repository, user"
            )
        if scope == "repository" and name.count("/") != 1:
            raise UsageError(f"--target {text!r}: a repository is named owner/name")
        return cls(scope, name)

    @classmethod
    def of(cls, target: Named) -> TargetRef:
        """The reference of a config target (anything with a scope and a name)."""
        return cls(target.scope, target.name)


@dataclass(frozen=True)
class Selection:
    """The --target and --registry filters; empty means everything."""

    targets: frozenset[TargetRef] = frozenset()
    registries: frozenset[str] = frozenset()

    def wants_target(self, target: TargetRef) -> bool:
        return not self.targets or target in self.targets

    def wants_registry(self, registry_id: str | None) -> bool:
        if not self.registries:
            return True
        return registry_id is not None and registry_id.upper() in self.registries

    def check(self, registries: Iterable[str], targets: Iterable[TargetRef], where: str) -> None:
        """Refuse filters that name nothing known (a typo must not plan nothing).

        ``registries``: the config's IDs and those its state records; ``targets``: the
        config's targets and those its state records (removed from the config, their secrets
        to be deleted);
        ``where``: the config file, for the message.
        """
        known_ids = {r.upper() for r in registries}
        for registry_id in sorted(self.registries - known_ids):
            raise UsageError(f"--registry {registry_id}: no such registry in {where} or its state")
        for target in sorted(self.targets - set(targets)):
            raise UsageError(f"--target {target.label}: no such target in {where} or its state")

    @classmethod
    def of(cls, targets: Iterable[str], registries: Iterable[str]) -> Selection:
        return cls(
            targets=frozenset(TargetRef.parse(t) for t in targets),
            registries=frozenset(r.upper() for r in registries),
        )


@dataclass(frozen=True)
class ObservedSecret:
    """A secret as GitHub lists it (names upper-case, repositories as ``owner/name``)."""

    name: str
    updated_at: datetime
    visibility: str | None = None
    repositories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ObservedTarget:
    """What one target holds, or why it could not be read."""

    target: TargetRef
    secrets: Mapping[str, ObservedSecret] = field(default_factory=dict)
    error: str | None = None
    status: int | None = None
    """GitHub's status of the failed read, when it answered (a 401: the token is rejected)."""


@dataclass(frozen=True)
class StateEntry:
    """What the last successful write recorded: a fingerprint and GitHub's updated_at.

    ``fingerprint`` is None when the state holds none this tool can check (made with other
    parameters): the value then plans as unknown, and is never hashed with foreign costs.
    ``expires_at``: when the value written stops working (ECR authorization tokens).
    ``repositories``: the selected repositories (``owner/name``) that write set on an org or
    user secret, None when it set none (or the state is older than the record).
    """

    fingerprint: str | None
    updated_at: datetime
    registry: str | None = None
    expires_at: datetime | None = None
    repositories: tuple[str, ...] | None = None


StateKey = tuple[TargetRef, str]
WrittenFrom = Literal["state", "github"]


def last_written(o: ObservedSecret, s: StateEntry | None) -> tuple[datetime, WrittenFrom]:
    """When a secret's value was last written, and whose record says so (README: plan semantics).

    The state's record of our last write, else GitHub's updated_at; GitHub's when it is the
    older (a restored secret, a skewed record): a rotating secret then rotates early, which is
    safe. ``plan`` and ``status`` both age rotating secrets by this, so they never disagree.
    """
    if s is None or o.updated_at < s.updated_at:
        return o.updated_at, "github"
    return s.updated_at, "state"
