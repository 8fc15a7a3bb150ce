"""The end-to-end harness: the CLI run in-process against a sandbox, with one config and state."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.cli import main
from tests.support import openapi
from tests.support.sandbox import GH

CONFIG = """\
version: 1
registries:
  ACR:
    server: mycompany.azurecr.io
    username: acr-pull
    password: {env: ACR_PASSWORD}
  HUB:
    server: https://index.docker.io/v1/
    username: {env: HUB_USER}
    password: {file: hub-token}
targets:
  - org: octo-org
    registries: [ACR]
    repositories: [api, web]
  - repository: octo-org/legacy
    registries: [HUB]
  - user: octocat
    registries: [HUB]
    repositories: [octo-org/api, octocat/dotfiles]
"""
ACR_PASSWORD = "acr-MARKER-password-1"
HUB_TOKEN = "hub-MARKER-token-2"


class Cli:
    """Runs ``provision`` in-process against one sandbox with one config and state file."""

    def __init__(self, tmp: Path, gh: GH, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp, self.gh, self.capsys = tmp, gh, capsys
        self.config = tmp / "team.yaml"
        self.state = tmp / "state"  # a folder of shards, one per target
        self.write_config(CONFIG)
        (tmp / "hub-token").write_text(HUB_TOKEN + "\n")
        self.env = {
            "GH_TOKEN": "ghp_sandbox_admin",
            "ACR_PASSWORD": ACR_PASSWORD,
            "HUB_USER": "hubber",
        }

    def state_text(self) -> str:
        """Every shard's text, concatenated (what greps for leaks look at)."""
        return "".join(p.read_text() for p in sorted(self.state.glob("*/*.json")))

    def state_entries(self) -> list[dict[str, object]]:
        """Every recorded secret of every shard, as the documents hold them."""
        import json

        return [
            e
            for p in sorted(self.state.glob("*/*.json"))
            for e in json.loads(p.read_text())["secrets"]
        ]

    def edit_state(self, edit: Callable[[dict[str, Any]], None]) -> None:
        """Change every recorded secret of every shard in place (a test's hostile or aged state)."""
        import json

        for path in sorted(self.state.glob("*/*.json")):
            document = json.loads(path.read_text())
            for entry in document["secrets"]:
                edit(entry)
            path.write_text(json.dumps(document))

    def write_config(self, text: str) -> None:
        self.config.write_text(text)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        """``provision COMMAND CONFIG --api-url SANDBOX --state STATE ARGS...``."""
        return self.without_state(args[0], "--state", str(self.state), *args[1:])

    def without_state(self, *args: str) -> tuple[int, str, str]:
        """``provision COMMAND CONFIG --api-url SANDBOX ARGS...``: the default state (or none,
        for commands without one), in the harness's environment."""
        self.capsys.readouterr()
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            code = main([args[0], str(self.config), "--api-url", self.gh.sandbox.url, *args[1:]])
        finally:
            os.environ.clear()
            os.environ.update(saved)
        out, err = self.capsys.readouterr()
        return code, out, err

    def apply(self, *args: str) -> tuple[int, str, str]:
        return self("apply", "--yes", "--write-interval", "0", *args)

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.gh.admin("GET", "requests")
        return log

    def reset_log(self) -> None:
        self.gh.admin("POST", "reset-log")


def kinds(log: list[dict[str, Any]]) -> Counter[str]:
    """Requests by kind: 'PUT secret', 'GET list', 'GET public-key', ..."""
    counts: Counter[str] = Counter()
    for r in log:
        path = r["path"]
        if path.endswith("/public-key"):
            kind = "public-key"
        elif path.endswith("/repositories"):
            kind = "repositories"
        elif path.endswith("/codespaces/secrets"):
            kind = "list"
        elif "/codespaces/secrets/" in path:
            kind = "secret"
        elif path in ("/user/repos",) or path.endswith("/repos"):
            kind = "repo-listing"
        elif path.startswith("/repos/"):
            kind = "repo-lookup"
        else:
            kind = path
        counts[f"{r['method']} {kind}"] += 1
    return counts


def assert_bodies_match_openapi(log: list[dict[str, Any]]) -> None:
    if not openapi.available():
        return
    errors = [
        e
        for r in log
        if r["body"] is not None
        for e in openapi.request_body_errors(r["method"], r["path"], r["body"])
    ]
    assert errors == []


@pytest.fixture
def cli(tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """The CLI against a fresh sandbox, with the e2e config in ``tmp_path``."""
    harness = Cli(tmp_path, gh, capsys)
    yield harness
    # Every request body any end-to-end test sent must fit GitHub's OpenAPI description.
    assert_bodies_match_openapi(harness.requests())
