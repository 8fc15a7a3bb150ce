"""The one place that builds a run's real collaborators (tests replace or configure it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from provisioner import output
from provisioner.config import Config
from provisioner.desired import uses_aws
from provisioner.errors import UsageError
from provisioner.github.auth import api_url, credential_source, credentials
from provisioner.sources import Resolver

if TYPE_CHECKING:
    from provisioner.github.client import GitHubClient


def make_client(
    config: Config,
    flag_url: str | None,
    *,
    write_interval: float = 1.0,
    verbose: bool = False,
    max_wait: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> GitHubClient:
    """The run's GitHub client: its URL and credentials from ``environ`` (the process's by
    default), which it keeps (a token kind is told apart by environment variables too);
    ``max_wait`` bounds the run's waiting on retries (``--max-wait``).

    PyGithub and requests load here, not when the commands do: they are a third of apply's
    start-up, and the checks that need no GitHub (:func:`planner.check_ahead`) start first
    and run beside the import."""
    from provisioner.github.client import GitHubClient, configure_logging

    env = dict(os.environ if environ is None else environ)
    url = api_url(flag_url, config.github.api_url, env)
    configure_logging()
    logger: Callable[[str], None] | None = output.info if verbose else None
    client = GitHubClient(
        credentials(env, url),
        url,
        write_interval=write_interval,
        logger=logger,
        environ=env,
        workers=read_concurrency(env),
        token_source=credential_source(env, url),
    )
    if max_wait is not None:
        client.set_max_wait(max_wait)
    client.authenticate()  # a GitHub App's token now: a wrong App is one error, not one per target
    return client


DEFAULT_READ_CONCURRENCY = 16
"""Reads at once: GitHub allows 100 concurrent requests (its secondary rate limit); 16 keeps
a 100-target plan's reads to a few round trips deep while staying far below that, and each
worker holds one pooled connection. Writes are always serial."""
MAX_READ_CONCURRENCY = 32
"""The most ``PROVISION_READ_CONCURRENCY`` may ask: a third of GitHub's concurrency limit."""


def read_concurrency(environ: Mapping[str, str]) -> int:
    """``PROVISION_READ_CONCURRENCY`` (1 to 32), else the default."""
    raw = environ.get("PROVISION_READ_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_READ_CONCURRENCY
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_READ_CONCURRENCY:
        raise UsageError(
            f"PROVISION_READ_CONCURRENCY={raw!r}: expected a whole number from 1 to "
            f"{MAX_READ_CONCURRENCY}"
        )
    return int(raw)


def make_resolver(
    config: Config, environ: Mapping[str, str] | None = None, *, json_output: bool = False
) -> Resolver:
    """The run's resolver; with AWS readers only when the config uses AWS (boto3 is heavy)."""
    # In GitHub Actions the masks go to stderr under --json: stdout stays one JSON document
    # (the runner reads workflow commands from both streams).
    resolver = Resolver(config.base_dir, environ, mask_stream=sys.stderr if json_output else None)
    if uses_aws(config):
        from provisioner.sources.aws import Aws

        for source_type, reader in Aws().readers().items():
            resolver.register(source_type, reader)
    return resolver
