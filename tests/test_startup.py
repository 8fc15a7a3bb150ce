"""Start-up: ``--version`` and ``validate`` import neither boto3 nor PyGithub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import worlds

HEAVY = ("boto3", "botocore", "github")


def imported(args: list[str]) -> set[str]:
    """Top-level packages a ``python -m provisioner ARGS`` process imports (``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "provisioner", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "no -X importtime output"
    return {line.split("|")[-1].strip().split(".")[0] for line in lines}


@pytest.mark.parametrize("command", ["--version", "validate"])
def test_light_commands_import_no_heavy_library(command: str, tmp_path: Path) -> None:
    args = [command]
    if command == "validate":
        _, config = worlds.write(worlds.Shape(10), tmp_path)
        args.append(str(config))
    modules = imported(args)
    assert "provisioner" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
