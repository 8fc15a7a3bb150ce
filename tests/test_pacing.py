"""Writes are paced by --write-interval; reads are not throttled (PyGithub's 0.25 s is off)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.support.e2e import Cli


def test_writes_are_paced_and_reads_are_not(cli: Cli) -> None:
    start = time.monotonic()
    code, _, err = cli("apply", "--yes", "--write-interval", "0.3", "-v")
    elapsed = time.monotonic() - start
    assert code == 0, err
    assert elapsed >= 8 * 0.3  # 9 writes, 8 pauses between them
    # The pauses come between the requests, not inside them: -v times each PUT alone (when
    # PyGithub paced them, each line after the first took the 0.3 s pause too).
    puts = [int(ms) for ms in re.findall(r"^PUT \S+ \d+ \((\d+) ms\)$", err, re.MULTILINE)]
    assert len(puts) == 9, err
    assert sum(puts) < 8 * 300, err
    start = time.monotonic()
    assert cli("plan")[0] == 0
    # 9 reads; PyGithub's default 0.25 s between requests would take over 2 s.
    assert time.monotonic() - start < 2.0


def test_write_interval_from_environment(cli: Cli) -> None:
    cli.env["PROVISION_WRITE_INTERVAL"] = "0.25"
    start = time.monotonic()
    assert cli("apply", "--yes")[0] == 0
    assert time.monotonic() - start >= 8 * 0.25


@pytest.mark.parametrize("value", ["inf", "1e400"])
def test_an_endless_write_interval_is_a_usage_error_before_any_request(
    cli: Cli, value: str
) -> None:
    """It once passed validation, read GitHub and crashed at the first pause (OverflowError)."""
    cli.env["PROVISION_WRITE_INTERVAL"] = value
    code, out, err = cli("apply", "--yes", "--json")
    assert code == 64, err
    [error] = json.loads(out)["errors"]
    assert "--write-interval" in error["message"]
    assert "must be a finite number of seconds" in error["message"]
    assert "Traceback" not in err and "internal error" not in err
    assert cli.requests() == []


def test_provision_sandbox_command_serves_on_loopback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "sandbox", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "sandbox listening on http://127.0.0.1:" in line
        url = line.strip().rsplit(" ", 1)[-1]
        request = urllib.request.Request(
            f"{url}/user", headers={"Authorization": "token ghp_sandbox_admin"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert b'"login": "octocat"' in answer.read().replace(b'"login":"', b'"login": "')
    finally:
        process.terminate()
        assert process.wait(timeout=10) is not None


def test_provision_sandbox_fault_flags() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioner",
            "sandbox",
            "--port",
            "0",
            "--fail-every",
            "2",
            "--secondary-limit-writes",
            "1",
            "--retry-after",
            "7",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        url = process.stderr.readline().strip().rsplit(" ", 1)[-1]
        headers = {"Authorization": "token ghp_sandbox_admin"}
        statuses = []
        for _ in range(4):
            request = urllib.request.Request(f"{url}/user", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
        assert statuses == [200, 502, 200, 502]
        put = urllib.request.Request(
            f"{url}/repos/octo-org/api/codespaces/secrets/X",
            data=b"{}",
            method="PUT",
            headers=headers,
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(put, timeout=5)
        assert (info.value.code, info.value.headers["Retry-After"]) == (403, "7")
    finally:
        process.terminate()
        process.wait(timeout=10)
