"""Request budget at scale: a generated world of 40 targets, exact request counts per case.

Issue 3's budget, per case (see bench/run.py ``floors`` and the README's Performance section):
cold apply = writes + one list, one public key and one read-back list per target + one
repository listing per org; no-op plan = one list per target + one selected-repositories read
per managed org secret + one listing per org that uses a glob; a rotation run with
``--registry`` reads only that registry's policies and, its keys cached in the state,
asks for no public key. Also: reads overlap (a no-op plan with
50 ms latency takes well under the serial sum).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import worlds
from bench.run import floors
from provisioner.cli import main
from provisioner.sandbox import Sandbox, load_world
from tests.support.e2e import kinds

SHAPE = worlds.Shape(40)
ORGS = len(SHAPE.orgs)  # 10: 5 by glob, 5 by 12 names
GLOB_ORGS = sum(1 for i in range(ORGS) if SHAPE.glob_org(i))


@dataclass
class World:
    sandbox: Sandbox
    config: Path
    state: Path
    env: dict[str, str]

    def __call__(self, *args: str) -> int:
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            common = ["--api-url", self.sandbox.url, "--state", str(self.state)]
            return main([args[0], str(self.config), *common, *args[1:]])
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def apply(self, *args: str) -> int:
        return self("apply", "--yes", "--write-interval", "0", *args)

    def log(self) -> list[dict[str, Any]]:
        entries = self.sandbox.store.requests()
        self.sandbox.store.reset_log()
        return entries


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Counter[str]]]:
    """The 40-target world after a cold apply, with the cold apply's requests by kind."""
    folder = tmp_path_factory.mktemp("budget")
    world_path, config = worlds.write(SHAPE, folder)
    with Sandbox(load_world(world_path)) as sandbox:
        world = World(sandbox, config, folder / "state.json", dict(worlds.ENV))
        assert world.apply() == 0
        yield world, kinds(world.log())


def test_cold_apply_is_at_the_floor(applied: tuple[World, Counter[str]]) -> None:
    _, cold = applied
    targets = SHAPE.size
    assert cold == Counter(
        {
            "PUT secret": SHAPE.secrets,  # 360
            "GET list": 2 * targets,  # observe + read back
            "GET public-key": targets,
            "GET repo-listing": ORGS,  # a glob or 12 names: one page each
        }
    )
    assert sum(cold.values()) == floors(SHAPE)["cold apply"] == 490


def test_no_op_plan_is_at_the_floor(applied: tuple[World, Counter[str]]) -> None:
    world, _ = applied
    world.log()
    assert world("plan", "--detailed-exitcode") == 0
    counts = kinds(world.log())
    assert counts == Counter(
        {
            "GET list": SHAPE.size,
            # No selected-repositories read: the state recorded each selection at the cold
            # apply, and GitHub's unchanged updated_at proves it still holds.
            "GET repo-listing": GLOB_ORGS,  # a glob must be matched against today's repos
        }
    )
    assert sum(counts.values()) == floors(SHAPE)["no-op plan"] == 45


def test_rotation_reads_only_the_rotating_registry(applied: tuple[World, Counter[str]]) -> None:
    world, _ = applied
    assert world.apply("--registry", worlds.ROTATING, "--force-rotate") == 0
    counts = kinds(world.log())
    assert counts == Counter(
        {
            "GET list": 2 * SHAPE.size,
            # The selections are the recorded ones; the writes need their IDs: one listing
            # per org (the glob orgs' listings serve the globs too).
            "GET repo-listing": ORGS,
            "PUT secret": SHAPE.size,  # the passwords only; each key is cached in the state
        }
    )
    assert sum(counts.values()) == floors(SHAPE)["rotation"]


def test_no_op_plan_reads_in_parallel(applied: tuple[World, Counter[str]]) -> None:
    world, _ = applied
    latency = 0.1
    world.sandbox.store.set_faults({"latency": latency})
    world.log()
    try:
        start = time.monotonic()
        assert world("plan", "--detailed-exitcode") == 0
        elapsed = time.monotonic() - start
    finally:
        world.sandbox.store.set_faults({"latency": 0})
    serial = len(world.log()) * latency  # 45 requests: 4.5 s one after another
    # Sixteen workers make it about a sixth (the glob listings, then the lists); half is a
    # bound that cannot flake.
    assert elapsed < 0.5 * serial, (elapsed, serial)


def test_the_benchmarks_hour_ages_the_sharded_state_so_the_passwords_rotate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make bench`` lets an hour pass (bench.run.age_rotating) on its sandbox process and in
    the state's shards: only the rotating registry's passwords are then due, one per target."""
    from bench.run import age_rotating
    from bench.sandbox import Sandbox as SandboxProcess

    shape = worlds.Shape(8)
    world_path, config = worlds.write(shape, tmp_path)
    for name, value in worlds.ENV.items():
        monkeypatch.setenv(name, value)
    sandbox = SandboxProcess(world_path, tmp_path)
    try:
        common = [str(config), "--api-url", sandbox.url, "--state", str(tmp_path / "state")]
        apply = ["apply", *common, "--yes", "--write-interval", "0"]
        assert main(apply) == 0
        assert main(["plan", *common, "--detailed-exitcode"]) == 0
        age_rotating(sandbox, shape, tmp_path / "state")
        assert main(["plan", *common, "--detailed-exitcode"]) == 2
        sandbox.take_log()
        assert main([*apply, "--registry", worlds.ROTATING]) == 0
        writes = [r for r in sandbox.admin("GET", "requests") if r["method"] == "PUT"]
        assert len(writes) == shape.size
        assert {r["path"].rsplit("/", 1)[1] for r in writes} == {
            f"{worlds.ROTATING}_CONTAINER_REGISTRY_PASSWORD"
        }
    finally:
        sandbox.close()
