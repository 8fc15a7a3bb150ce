"""Fault-injection runs: the CLI against the sandbox with its fault knobs, retries made fast."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.e2e import ACR_PASSWORD, HUB_TOKEN, Cli

ROOT = Path(__file__).resolve().parents[2]
Key = tuple[str, str, str]

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


def spawn(cli: Cli, command: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """``provision COMMAND CONFIG --api-url --state ARGS`` as a real process (real signals)."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")},
        **cli.env,
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "provisioner", command, str(cli.config)]
    argv += ["--api-url", cli.gh.sandbox.url, "--state", str(cli.state), *args]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def spawn_apply(cli: Cli, *args: str, **popen: Any) -> subprocess.Popen[str]:
    return spawn(cli, "apply", "--yes", "--write-interval", "0", *args, **popen)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stop_after_first_write(
    cli: Cli, process: subprocess.Popen[str], stop: Callable[[subprocess.Popen[str]], object]
) -> tuple[str, str]:
    """Wait for the run's first write, ``stop(process)`` (send it its signals), then collect
    its output; the process never outlives the call."""
    try:
        wait_until(cli.gh.secrets, "a first write")
        stop(process)
        out, err = process.communicate(timeout=30)
        return out, err
    finally:
        if process.poll() is None:
            process.kill()


def ok_keys(report: dict[str, Any]) -> set[Key]:
    """The changes an apply --json report calls done."""
    return {
        (c["scope"], c["target"], c["secret"]) for c in report["changes"] if c["result"] == "ok"
    }


def recorded(cli: Cli) -> dict[Key, datetime]:
    """What the state file records: GitHub's updated_at by (scope, target, secret)."""
    entries = cli.state_entries()
    return {
        (e["scope"], e["target"], e["secret"]): datetime.fromisoformat(e["updated_at"])
        for e in entries
    }


def held(cli: Cli) -> dict[Key, datetime]:
    """What GitHub (the sandbox) holds: updated_at by (scope, target, secret)."""
    return {k: datetime.fromisoformat(s["updated_at"]) for k, s in cli.gh.secrets().items()}


def no_temporary_state(cli: Cli) -> bool:
    return not list(cli.state.parent.rglob(".*.tmp"))
