"""Scale: large state files load fast; fingerprints are derived once per value per run."""

from __future__ import annotations

import time
from pathlib import Path

from bench.startup import synthetic_state
from provisioner import crypto, state
from provisioner.secret import SecretValue


def test_a_state_of_10000_secrets_loads_well_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    entries = synthetic_state(10_000)
    state.save(path, entries)
    start = time.perf_counter()
    loaded = state.load(path)
    elapsed = time.perf_counter() - start
    assert loaded == entries
    assert elapsed < 1.0  # about 40 ms here; the benchmark prints the figure


def test_one_fingerprint_per_value_and_checks_are_remembered_per_run() -> None:
    run = crypto.Fingerprints()
    value = SecretValue("scale-MARKER-value")
    first = run.fingerprint(value)
    # The N targets that receive one value in one run share one salted argon2id hash ...
    assert run.fingerprint(SecretValue("scale-MARKER-value")) == first
    assert first.startswith("$argon2id$") and "MARKER" not in first
    # ... while another value gets its own salt.
    other = run.fingerprint(SecretValue("scale-MARKER-other"))
    assert other.split("$")[4] != first.split("$")[4]
    assert run.matches(value, first) and not run.matches(value, other)
    start = time.perf_counter()
    for _ in range(200):  # 200 uncached argon2id checks would take about 5 s
        assert run.matches(SecretValue("scale-MARKER-value"), first)
    assert time.perf_counter() - start < 1.0
    # Another run remembers nothing of this one: a new salt.
    assert crypto.Fingerprints().fingerprint(value) != first
