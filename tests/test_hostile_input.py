"""Hostile and broken input at the CLI: configs and value sources.

Each case: one clear error line, exit 1, no traceback, bounded time (and, for configs, memory,
checked in a subprocess under an address-space limit), nothing half-written, and the next run
with the input repaired converges.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.e2e import ACR_PASSWORD, CONFIG, Cli

ROOT = Path(__file__).resolve().parents[1]
NESTED = "version: 1\nregistries:\n  A: " + "[" * 5000 + "]" * 5000 + "\n"
BOMB = "version: 1\nx0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"x{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
    f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
    for i in range(1, 10)
)
HUGE_LINE = "version: 1\n# " + "x" * (3 * 1024 * 1024) + "\n"
MANY_KEYS = "version: 1\nregistries:\n" + "".join(f"  R{i}: {{server: s}}\n" for i in range(60000))

CONFIGS = {
    "alias bomb": (BOMB, "too many YAML nodes"),
    "deep nesting": (NESTED, "nest"),
    "huge file": (HUGE_LINE, "file too large"),
    "many keys (over 1 MiB)": (MANY_KEYS, "file too large"),
    "binary": ("\x00\x01\x02\xff", ""),
    "not a mapping": ("- just\n- a list\n", ""),
    "syntax error": ("version: 1\nregistries: {A: [}\n", ""),
}


def _limit_memory() -> None:
    limit = 1024 * 1024 * 1024  # 1 GiB of address space: an expanded bomb would need far more
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_hostile_config(tmp_path: Path, name: str, command: str) -> None:
    text, expected = CONFIGS[name]
    config = tmp_path / "hostile.yaml"
    config.write_bytes(text.encode("utf-8", "surrogateescape"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GH_TOKEN": "ghp_x"}
    argv = [sys.executable, "-m", "provisioner", command, str(config)]
    if command == "plan":
        argv += ["--api-url", "http://127.0.0.1:9", "--state", str(tmp_path / "state.json")]
    start = time.monotonic()
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory
    )
    assert time.monotonic() - start < 30
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3 and all(line.startswith("error: ") for line in lines), lines
    assert expected in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert str(config) in done.stderr or "hostile.yaml" in done.stderr
    assert not (tmp_path / "state.json").exists()


SOURCES = {
    "missing file": ("{file: nowhere/token}", "file ", "cannot read"),
    "a directory": ("{file: adir}", "file ", "not a regular file"),
    "a FIFO (no writer: must not hang)": ("{file: afifo}", "file ", "not a regular file"),
    "unset env": ("{env: NOT_SET_ANYWHERE}", "env NOT_SET_ANYWHERE", "unset or empty"),
    "a command that hangs": (
        "{command: [sh, -c, 'sleep 60'], timeout: 0.5}",
        "command 'sh'",
        "timed out after 0.5s",
    ),
    "a command that prints 64 MiB": (
        "{command: [sh, -c, 'yes x | head -c 67108864; sleep 60'], timeout: 30}",
        "command 'sh'",
        "printed more than 1048576 bytes",
    ),
    "a command that fails": (
        "{command: [sh, -c, 'echo nope >&2; exit 3']}",
        "command 'sh'",
        "nope",
    ),
    "a missing program": ("{command: [no-such-program-here]}", "no-such-program", "not found"),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_hostile_source(cli: Cli, name: str) -> None:
    source, what, expected = SOURCES[name]
    (cli.tmp / "adir").mkdir()
    os.mkfifo(cli.tmp / "afifo")
    cli.write_config(CONFIG.replace("{env: ACR_PASSWORD}", source))
    start = time.monotonic()
    code, out, err = cli.apply()
    assert time.monotonic() - start < 20
    assert code == 1
    assert what in out + err and expected in out + err, out + err
    assert "Traceback" not in out + err
    # The other targets were applied; the broken registry's password was not written.
    secrets = cli.gh.secrets()
    assert ("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD") not in secrets
    assert ("repository", "octo-org/legacy", "HUB_CONTAINER_REGISTRY_PASSWORD") in secrets
    # Repaired, the next run converges.
    cli.write_config(CONFIG)
    assert cli.apply()[0] == 0
    assert cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"] == (
        ACR_PASSWORD
    )
    assert cli("plan", "--detailed-exitcode")[0] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_an_unreadable_file(cli: Cli) -> None:
    secret = cli.tmp / "locked"
    secret.write_text("x")
    secret.chmod(0)
    cli.write_config(CONFIG.replace("{env: ACR_PASSWORD}", "{file: locked}"))
    code, _, err = cli("plan")
    assert code == 1
    assert "cannot read: Permission denied" in err


def test_a_fifo_as_config_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    fifo = tmp_path / "team.yaml"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", "validate", str(fifo)],
        capture_output=True,
        text=True,
        timeout=30,  # a blocking open would hang here for ever
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 1
    assert f"{fifo}: not a regular file" in done.stderr
