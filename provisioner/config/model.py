"""The parsed configuration: frozen, strict pydantic models (README: configuration reference).

Field formats (durations, account IDs, ``owner/name``, URLs) live in
:mod:`provisioner.config.formats`, literals and value sources in :mod:`provisioner.config.values`,
and rules that relate several fields or entries in :mod:`provisioner.config.rules`.
"""

from __future__ import annotations

import typing
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from provisioner.config.formats import (
    _STRICT,
    ACCOUNT_PATTERN,
    SOURCE_KEYS,
    Duration,
    Login,
    NonEmpty,
    RegistryRefs,
    RepoGlob,
    RepoName,
    _api_url,
    _check,
    _to_tuple,
)
from provisioner.config.values import (
    SOURCE_MODELS,
    CommandSource,
    EnvSource,
    FileSource,
    Literal,
    SecretsManagerSource,
    Source,
    SsmSource,
    Value,
)
from provisioner.domain import Scope
from provisioner.errors import Diagnostic

__all__ = [
    "SOURCE_KEYS",
    "SOURCE_MODELS",
    "CommandSource",
    "EnvSource",
    "FileSource",
    "Literal",
    "SecretsManagerSource",
    "Source",
    "SsmSource",
    "Value",
]


class EcrSettings(BaseModel):
    """``ecr:``: the registry is AWS ECR, in ``token`` or ``swap`` mode."""

    model_config = _STRICT
    mode: typing.Literal["token", "swap"]
    region: NonEmpty | None = None
    registry_id: (
        Annotated[str, _check(ACCOUNT_PATTERN, "{!r} is not a 12-digit AWS account ID")] | None
    ) = None
    rotate_after: Duration | None = None


class RegistrySpec(BaseModel):
    """One entry of ``registries:`` as written (its ID is the mapping key)."""

    model_config = _STRICT
    server: Value | None = None
    username: Value | None = None
    password: Value | None = None
    ecr: EcrSettings | None = None
    rotate_after: Duration | None = None


ECR_TOKEN_ROTATE_AFTER: Final = timedelta(hours=6)


class Registry(RegistrySpec):
    """A registry with its ID: secrets ``<ID>_CONTAINER_REGISTRY_{SERVER,USER,PASSWORD}``."""

    id: str

    @property
    def is_ecr_token(self) -> bool:
        """True when the three values come from ECR ``GetAuthorizationToken``."""
        return self.ecr is not None and self.ecr.mode == "token"

    @property
    def rotation_period(self) -> timedelta | None:
        """How old the PASSWORD may get before it is rewritten (None: never)."""
        if self.is_ecr_token:
            assert self.ecr is not None
            return self.ecr.rotate_after or ECR_TOKEN_ROTATE_AFTER
        return self.rotate_after


def _org_schema(schema: dict[str, Any]) -> None:
    schema["required"] = [name for name in schema.get("required", []) if name != "visibility"]
    schema["anyOf"] = [{"required": ["visibility"]}, {"required": ["repositories"]}]


class _TargetBase(BaseModel):
    model_config = _STRICT
    SCOPE: ClassVar[Scope]  # also the name of the field that holds the target's name
    registries: RegistryRefs

    @property
    def scope(self) -> Scope:
        """``org``, ``repository`` or ``user``."""
        return self.SCOPE

    @property
    def name(self) -> str:
        """The org login, ``owner/name``, or user login."""
        return str(getattr(self, self.SCOPE))

    @property
    def label(self) -> str:
        """``SCOPE:NAME``, the syntax of ``--target``."""
        return f"{self.scope}:{self.name}"


class OrgTarget(_TargetBase):
    """Organization secrets, visible to ``all``, ``private`` or ``selected`` repositories."""

    model_config = ConfigDict(**_STRICT, json_schema_extra=_org_schema)
    SCOPE = "org"
    org: Login
    visibility: typing.Literal["all", "private", "selected"]
    repositories: Annotated[tuple[RepoGlob, ...], BeforeValidator(_to_tuple)] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_visibility(cls, data: Any) -> Any:
        """``visibility`` defaults to ``selected`` when ``repositories`` is given."""
        if isinstance(data, dict) and "visibility" not in data and data.get("repositories"):
            return {**data, "visibility": "selected"}
        return data


class RepositoryTarget(_TargetBase):
    """Repository secrets of one ``owner/name``."""

    SCOPE = "repository"
    repository: RepoName


class UserTarget(_TargetBase):
    """The authenticated user's secrets, visible to the listed repositories."""

    SCOPE = "user"
    user: Login
    repositories: Annotated[tuple[RepoName, ...], Field(min_length=1), BeforeValidator(_to_tuple)]


Target = OrgTarget | RepositoryTarget | UserTarget
TARGET_MODELS: Final[dict[str, type[OrgTarget | RepositoryTarget | UserTarget]]] = {
    "org": OrgTarget,
    "repository": RepositoryTarget,
    "user": UserTarget,
}


class GitHubSettings(BaseModel):
    """``github:``: where the GitHub API is (GHE.com); default https://api.github.com."""

    model_config = _STRICT
    api_url: Annotated[str, AfterValidator(_api_url)] | None = None


class Config(BaseModel):
    """A validated configuration file."""

    model_config = _STRICT
    version: typing.Literal[1] = 1
    name: str | None = None
    """The config's identity, recorded in its state (None: the file's stem)."""
    state: str | None = None
    """Where the state lives (a local path, relative to the config, or s3://BUCKET/PREFIX/)."""
    github: GitHubSettings = GitHubSettings()
    registries: dict[str, Registry] = Field(min_length=1)
    targets: tuple[Target, ...] = Field(min_length=1)
    path: Path
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def identity(self) -> str:
        """What the state records as the config it belongs to: ``name:``, else the stem."""
        return self.name or self.path.stem

    @property
    def base_dir(self) -> Path:
        """The config file's directory: relative ``file:`` sources start here."""
        return self.path.absolute().parent
