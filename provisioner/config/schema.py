"""``json_schema()``: the JSON Schema of the config file, for editors (yaml-language-server).

Generated from the same models the loader validates with; the document model below only
adds the top level (the registries map keyed by ID, the targets list).
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from provisioner.config.formats import ConfigName, StateLocation
from provisioner.config.model import (
    GitHubSettings,
    OrgTarget,
    RegistrySpec,
    RepositoryTarget,
    UserTarget,
)

# naming.id_problem in schema form: letters, digits, '_', no leading digit, and the secret
# names (<ID>_CONTAINER_REGISTRY_...) must not start with GITHUB_.
ID_PATTERN: Final = r"^(?![Gg][Ii][Tt][Hh][Uu][Bb](?:_|$))[A-Za-z_][A-Za-z0-9_]*$"
SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


class _Document(BaseModel):
    """A provisioner configuration file (README: configuration reference)."""

    model_config = ConfigDict(
        extra="forbid", title="provisioner configuration", regex_engine="python-re"
    )
    version: typing.Literal[1]
    name: ConfigName | None = Field(
        default=None,
        description="The config's identity, recorded in its state; default: the file's stem.",
    )
    state: StateLocation | None = Field(
        default=None,
        description="Where the state lives: a local path (relative to the config) or "
        "s3://BUCKET/PREFIX/; default: .provision/<name or stem>/ beside the config.",
    )
    github: GitHubSettings = GitHubSettings()
    registries: dict[Annotated[str, StringConstraints(pattern=ID_PATTERN)], RegistrySpec] = Field(
        min_length=1
    )
    targets: list[OrgTarget | RepositoryTarget | UserTarget] = Field(min_length=1)


def json_schema() -> dict[str, Any]:
    """The config file's JSON Schema (draft 2020-12)."""
    schema = _Document.model_json_schema(mode="validation")
    registries = schema["properties"]["registries"]
    ((pattern, spec),) = registries.pop("patternProperties").items()
    registries["propertyNames"] = {"pattern": pattern}
    registries["additionalProperties"] = spec
    _no_literal_password(schema["$defs"]["RegistrySpec"]["properties"]["password"])
    document: dict[str, Any] = _markdown({"$schema": SCHEMA_DIALECT, **schema})
    return document


def _no_literal_password(password: dict[str, Any]) -> None:
    """A password is never a literal (as validate says): only the value sources remain."""
    for alternative in password.get("anyOf", []):
        if "oneOf" in alternative:
            alternative["oneOf"] = [o for o in alternative["oneOf"] if o.get("type") != "string"]
    password["description"] = (
        "A value source, never a literal: {env: NAME}, {file: PATH}, {command: [...]}, "
        "{aws_secretsmanager: ID} or {aws_ssm: NAME}."
    )


def _markdown(node: Any) -> Any:
    """Descriptions come from docstrings: their RST double backticks become markdown's."""
    if isinstance(node, dict):
        return {
            k: v.replace("``", "`") if k == "description" and isinstance(v, str) else _markdown(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_markdown(v) for v in node]
    return node
