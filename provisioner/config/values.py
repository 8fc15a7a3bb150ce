"""Values in the configuration: a literal string, or a mapping naming one value source."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)

from provisioner.config.formats import _STRICT, SOURCE_KEYS, NonEmpty, _to_tuple


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
