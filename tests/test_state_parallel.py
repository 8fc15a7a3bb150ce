"""Runs narrowed to different targets (a matrix job per target) never wait for each other.

Each ``apply --target`` locks only its own target's shard, so N of them at once finish in
about the time of the slowest, not the sum: measured here against the same runs one after
the other, in the same test, with a slow sandbox (so waiting on GitHub, not start-up CPU,
is most of a run).
"""

from __future__ import annotations

import time

from tests.faults.conftest import spawn_apply
from tests.support.e2e import Cli

TARGETS = ["octo-org/api", "octo-org/web", "octo-org/legacy", "octo-org/svc-auth"]
CONFIG = """\
version: 1
registries:
  ACR:
    server: mycompany.azurecr.io
    username: acr-pull
    password: {env: ACR_PASSWORD}
targets:
""" + "".join(f"  - repository: {t}\n    registries: [ACR]\n" for t in TARGETS)
LATENCY = 1.5  # one read per narrowed no-op run: waiting on GitHub outweighs start-up


def _narrowed(target: str) -> list[str]:
    return ["--target", f"repository:{target}", "--lock-timeout", "60"]


def test_narrowed_applies_on_different_targets_run_side_by_side(cli: Cli) -> None:
    cli.write_config(CONFIG)
    code, out, err = cli.apply()
    assert code == 0 and "Apply: 12 done" in out, err
    cli.gh.admin("POST", "faults", {"latency": LATENCY})
    try:
        # One after the other: each run's own wall time.
        alone = 0.0
        for target in TARGETS:
            start = time.monotonic()
            process = spawn_apply(cli, *_narrowed(target))
            out, err = process.communicate(timeout=120)
            alone += time.monotonic() - start
            assert process.returncode == 0 and "No changes." in out, err
        # All at once: none waits for another's lock, and the batch takes far less than the sum.
        start = time.monotonic()
        processes = [spawn_apply(cli, *_narrowed(t)) for t in TARGETS]
        results = [p.communicate(timeout=120) for p in processes]
        together = time.monotonic() - start
    finally:
        cli.gh.admin("POST", "faults", {"latency": 0})
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0 and "No changes." in out, err
        assert "waiting" not in err and "locked" not in err, err
    assert together < 0.75 * alone, f"{len(TARGETS)} runs: {together:.1f}s at once, {alone:.1f}s"
