"""The README's command reference is generated from ``--help`` and must not drift; every
command is documented; shell completion produces a script."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.test_cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def cli_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts" / "cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_reference_matches_the_help() -> None:
    script = cli_reference()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.updated(readme) == readme, (
        "README.md's command reference is out of date: run python scripts/cli_reference.py"
    )


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = readme.split("<!-- cli-reference:start -->", 1)[1]
    for command in COMMANDS:
        assert f"#### `provision {command}`" in reference, f"{command} missing from README"
        assert f"provision {command} " in readme.split("## Command reference", 1)[0], (
            f"{command} has no usage example in README"
        )


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_shell_completion_script_and_answers() -> None:
    script = _run({}, "--show-completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "complete" in script.stdout and "_PROVISION_COMPLETE" in script.stdout
    answer = _run(
        {"_PROVISION_COMPLETE": "complete_bash", "COMP_WORDS": "provision do", "COMP_CWORD": "1"}
    )
    assert answer.stdout.split() == ["doctor"]


def test_the_license_is_an_spdx_expression() -> None:
    """setuptools deprecates the ``{text = ...}`` table (a warning on every install)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "COMPREPLY"),
        ("zsh", "#compdef provision"),
        ("fish", "complete --command provision"),
    ],
)
def test_show_completion_prints_the_named_shells_script(shell: str, marker: str) -> None:
    script = _run({"SHELL": "/bin/bash"}, "--show-completion", shell)
    assert script.returncode == 0, script.stderr
    assert marker in script.stdout
    assert _run({}, "--show-completion", "tcsh").returncode == 64


def test_every_command_accepts_no_color() -> None:
    from typer.main import get_command

    from provisioner.cli import app

    def leaves(group: Any, prefix: str) -> list[tuple[str, Any]]:
        found = []
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                found += leaves(command, f"{prefix}{name} ")
            else:
                found.append((prefix + name, command))
        return found

    commands = leaves(get_command(app), "")
    assert len(commands) >= 10
    for name, command in commands:
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert "--no-color" in options, name
