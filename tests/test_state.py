"""The state file: atomic, 0600, locked, never a value; damage is a clear error."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from provisioner import state
from provisioner.cli import main
from provisioner.domain import StateEntry, TargetRef
from provisioner.errors import StateError
from provisioner.state.local import LocalBackend
from tests.support.e2e import CONFIG, Cli

KEY = (TargetRef("org", "octo-org"), "ACR_CONTAINER_REGISTRY_USER")
ENTRY = StateEntry(
    "$argon2id$v=19$m=16384,t=3,p=1$salt$hash", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "ACR"
)


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "s"
    assert state.load(path) == {}
    state.save(path, {KEY: ENTRY})
    assert state.load(path) == {KEY: ENTRY}
    shard = path / "org" / "octo-org.json"
    assert stat.S_IMODE(shard.stat().st_mode) == 0o600
    assert [p.name for p in shard.parent.iterdir() if not p.name.endswith(".lock")] == [
        "octo-org.json"
    ]  # no temporary file left


def test_default_path(tmp_path: Path) -> None:
    config = tmp_path / "team.yaml"
    assert state.default_path(config) == tmp_path / ".provision" / "team"
    assert state.default_path(config, "platform") == tmp_path / ".provision" / "platform"


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{",
        "[]",
        '{"format_version": 9, "secrets": []}',
        '{"format_version": 1, "secrets": [{"scope": "team"}]}',
    ],
)
def test_damaged_state_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(StateError, match="damaged"):
        state.load(path)


def test_two_holders_cannot_interleave(tmp_path: Path) -> None:
    store = state.Store(LocalBackend(tmp_path / "s"), "team")
    target = KEY[0]
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with state.Store(LocalBackend(tmp_path / "s"), "team").locked([target]):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    start = time.monotonic()
    said: list[str] = []
    with (
        pytest.raises(StateError, match=r"still locked by .* after --lock-timeout 0\.2s"),
        store.locked([target], 0.2, notify=said.append),
    ):
        pass
    assert time.monotonic() - start >= 0.2
    # One line while waiting, naming the holder (this process) and since when.
    assert len(said) == 1 and f"(pid {os.getpid()}, since " in said[0]
    # By default, no wait at all.
    with (
        pytest.raises(StateError, match=r"locked by .*@.* wait for it to finish"),
        store.locked([target]),
    ):
        pass
    # Another target's shard is not locked: narrowed runs never contend.
    with store.locked([TargetRef("org", "other-org")]):
        pass
    release.set()
    thread.join()
    with store.locked([target]):
        pass


def test_apply_refuses_while_another_holds_the_lock(cli) -> None:  # type: ignore[no-untyped-def]
    store = state.Store(LocalBackend(cli.state), "team")
    with store.locked([TargetRef("org", "octo-org")]) as holder:
        start = time.monotonic()
        code, out, err = cli.apply()
        assert time.monotonic() - start < 5  # fails at once by default
        assert code == 1 and f"the state is locked by {holder.describe()}" in err
        assert f"provision state unlock {cli.config} {holder.lock_id}" in err
        code, out, err = cli.apply("--lock-timeout", "0.3")
        assert code == 1 and "waiting up to 0.3s for the state lock held by" in err
        assert "still locked by" in err
        # A run narrowed to another target does not wait for this lock.
        assert cli.apply("--target", "repository:octo-org/legacy")[0] == 0
        # plan never locks
        assert cli("plan", "--lock-timeout", "0")[0] == 0
    assert cli.apply("--lock-timeout", "5")[0] == 0


def test_apply_saves_the_state_once_a_second_not_once_per_target(
    cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    targets = "".join(
        f"  - repository: octo-org/{name}\n    registries: [HUB]\n"
        for name in ("api", "web", "svc-auth", "svc-billing", "old-svc")
    )
    cli.write_config(cli.config.read_text().split("targets:")[0] + "targets:\n" + targets)
    saves: list[int] = []
    real_save = state.Store.save

    def counting_save(self: state.Store, entries: dict, keys: Any = None) -> None:  # type: ignore[type-arg]
        saves.append(len(entries))
        real_save(self, entries, keys)

    monkeypatch.setattr(state.Store, "save", counting_save)
    code, out, err = cli.apply()
    assert code == 0, err
    assert 1 <= len(saves) < 5  # five targets written in well under SAVE_EVERY per save
    assert saves[-1] == 15
    assert len(state.load(cli.state)) == 15


# -- a state location that looks like a URL is s3:// or an error -----------------------------

URL_LIKE = [
    ("S3://acme/registries/", ": write s3:// in lower case"),
    ("gs://acme/x/", ": gs:// is not supported"),
    ("file:///tmp/state", ": file:// is not supported"),
    ("s3://", " (a lower-case bucket name)"),
]
FORMS = "the state is a local path or s3://BUCKET/PREFIX/"


def run(cli: Cli, *argv: str) -> tuple[int, str, str]:
    """``provision ARGV...`` in the harness's environment, as given (no --api-url added)."""
    cli.capsys.readouterr()
    saved = dict(os.environ)
    os.environ.update(cli.env)
    try:
        code = main(list(argv))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = cli.capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("given", ["--state", "PROVISION_STATE"])
@pytest.mark.parametrize(("location", "why"), URL_LIKE)
def test_a_url_like_state_location_is_an_error_never_a_local_folder(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str, why: str, given: str
) -> None:
    """The flag is a usage error (64); the variable an error naming it (1), under --json too."""
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    message = f"{given} {location!r}: {FORMS}{why}"
    flag: tuple[str, ...] = ("--state", location) if given == "--state" else ()
    if not flag:
        cli.env["PROVISION_STATE"] = location
    runs = [
        cli.without_state(*argv, *flag) for argv in (("apply", "--yes"), ("plan",), ("status",))
    ]
    runs.append(run(cli, "state", "list", str(cli.config), *flag))
    for code, out, err in runs:
        assert (code, out, err) == (64 if flag else 1, "", f"error: {message}\n")
    code, out, _ = cli.without_state("apply", "--yes", "--json", *flag)
    assert json.loads(out)["errors"] == [{"message": message}]
    assert sorted(tmp_path.rglob("*")) == before  # no ./S3:/acme/... folder
    assert cli.requests() == [] and cli.gh.secrets() == {}


@pytest.mark.parametrize(("location", "why"), URL_LIKE)
def test_a_url_like_config_state_fails_validate_at_its_place(
    cli: Cli, location: str, why: str
) -> None:
    cli.write_config(f'version: 1\nstate: "{location}"\n' + CONFIG.removeprefix("version: 1\n"))
    code, out, err = run(cli, "validate", str(cli.config))
    assert code == 1
    assert err == f"error: {cli.config}:2:8: {location!r}: {FORMS}{why}\n"


# -- a shard that cannot be read fails every command alike ----------------------------------


@pytest.mark.parametrize("damage", ["a folder", "no permission"])
def test_an_unreadable_shard_is_the_same_error_in_every_command(cli: Cli, damage: str) -> None:
    assert cli.apply()[0] == 0
    shard = cli.state / "org" / "octo-org.json"
    if damage == "a folder":
        shard.unlink()
        shard.mkdir()
        why = "Is a directory"
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads a file without permission")
        shard.chmod(0)
        why = "Permission denied"
    expected = f"error: {shard}: cannot read the state: {why}\n"
    for argv in (("plan",), ("status",), ("apply", "--yes", "--write-interval", "0")):
        code, out, err = cli(*argv)
        assert (code, err) == (1, expected), argv
        assert "ACR_CONTAINER" not in out  # no plan of value-unknown secrets
    code, out, err = run(cli, "state", "list", str(cli.config), "--state", str(cli.state))
    assert (code, err) == (1, expected)
    code, out, err = cli("plan", "--json")
    assert code == 1 and json.loads(out) == {
        "format_version": 1,
        "errors": [{"message": expected.removeprefix("error: ").rstrip()}],
    }


def test_a_missing_shard_is_no_error(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    (cli.state / "org" / "octo-org.json").unlink()
    code, out, err = cli("plan")
    assert code == 0 and "value-unknown" in out, err
