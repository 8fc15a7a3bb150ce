"""Config -> desired secrets: every (target, secret name) the config asks for.

Pure: no network, no source is read here (values stay as config :data:`Value` objects).
Repository *patterns* are kept as written; :mod:`provisioner.repos` resolves them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

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
from provisioner.domain import Selection, TargetRef
from provisioner.naming import SUFFIXES, secret_name
from provisioner.sources import EcrTokenPart, SwapKeyId

ECR_USER = "AWS"
"""The user of every ECR authorization token."""


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
    server_bound: bool = False
    """The value is good only for its registry's SERVER (an ECR authorization token is minted
    for one account and region): a new SERVER on a target means a new value for this too."""

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
                        server_bound=part == "PASSWORD" and registry.is_ecr_token,
                    )
                )
    return desired


def check_selection(
    selection: Selection,
    config: Config,
    known: Iterable[TargetRef] = (),
    recorded_registries: Callable[[], Iterable[str]] = tuple,
) -> None:
    """Refuse --registry/--target filters naming nothing in the config or its state: ``known``
    the targets it records, ``recorded_registries`` (asked only for a --registry the config
    lacks: it reads the state) the registries (one removed from the config, to review or
    apply its deletion alone)."""
    targets = [*(TargetRef.of(t) for t in config.targets), *known]
    registries: list[str] = list(config.registries)
    if selection.registries - {r.upper() for r in registries}:
        registries += recorded_registries()
    selection.check(registries, targets, str(config.path))
