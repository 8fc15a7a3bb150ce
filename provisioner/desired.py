"""Config -> desired secrets: every (target, secret name) the config asks for.

Pure: no network, no source is read here (values stay as config :data:`Value` objects).
Repository *patterns* are kept as written; :mod:`provisioner.repos` resolves them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal as Lit

from provisioner.config import (
    Config,
    Literal,
    OrgTarget,
    Registry,
    RepositoryTarget,
    SecretsManagerSource,
    SsmSource,
    Target,
    UserTarget,
)
from provisioner.errors import UsageError
from provisioner.naming import SUFFIXES, secret_name
from provisioner.sources import EcrTokenPart, SwapKeyId

Scope = Lit["org", "repository", "user"]
SCOPES: tuple[Scope, ...] = ("org", "repository", "user")
ECR_USER = "AWS"
"""The user of every ECR authorization token."""


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
    def of(cls, target: Target) -> TargetRef:
        return cls(target.scope, target.name)


@dataclass(frozen=True)
class Access:
    """The access policy of an org or user secret. Repository secrets have none.

    ``patterns`` are the repositories as written in the config (names, ``owner/name`` or
    globs); None means no repository list (org visibility ``all`` or ``private``).
    """

    visibility: str | None = None
    patterns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DesiredSecret:
    """One secret the config wants on one target; the value is still unresolved."""

    target: TargetRef
    name: str
    registry: str
    part: str
    value: object
    access: Access
    rotate_after: timedelta | None
    repositories: tuple[str, ...] | None = None
    """The access policy's repositories as ``owner/name``, once resolved (None: no list)."""

    @property
    def key(self) -> tuple[TargetRef, str]:
        return (self.target, self.name)


def _access(target: Target) -> Access:
    if isinstance(target, OrgTarget):
        patterns = tuple(target.repositories) if target.visibility == "selected" else None
        return Access(visibility=target.visibility, patterns=patterns)
    if isinstance(target, UserTarget):
        return Access(visibility=None, patterns=tuple(target.repositories))
    assert isinstance(target, RepositoryTarget)
    return Access()


def registry_values(registry: Registry) -> dict[str, object]:
    """The config value of each secret part of a registry (ECR token parts come from AWS).

    ECR token mode: USER is the constant ``AWS`` and SERVER is derived from account and
    region, so both compare like ordinary values without fetching a token; only PASSWORD
    needs ``GetAuthorizationToken``. Swap mode: a USER from a source is checked for ``ASIA``.
    """
    ecr = registry.ecr
    if registry.is_ecr_token and ecr is not None:
        return {
            "SERVER": EcrTokenPart(ecr.region, ecr.registry_id, "SERVER"),
            "USER": Literal(value=ECR_USER),
            "PASSWORD": EcrTokenPart(ecr.region, ecr.registry_id, "PASSWORD"),
        }
    username: object = registry.username
    if ecr is not None and username is not None and not isinstance(username, Literal):
        username = SwapKeyId(registry.id, username)
    return {"SERVER": registry.server, "USER": username, "PASSWORD": registry.password}


def uses_aws(config: Config) -> bool:
    """True when a run may call AWS: an ``ecr:`` registry or an ``aws_*`` value source."""
    for registry in config.registries.values():
        if registry.ecr is not None:
            return True
        values = (registry.server, registry.username, registry.password)
        if any(isinstance(v, SecretsManagerSource | SsmSource) for v in values):
            return True
    return False


def build(config: Config) -> list[DesiredSecret]:
    """Every secret the whole config asks for, in config order."""
    desired: list[DesiredSecret] = []
    for target in config.targets:
        ref = TargetRef.of(target)
        access = _access(target)
        for registry_id in target.registries:
            registry = config.registries[registry_id]
            values = registry_values(registry)
            for part in SUFFIXES:
                rotate = registry.rotation_period if part == "PASSWORD" else None
                desired.append(
                    DesiredSecret(
                        target=ref,
                        name=secret_name(registry_id, part),
                        registry=registry_id,
                        part=part,
                        value=values[part],
                        access=access,
                        rotate_after=rotate,
                    )
                )
    return desired


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

    def check(self, config: Config, known: Iterable[TargetRef] = ()) -> None:
        """Refuse filters that name nothing in the config (a typo must not plan nothing).

        ``known``: the targets the state records, which a --target may also name (a target
        removed from the config whose secrets are to be deleted).
        """
        known_ids = {r.upper() for r in config.registries}
        for registry_id in sorted(self.registries - known_ids):
            raise UsageError(f"--registry {registry_id}: no such registry in {config.path}")
        targets = {TargetRef.of(t) for t in config.targets} | set(known)
        for target in sorted(self.targets - targets):
            raise UsageError(
                f"--target {target.label}: no such target in {config.path} or its state"
            )

    @classmethod
    def of(cls, targets: Iterable[str], registries: Iterable[str]) -> Selection:
        return cls(
            targets=frozenset(TargetRef.parse(t) for t in targets),
            registries=frozenset(r.upper() for r in registries),
        )
