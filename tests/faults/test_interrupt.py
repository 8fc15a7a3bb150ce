"""Ctrl-C, SIGTERM and SIGHUP during apply, for real: a subprocess against a slow sandbox,
the signal sent after the first write."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.faults.conftest import (
    assert_converged,
    faults,
    held,
    no_temporary_state,
    ok_keys,
    recorded,
    spawn,
    spawn_apply,
    stop_after_first_write,
    successful_puts,
    wait_until,
)
from tests.support.e2e import Cli

STOPS = [
    pytest.param(signal.SIGINT, 130, "interrupted", id="SIGINT"),
    pytest.param(signal.SIGTERM, 143, "terminated", id="SIGTERM"),
    pytest.param(signal.SIGHUP, 129, "hung up", id="SIGHUP"),
]


@pytest.mark.parametrize(("signum", "exit_code", "word"), STOPS)
def test_a_stop_signal_finishes_the_write_in_flight_records_state_and_reports(
    fcli: Cli, signum: int, exit_code: int, word: str
) -> None:
    faults(fcli, latency=0.15)
    process = spawn_apply(fcli, "--json")
    out, err = stop_after_first_write(fcli, process, lambda p: p.send_signal(signum))
    assert process.returncode == exit_code, err
    assert f"{word}: finishing the write in flight" in err
    assert "Traceback" not in err
    report = json.loads(out)
    results = [c["result"] for c in report["changes"]]
    done = ok_keys(report)
    assert "not-attempted" in results and "failed" not in results
    assert 1 <= len(done) < 9
    # What the report calls done is exactly what GitHub holds and what the state records,
    # with GitHub's updated_at as read back after the write.
    assert recorded(fcli) == held(fcli)
    assert set(held(fcli)) == done
    assert no_temporary_state(fcli)
    faults(fcli, latency=0)
    code, out, err = fcli.apply()
    assert code == 0, err
    assert_converged(fcli)


def test_sigterm_prints_the_text_report_too(fcli: Cli) -> None:
    faults(fcli, latency=0.15)
    process = spawn_apply(fcli)
    out, err = stop_after_first_write(fcli, process, lambda p: p.send_signal(signal.SIGTERM))
    assert process.returncode == 143, err
    done = len(held(fcli))
    assert f"Apply: {done} done, 0 failed, {9 - done} not attempted. Interrupted." in out
    assert set(recorded(fcli)) == set(held(fcli))


def test_a_stop_during_the_pause_between_writes_sends_no_further_write(fcli: Cli) -> None:
    """The pause between writes is no write in flight: SIGTERM during it stops the run at
    once, nothing more sent. (When PyGithub paced the writes inside the request call, the
    next write went out once the pause was over: 2 done, not 1.)"""
    interval = 30.0  # far longer than the run would take to stop, on any machine
    process = spawn(fcli, "apply", "--yes", "--json", "--write-interval", str(interval))
    try:
        wait_until(fcli.gh.secrets, "a first write")
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=interval * 2)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    assert took < interval / 2, f"{took:.1f}s: the run waited out the pause"
    report = json.loads(out)
    results = [c["result"] for c in report["changes"]]
    assert results.count("ok") == 1 and results.count("not-attempted") == 8, results
    assert sum(successful_puts(fcli).values()) == 1
    assert set(held(fcli)) == ok_keys(report) == set(recorded(fcli))
