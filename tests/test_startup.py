"""Start-up: ``--version`` and ``validate`` import neither boto3 nor PyGithub."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import worlds
from bench.startup import HEAVY, imported


@pytest.mark.parametrize("command", ["--version", "validate"])
def test_light_commands_import_no_heavy_library(command: str, tmp_path: Path) -> None:
    args = [command]
    if command == "validate":
        _, config = worlds.write(worlds.Shape(10), tmp_path)
        args.append(str(config))
    modules = imported(args)
    assert "provisioner" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
