"""The parsed configuration: frozen, strict pydantic models (DESIGN.md section 3).

Field-level formats (durations, account IDs, ``owner/name``, URLs) are checked here; rules
that relate several fields or entries live in :mod:`provisioner.config.rules`.
"""

from __future__ import annotations

import re
import typing
from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)

from provisioner import naming

_STRICT: Final = ConfigDict(frozen=True, extra="forbid", strict=True)
DURATION_PATTERN: Final = r"^(?=[0-9])(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?$"
_DURATION_RE: Final = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
LOGIN_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
REPO_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+$"
REPO_GLOB_PATTERN: Final = r"^[A-Za-z0-9._*?\[\]!-]+$"
ACCOUNT_PATTERN: Final = r"^[0-9]{12}$"
SOURCE_KEYS: Final = ("env", "file", "command", "aws_secretsmanager", "aws_ssm")


def _check(pattern: str, message: str) -> AfterValidator:
    """A format check; ``message`` is formatted with the rejected value."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message.format(value))
        return value

    return AfterValidator(check)


def parse_duration(value: object) -> timedelta:
    """``'6h'``, ``'45m'``, ``'90s'``, ``'1h30m'``, ``'2d'`` -> timedelta (must be > 0)."""
    if isinstance(value, timedelta):
        period = value
    else:
        match = _DURATION_RE.fullmatch(value) if isinstance(value, str) and value else None
        if match is None:
            raise ValueError(
                f"expected a duration like '6h', '45m', '90s', '1h30m' or '2d', got {value!r}"
            )
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        try:
            period = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        except OverflowError:
            raise ValueError(f"duration {value!r} is too long") from None
    if period <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return period


def _api_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"{value!r} must use https (plain http only for loopback hosts)")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _to_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["6h", "1h30m"]}),
]
NonEmpty = Annotated[str, Field(min_length=1)]
Login = Annotated[
    str,
    _check(LOGIN_PATTERN, "{!r} is not a GitHub login"),
    WithJsonSchema({"type": "string", "pattern": LOGIN_PATTERN}),
]
RepoName = Annotated[
    str,
    _check(REPO_PATTERN, "{!r} is not an 'owner/name' repository"),
    WithJsonSchema({"type": "string", "pattern": REPO_PATTERN}),
]
RepoGlob = Annotated[
    str,
    _check(
        REPO_GLOB_PATTERN, "{!r}: list repositories of an org by name (no 'owner/'), or by glob"
    ),
    WithJsonSchema({"type": "string", "pattern": REPO_GLOB_PATTERN}),
]
RegistryRefs = Annotated[tuple[str, ...], Field(min_length=1), BeforeValidator(_to_tuple)]


class Literal(BaseModel):
    """A value written in the config itself (a plain string in YAML)."""

    model_config = _STRICT
    value: str

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"value": data} if isinstance(data, str) else data


class EnvSource(BaseModel):
    """``{env: NAME}``: an environment variable."""

    model_config = _STRICT
    env: NonEmpty
    key: NonEmpty | None = None


class FileSource(BaseModel):
    """``{file: PATH}``: a file, relative to the config file's directory."""

    model_config = _STRICT
    file: NonEmpty
    key: NonEmpty | None = None


class CommandSource(BaseModel):
    """``{command: [argv...]}``: a program's standard output (no shell)."""

    model_config = _STRICT
    command: Annotated[tuple[str, ...], Field(min_length=1), BeforeValidator(_to_tuple)]
    key: NonEmpty | None = None
    timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)


class SecretsManagerSource(BaseModel):
    """``{aws_secretsmanager: ID}``: AWS Secrets Manager ``GetSecretValue``."""

    model_config = _STRICT
    aws_secretsmanager: NonEmpty
    key: NonEmpty | None = None
    region: NonEmpty | None = None


class SsmSource(BaseModel):
    """``{aws_ssm: NAME}``: an AWS SSM parameter, decrypted."""

    model_config = _STRICT
    aws_ssm: NonEmpty
    key: NonEmpty | None = None
    region: NonEmpty | None = None


Source = EnvSource | FileSource | CommandSource | SecretsManagerSource | SsmSource
SOURCE_MODELS: Final[dict[str, type[BaseModel]]] = {
    "env": EnvSource,
    "file": FileSource,
    "command": CommandSource,
    "aws_secretsmanager": SecretsManagerSource,
    "aws_ssm": SsmSource,
}


def value_kind(data: Any) -> str | None:
    """The tag of a value: ``literal`` for a string, else its one source key (None: invalid)."""
    if isinstance(data, str | Literal):
        return "literal"
    if isinstance(data, dict):
        found = [key for key in SOURCE_KEYS if key in data]
        return found[0] if len(found) == 1 else None
    for key, model in SOURCE_MODELS.items():
        if isinstance(data, model):
            return key
    return None


Value = Annotated[
    Annotated[Literal, Tag("literal"), WithJsonSchema({"type": "string", "title": "literal"})]
    | Annotated[EnvSource, Tag("env")]
    | Annotated[FileSource, Tag("file")]
    | Annotated[CommandSource, Tag("command")]
    | Annotated[SecretsManagerSource, Tag("aws_secretsmanager")]
    | Annotated[SsmSource, Tag("aws_ssm")],
    Discriminator(
        value_kind,
        custom_error_type="value_source",
        custom_error_message="expected a string or a mapping with one of " + ", ".join(SOURCE_KEYS),
    ),
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
    def secret_prefix(self) -> str:
        """The upper-cased ID that starts the three secret names."""
        return self.id.upper()

    @property
    def secret_names(self) -> tuple[str, str, str]:
        """The SERVER, USER and PASSWORD secret names."""
        return naming.secret_names(self.id)

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


Scope = typing.Literal["org", "repository", "user"]


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
    github: GitHubSettings = GitHubSettings()
    registries: dict[str, Registry] = Field(min_length=1)
    targets: tuple[Target, ...] = Field(min_length=1)
    path: Path
    warnings: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Path:
        """The config file's directory: relative ``file:`` sources start here."""
        return self.path.absolute().parent
