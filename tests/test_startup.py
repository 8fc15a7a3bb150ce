"""Start-up: ``--version`` and ``validate`` import none of the heavy libraries (boto3, PyGithub
with jwt, cryptography and requests, Rich), the state commands load PyGithub only when they
build the client, and the config's models look for no pydantic plugin. What is imported is
asserted, not a time (bench/startup.py measures that)."""

from __future__ import annotations

import subprocess
import sys
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
    assert {"boto3", "github", "rich", "jwt", "cryptography"} <= set(HEAVY)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


PROBE = """
import importlib.metadata, os
scans = []
real = importlib.metadata.entry_points
importlib.metadata.entry_points = lambda *a, **k: scans.append(1) or real(*a, **k)
os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
import provisioner.config
print(len(scans), os.environ.get("PYDANTIC_DISABLE_PLUGINS"))
"""


def test_the_config_models_scan_no_plugin_entry_points() -> None:
    """Building the models on import looks for no pydantic plugin (a scan of every installed
    distribution), and leaves the environment as it was."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["0", "None"]


CLIENT_PROBE = """
import sys
import provisioner.commands.apply, provisioner.commands.plan, provisioner.commands.status
print(sorted(m for m in ("github", "requests", "urllib3", "jwt") if m in sys.modules))
"""


def test_the_state_commands_load_pygithub_only_when_they_build_the_client() -> None:
    """PyGithub and requests are a third of apply's start-up. They load when the client is
    built (factory.make_client), after the checks that need no GitHub have started
    (planner.check_ahead), so those checks run beside the import instead of after it."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
