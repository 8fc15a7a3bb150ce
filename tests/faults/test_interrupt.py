"""Ctrl-C, SIGTERM and SIGHUP during apply, for real: a subprocess against a slow sandbox,
the signal sent after the first write."""

from __future__ import annotations

import json
import signal

import pytest

from tests.faults.conftest import (
    assert_converged,
    faults,
    held,
    no_temporary_state,
    ok_keys,
    recorded,
    spawn_apply,
    stop_after_first_write,
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
