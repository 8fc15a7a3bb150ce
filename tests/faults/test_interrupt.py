"""Ctrl-C during apply, for real: a subprocess against a slow sandbox, SIGINT after a write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e import Cli
from tests.faults.conftest import assert_converged, faults

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_after_the_write_in_flight_records_state_and_exits_130(fcli: Cli) -> None:
    faults(fcli, latency=0.15)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")},
        **fcli.env,
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "provisioner", "apply", str(fcli.config), "--yes"]
    argv += ["--write-interval", "0", "--api-url", fcli.gh.sandbox.url, "--state", str(fcli.state)]
    argv += ["--json"]
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not fcli.gh.secrets() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fcli.gh.secrets(), "no write happened"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "finishing the write in flight" in err
    assert "Traceback" not in err
    report = json.loads(out)
    results = [c["result"] for c in report["changes"]]
    done = {
        (c["scope"], c["target"], c["secret"]) for c in report["changes"] if c["result"] == "ok"
    }
    assert "not-attempted" in results and "failed" not in results
    assert 1 <= len(done) < 9
    # What the report calls done is exactly what GitHub holds and what the state records.
    assert set(fcli.gh.secrets()) == done
    recorded = {
        (e["scope"], e["target"], e["secret"])
        for e in json.loads(fcli.state.read_text())["secrets"]
    }
    assert recorded == done
    assert not list(fcli.state.parent.glob(f".{fcli.state.name}.*.tmp"))
    faults(fcli, latency=0)
    code, out, err = fcli.apply()
    assert code == 0, err
    assert_converged(fcli)
