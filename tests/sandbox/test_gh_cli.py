"""Debian's real ``gh`` (2.23) against the sandbox: ``gh secret set/list/delete --app codespaces``.

gh runs in a private network and mount namespace (``gh_driver.py``) so that
``api.github.localhost`` is this machine's loopback and port 80 is free. It is skipped only
when ``unshare`` cannot make such a namespace here, or when gh (or ``ip``) is missing and we
are not root (``make test`` installs both as root); in CI (``CI`` set) neither is an excuse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).parents[1] / "support" / "gh_driver.py"
CODESPACES = ["--app", "codespaces"]
ORG, LEGACY = ["--org", "octo-org"], ["--repo", "octo-org/legacy"]
# Terminal-style output (100 columns): gh then follows selected_repositories_url, which the
# sandbox builds from the Host header gh sent (api.github.localhost).
TTY = {"GH_FORCE_TTY": "100"}
STEPS: list[dict[str, Any]] = [
    {"args": ["secret", "set", "X", *CODESPACES, *ORG, "--repos", "api,web", "--body", "v"]},
    {"args": ["secret", "list", *CODESPACES, *ORG]},
    {"args": ["secret", "list", *CODESPACES, *ORG], "env": TTY},
    {"args": ["secret", "delete", "X", *CODESPACES, *ORG]},
    {"args": ["secret", "set", "Y", *CODESPACES, *LEGACY, "--body", "w"]},
    {"args": ["secret", "list", *CODESPACES, *LEGACY]},
    {"args": ["secret", "delete", "Y", *CODESPACES, *LEGACY]},
    {
        "args": ["secret", "set", "Z", *CODESPACES, "--user", "--repos", "octo-org/api"],
        "env": TTY,
        "input": "z",
    },
    {"args": ["secret", "list", *CODESPACES, "--user"], "env": TTY},
    {"args": ["secret", "delete", "Z", *CODESPACES, "--user"]},
    {"args": ["secret", "set", "W", *CODESPACES, *ORG, "--repos", "api,nope", "--body", "v"]},
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; in CI this test must run (as root, after make test installs gh)")
    pytest.skip(reason)


def _namespace_command() -> list[str]:
    """``unshare`` for a private net+mount namespace (a fresh PID namespace too, so nothing
    started inside outlives the driver); as non-root, inside a user namespace."""
    if shutil.which("unshare") is None:
        _unavailable("unshare (util-linux) is not installed")
    root = os.geteuid() == 0
    for tool, package in (("gh", "gh"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            if root:
                pytest.fail(f"{tool} is not installed; make test installs it ({package})")
            _unavailable(f"{tool} is not installed and we are not root to install it")
    command = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child"]
    command += [] if root else ["--map-root-user"]
    probe = subprocess.run([*command, "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        _unavailable(f"unshare cannot make a private namespace here: {probe.stderr.strip()}")
    return command


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    command = _namespace_command()
    workdir = tmp_path_factory.mktemp("gh")
    done = subprocess.run(
        [*command, sys.executable, str(DRIVER), str(workdir), json.dumps(STEPS)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = (workdir / "sandbox.log").read_text() if (workdir / "sandbox.log").exists() else ""
    assert done.returncode == 0, f"{done.stderr}\nsandbox log:\n{log}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def step(report: dict[str, Any], index: int, rc: int = 0) -> dict[str, Any]:
    """One step's result, asserted to have exited ``rc``."""
    result: dict[str, Any] = report["steps"][index]
    assert result["rc"] == rc, result
    return result


def decrypted(result: dict[str, Any]) -> dict[tuple[str, str, str], tuple[str, list[str]]]:
    """The sandbox's admin view after a step: (scope, target, name) -> (plaintext, repos)."""
    return {
        (s["scope"], s["target"], s["name"]): (s["value"], s["repositories"])
        for s in result["secrets"]
    }


def test_org_secret_with_repositories(report: dict[str, Any]) -> None:
    assert decrypted(step(report, 0)) == {
        ("org", "octo-org", "X"): ("v", ["octo-org/api", "octo-org/web"])
    }
    assert step(report, 0)["secrets"][0]["visibility"] == "selected"
    listed = step(report, 1)
    day = listed["secrets"][0]["updated_at"][:10]
    assert listed["stdout"] == f"X\t{day}\tSELECTED\n"
    tty = step(report, 2)["stdout"]
    assert tty == f"X  Updated {day}  Visible to 2 selected repositories\n"
    assert decrypted(step(report, 3)) == {}


def test_repository_secret(report: dict[str, Any]) -> None:
    assert decrypted(step(report, 4)) == {("repository", "octo-org/legacy", "Y"): ("w", [])}
    listed = step(report, 5)
    assert listed["stdout"] == f"Y\t{listed['secrets'][0]['updated_at'][:10]}\n"
    assert decrypted(step(report, 6)) == {}


def test_user_secret_with_repositories(report: dict[str, Any]) -> None:
    created = step(report, 7)
    assert created["stdout"] == "✓ Set Codespaces secret Z for your user\n"
    assert decrypted(created) == {("user", "octocat", "Z"): ("z", ["octo-org/api"])}
    listed = step(report, 8)
    day = listed["secrets"][0]["updated_at"][:10]
    assert listed["stdout"] == f"Z  Updated {day}  Visible to 1 selected repository\n"
    assert decrypted(step(report, 9)) == {}


def test_an_unknown_repository_name_is_refused_by_gh(report: dict[str, Any]) -> None:
    failed = step(report, 10, rc=1)
    assert "Could not resolve to a Repository with the name 'octo-org/nope'." in failed["stderr"]
    assert failed["secrets"] == []  # gh stops before any PUT


def test_every_request_gh_made_was_answered(report: dict[str, Any]) -> None:
    seen = {(r["method"], r["path"], r["status"]) for r in report["requests"]}
    assert ("POST", "/graphql", 200) in seen
    assert ("PUT", "/user/codespaces/secrets/Z", 201) in seen
    assert ("GET", "/orgs/octo-org/codespaces/secrets/X/repositories", 200) in seen
    assert {status for _, _, status in seen} <= {200, 201, 204}
    assert {r["token_kind"] for r in report["requests"]} == {"classic"}
