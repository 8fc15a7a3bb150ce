"""The configuration file: parse, validate (every problem at once), and the JSON Schema."""

from provisioner.config.loader import load_config
from provisioner.config.model import (
    CommandSource,
    Config,
    EcrSettings,
    EnvSource,
    FileSource,
    GitHubSettings,
    Literal,
    OrgTarget,
    Registry,
    RegistrySpec,
    RepositoryTarget,
    SecretsManagerSource,
    Source,
    SsmSource,
    Target,
    UserTarget,
    Value,
)

__all__ = [
    "CommandSource",
    "Config",
    "EcrSettings",
    "EnvSource",
    "FileSource",
    "GitHubSettings",
    "Literal",
    "OrgTarget",
    "Registry",
    "RegistrySpec",
    "RepositoryTarget",
    "SecretsManagerSource",
    "Source",
    "SsmSource",
    "Target",
    "UserTarget",
    "Value",
    "load_config",
]
