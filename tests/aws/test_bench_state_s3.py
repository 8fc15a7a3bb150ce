"""``make bench``'s S3-vs-local no-op plan runs (small), and compares what it says."""

from __future__ import annotations

import re

import pytest

from bench import state_s3


def test_the_s3_state_bench_plans_no_op_from_both_states(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Each plan runs with --detailed-exitcode: a state the plan could not read (an empty
    # bucket, a wrong prefix) would plan changes, exit 2, and stop the bench.
    assert state_s3.main(["--targets", "10", "--rounds", "1", "--latency", "0"]) == 0
    out = capsys.readouterr().out
    assert "No-op plan of 10 targets (10 shards)" in out
    assert re.search(r"S3 over local: [+-]\d+\.\d\d s \(\d+\.\d\dx\)\.", out), out
