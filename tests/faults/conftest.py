"""Fault-injection runs: the CLI against the sandbox with its fault knobs, retries made fast."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.e2e import ACR_PASSWORD, HUB_TOKEN, Cli

EXPECTED = {
    ("org", "octo-org", "ACR_CONTAINER_REGISTRY_SERVER"): "mycompany.azurecr.io",
    ("org", "octo-org", "ACR_CONTAINER_REGISTRY_USER"): "acr-pull",
    ("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD"): ACR_PASSWORD,
    (
        "repository",
        "octo-org/legacy",
        "HUB_CONTAINER_REGISTRY_SERVER",
    ): "https://index.docker.io/v1/",
    ("repository", "octo-org/legacy", "HUB_CONTAINER_REGISTRY_USER"): "hubber",
    ("repository", "octo-org/legacy", "HUB_CONTAINER_REGISTRY_PASSWORD"): HUB_TOKEN,
    ("user", "octocat", "HUB_CONTAINER_REGISTRY_SERVER"): "https://index.docker.io/v1/",
    ("user", "octocat", "HUB_CONTAINER_REGISTRY_USER"): "hubber",
    ("user", "octocat", "HUB_CONTAINER_REGISTRY_PASSWORD"): HUB_TOKEN,
}


@pytest.fixture
def fcli(cli: Cli) -> Cli:
    """The e2e harness with a 10 ms retry floor (the policy is the same, its waits tiny)."""
    cli.env["PROVISION_RETRY_FLOOR"] = "0.01"
    return cli


def faults(cli: Cli, **knobs: Any) -> None:
    cli.gh.admin("POST", "faults", knobs)


def values(cli: Cli) -> dict[tuple[str, str, str], str]:
    """What the sandbox decrypted, by (scope, target, name)."""
    return {k: s["value"] for k, s in cli.gh.secrets().items()}


def assert_converged(cli: Cli) -> None:
    """Exactly the nine desired secrets with their values and policies; nothing left to do."""
    secrets = cli.gh.secrets()
    assert {k: s["value"] for k, s in secrets.items()} == EXPECTED
    org = secrets[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]
    assert (org["visibility"], org["repositories"]) == (
        "selected",
        ["octo-org/api", "octo-org/web"],
    )
    user = secrets[("user", "octocat", "HUB_CONTAINER_REGISTRY_USER")]
    assert user["repositories"] == ["octo-org/api", "octocat/dotfiles"]
    faults(cli, fail_every=0, secondary_limit_writes=0, latency=0, rotate_key_after_writes=0)
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err


def successful_puts(cli: Cli) -> Counter[str]:
    """Successful value writes per secret path (201 created, 204 updated)."""
    return Counter(
        r["path"]
        for r in cli.requests()
        if r["method"] == "PUT" and r["status"] in (201, 204) and "/repositories" not in r["path"]
    )
