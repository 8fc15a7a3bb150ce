"""The configuration file: parse, validate (every problem at once), and the JSON Schema."""

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def _no_pydantic_plugins() -> Iterator[None]:
    """While the config's models are built (on import): no pydantic plugin is looked for.

    They use none, and looking scans every installed distribution's entry points
    (``importlib.metadata``: a few ms of every start-up); Typer does the same around the
    models it builds for the command line. The variable is restored at once.
    """
    previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = previous


with _no_pydantic_plugins():
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
