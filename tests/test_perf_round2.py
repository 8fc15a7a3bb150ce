"""Issue 13, performance round 2: what each speed-up must keep true, by counts and ordering.

Literals get a salted BLAKE2b fingerprint (and only the tool's two formats are ever verified);
the state checks run on a small pool while the reads are in flight; new values' fingerprints
are made beside their writes; repository IDs are resolved for several owners at once; reads
run 16 at a time by default, bounded.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import worlds
from provisioner import crypto, factory, preflight
from provisioner.cli import main
from provisioner.config import load_config
from provisioner.domain import TargetRef
from provisioner.errors import GitHubError, UsageError
from provisioner.github.client import GitHubClient
from provisioner.sandbox import Sandbox, load_world
from provisioner.secret import SecretValue
from tests.support.e2e import Cli

LITERALS = {
    ("org", "octo-org", "ACR_CONTAINER_REGISTRY_SERVER"),
    ("org", "octo-org", "ACR_CONTAINER_REGISTRY_USER"),
    ("repository", "octo-org/legacy", "HUB_CONTAINER_REGISTRY_SERVER"),
    ("user", "octocat", "HUB_CONTAINER_REGISTRY_SERVER"),
}
"""The e2e config's secrets whose values are written in it (the rest come from sources)."""


def _entries(cli: Cli) -> dict[tuple[str, str, str], str]:
    entries: list[dict[str, Any]] = cli.state_entries()
    return {(e["scope"], e["target"], e["secret"]): e["fingerprint"] for e in entries}


def _argon2id(fingerprint: str) -> bool:
    return fingerprint.startswith("$argon2id$v=19$m=16384,t=3,p=1$")


# -- 2. literals are not secrets --------------------------------------------------------------


def test_literal_fingerprints_are_salted_blake2b_and_verify() -> None:
    value = SecretValue("mycompany.azurecr.io")
    one = crypto.fingerprint(value, literal=True)
    two = crypto.fingerprint(value, literal=True)
    assert one.startswith(crypto.LITERAL_PREFIX) and one != two  # a new salt each time
    assert "mycompany" not in one
    assert crypto.is_current(one)
    assert crypto.matches(value, one, literal=True)
    assert not crypto.matches(SecretValue("mycompany.azurecr.ioX"), one, literal=True)
    # A value from a source never verifies against a fast hash: it plans as changed and is
    # rewritten with argon2id, so no cheap fingerprint of a secret stays in the state.
    assert not crypto.matches(value, one, literal=False)
    # An argon2id entry still verifies a literal (states written before this change).
    assert crypto.matches(value, crypto.fingerprint(value), literal=True)


def test_is_current_accepts_exactly_the_two_formats() -> None:
    literal = crypto.fingerprint(SecretValue("acr-pull"), literal=True)
    argon = crypto.fingerprint(SecretValue("acr-pull"))
    salt, digest = literal.removeprefix(crypto.LITERAL_PREFIX).split("$")
    refused = [
        argon.replace("t=3,", "t=4294967295,"),
        argon.replace("m=16384,", "m=1048576,"),
        argon.replace("$argon2id$", "$argon2i$"),
        literal.replace("$v=1$", "$v=2$"),
        literal.replace("blake2b-provision", "blake2s-provision"),
        f"{crypto.LITERAL_PREFIX}{salt}A${digest}",  # a longer salt
        f"{crypto.LITERAL_PREFIX}{salt}${digest[:-1]}",  # a shorter digest
        f"{crypto.LITERAL_PREFIX}{salt}${digest}$",
        f"{crypto.LITERAL_PREFIX}{salt}=${digest}",
        literal + "\n",
        f"$blake2b$v=1${salt}${digest}",
        "",
        None,
        42,
    ]
    assert crypto.is_current(literal) and crypto.is_current(argon)
    assert [f for f in refused if crypto.is_current(f)] == []
    assert not crypto.matches(SecretValue("acr-pull"), refused[3], literal=True)  # type: ignore[arg-type]


def test_blake2b_fingerprint_is_the_documented_hash() -> None:
    """The format is what it says: BLAKE2b-256 of the UTF-8 value with the 16-byte salt."""
    import hashlib

    made = crypto.fingerprint(SecretValue("oauth2accesstoken"), literal=True)
    salt_b64, digest_b64 = made.removeprefix(crypto.LITERAL_PREFIX).split("$")
    salt = base64.b64decode(salt_b64 + "==")
    expected = hashlib.blake2b(b"oauth2accesstoken", digest_size=32, salt=salt).digest()
    assert base64.b64decode(digest_b64 + "=") == expected and len(salt) == 16


def test_apply_records_blake2b_for_literals_argon2id_for_sources(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    entries = _entries(cli)
    assert len(entries) == 9
    assert {k for k, f in entries.items() if f.startswith(crypto.LITERAL_PREFIX)} == LITERALS
    assert all(_argon2id(f) for k, f in entries.items() if k not in LITERALS)
    code, out, err = cli("plan", "--json")
    assert code == 0, err
    assert json.loads(out)["changes"] == []  # both formats verify: nothing to do


def test_a_literal_changed_in_the_config_plans_value_changed(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.write_config(cli.config.read_text().replace("username: acr-pull", "username: acr-pull2"))
    code, out, err = cli("plan", "--json")
    assert code == 0, err
    changes = json.loads(out)["changes"]
    assert [(c["secret"], c["reasons"]) for c in changes] == [
        ("ACR_CONTAINER_REGISTRY_USER", ["value-changed"])
    ]


def test_argon2id_work_is_only_the_sources(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A no-change plan verifies its 5 source values with argon2id, its 4 literals cheaply."""
    assert cli.apply()[0] == 0
    calls: list[str] = []
    real = crypto.nacl.pwhash.argon2id.verify

    def counting(*args: Any) -> Any:
        calls.append("argon2id")
        return real(*args)

    monkeypatch.setattr(crypto.nacl.pwhash.argon2id, "verify", counting)
    code, out, err = cli("plan", "--json")
    assert code == 0, err and json.loads(out)["changes"] == []
    # ACR_PASSWORD, HUB_USER (2 targets share one fingerprint check each) and the hub token:
    # one check per distinct (value, fingerprint) pair, the 4 literals none.
    entries = _entries(cli)
    assert len(calls) == len({f for k, f in entries.items() if k not in LITERALS})


# -- 1. fingerprints off the critical path ----------------------------------------------------


def _timed(events: list[tuple[str, float]], name: str, fn: Callable[..., Any]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        events.append((f"{name}-start", time.monotonic()))
        try:
            return fn(*args, **kwargs)
        finally:
            events.append((f"{name}-end", time.monotonic()))

    return wrapper


def _slow_no_op_plan(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, latency: float
) -> list[tuple[str, float, SecretValue]]:
    """A no-op plan against a slow GitHub: ("check-start"/"check-end", time, value) of each
    state check, ("read-start"/"read-end", time, None) of each target's list."""
    events: list[tuple[str, float, Any]] = []
    real_matches, real_list = crypto.matches, GitHubClient.list_secrets

    def matches(value: SecretValue, *args: Any, **kwargs: Any) -> bool:
        events.append(("check-start", time.monotonic(), value))
        try:
            return real_matches(value, *args, **kwargs)
        finally:
            events.append(("check-end", time.monotonic(), value))

    def list_secrets(self: GitHubClient, target: TargetRef) -> Any:
        events.append(("read-start", time.monotonic(), None))
        try:
            return real_list(self, target)
        finally:
            events.append(("read-end", time.monotonic(), None))

    monkeypatch.setattr(crypto, "matches", matches)
    monkeypatch.setattr(GitHubClient, "list_secrets", list_secrets)
    cli.gh.sandbox.store.set_faults({"latency": latency})
    try:
        code, out, err = cli("plan", "--json")
    finally:
        cli.gh.sandbox.store.set_faults({"latency": 0})
    assert code == 0, err
    assert json.loads(out)["changes"] == []
    return events


def test_a_commands_check_runs_while_later_targets_are_still_read(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command's value is checked as its target's read lands (reads one at a time, slow
    here): before the last read ends, on the run's pool (before round 2, every check started
    after the last read)."""
    command = "{command: [sh, -c, 'echo acr-MARKER-from-command']}"
    cli.write_config(cli.config.read_text().replace("{env: ACR_PASSWORD}", command))
    assert cli.apply()[0] == 0
    cli.env["PROVISION_READ_CONCURRENCY"] = "1"
    events = _slow_no_op_plan(cli, monkeypatch, 0.3)
    commanded = SecretValue("acr-MARKER-from-command")
    reads = [t for name, t, _ in events if name == "read-end"]
    started = [t for name, t, v in events if name == "check-start" and v == commanded]
    ended = [t for name, t, v in events if name == "check-end" and v == commanded]
    assert len(reads) == 3 and len(started) == len(ended) == 1
    assert min(reads) <= started[0]  # not before its target (the first read) landed
    assert ended[0] < max(reads)


def test_values_free_to_read_are_checked_before_any_list_lands(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Literals, environment variables and files need only the state to be checked: every
    check starts before GitHub's first answer (slow here), not as each answer lands."""
    assert cli.apply()[0] == 0
    events = _slow_no_op_plan(cli, monkeypatch, 0.5)
    checks = [t for name, t, _ in events if name == "check-start"]
    answers = [t for name, t, _ in events if name == "read-end"]
    assert len(answers) == 3 and len(checks) >= 5
    assert max(checks) < min(answers)


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_free_checks_run_while_the_github_client_is_built(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Importing PyGithub and requests is most of the start-up: the checks that need only the
    config and the state run beside it (a slow client build here), not after it."""
    from provisioner.commands import preamble

    assert cli.apply()[0] == 0
    events: list[tuple[str, float]] = []
    monkeypatch.setattr(crypto, "matches", _timed(events, "check", crypto.matches))
    real = preamble.make_client

    def slow_client(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.8)  # the checks take about 0.1 s here: a margin for a loaded machine
        return real(*args, **kwargs)

    monkeypatch.setattr(preamble, "make_client", _timed(events, "client", slow_client))
    code, _, err = cli.apply() if command == "apply" else cli("plan")
    assert code == 0, err
    checks = [t for name, t in events if name == "check-end"]
    (built,) = [t for name, t in events if name == "client-end"]
    assert len(checks) >= 5 and max(checks) < built


def test_a_command_is_never_run_early_for_a_target_that_cannot_be_read(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command (or AWS) source is read only where the plan compares its value: after its
    target's list landed, never for a target whose read failed."""
    marker = cli.tmp / "ran"
    command = f'{{command: [sh, -c, "echo run >> {marker}; echo hub-MARKER-cmd"]}}'
    cli.write_config(cli.config.read_text().replace("{file: hub-token}", command))
    assert cli.apply()[0] == 0
    assert marker.read_text().count("run") == 1
    real = GitHubClient.list_secrets

    def failing(self: GitHubClient, target: TargetRef) -> Any:
        if target.scope != "org":  # the two targets of HUB, whose password is the command
            raise GitHubError(f"{target.label}: GitHub is down")
        return real(self, target)

    monkeypatch.setattr(GitHubClient, "list_secrets", failing)
    code, _, err = cli("plan")
    assert code == 1 and "GitHub is down" in err, err
    assert marker.read_text().count("run") == 1


def test_a_changed_value_resolves_its_orgs_repository_ids_beside_the_reads(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The org's selection is the recorded one (not read), so its write needs the IDs: the
    check that finds the value changed starts their listing while another target is still
    being read (before: only after the diff, after the last read)."""
    assert cli.apply()[0] == 0
    cli.env["ACR_PASSWORD"] = "acr-MARKER-password-changed"
    events: list[tuple[str, float]] = []
    real = GitHubClient.list_secrets

    def slow_user(self: GitHubClient, target: TargetRef) -> Any:
        if target.scope == "user":
            time.sleep(0.6)
        return real(self, target)

    monkeypatch.setattr(GitHubClient, "list_secrets", _timed(events, "read", slow_user))
    monkeypatch.setattr(
        GitHubClient,
        "list_repositories",
        _timed(events, "listing", GitHubClient.list_repositories),
    )
    code, out, err = cli("plan", "--json")
    assert code == 0, err
    changes = json.loads(out)["changes"]
    assert [(c["target"], c["secret"]) for c in changes] == [
        ("octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")
    ]
    listings = [t for name, t in events if name == "listing-start"]
    assert len(listings) == 1  # one listing, not one more at the plan's own resolution
    assert listings[0] < max(t for name, t in events if name == "read-end")


def _timed_apply(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, latency: float
) -> list[tuple[str, float]]:
    """A cold apply at ``latency`` per request; when the fingerprints, the preflight and each
    PUT started and ended."""
    events: list[tuple[str, float]] = []
    monkeypatch.setattr(crypto, "fingerprint", _timed(events, "fingerprint", crypto.fingerprint))
    monkeypatch.setattr(preflight, "check", _timed(events, "preflight", preflight.check))
    monkeypatch.setattr(GitHubClient, "put_secret", _timed(events, "put", GitHubClient.put_secret))
    cli.gh.sandbox.store.set_faults({"latency": latency})
    try:
        code, _, err = cli.apply()
    finally:
        cli.gh.sandbox.store.set_faults({"latency": 0})
    assert code == 0, err
    return events


def test_new_fingerprints_are_made_beside_the_writes_not_after(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _timed_apply(cli, monkeypatch, 0.1)
    made = [t for name, t in events if name == "fingerprint-start"]
    put_starts = [t for name, t in events if name == "put-start"]
    assert len(put_starts) == 9
    # 5 distinct values from sources + 4 literals (two targets share the HUB server's value).
    assert len(made) == len(set(_entries(cli).values()))
    # Started on the pool before the writes (each 0.1 s slow), not inline after each one.
    assert min(made) < min(put_starts)
    assert sum(1 for t in made if t < min(put_starts) + 0.1) >= 2


def test_new_fingerprints_start_once_the_preflight_is_done(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight stands between the plan and the first write; the new values' hashing
    waits for it (it would take the cores its workers start on), and still precedes the
    writes."""
    events = _timed_apply(cli, monkeypatch, 0.05)
    made = [t for name, t in events if name == "fingerprint-start"]
    (preflight_end,) = [t for name, t in events if name == "preflight-end"]
    assert made and min(made) >= preflight_end
    assert min(made) < min(t for name, t in events if name == "put-start")


def test_fingerprints_memo_is_shared_and_the_pool_settles_errors() -> None:
    run = crypto.Fingerprints()
    value = SecretValue("memo-MARKER")
    soon = run.fingerprint_soon(value)
    assert run.fingerprint(value) == soon.result()
    assert run.matches_soon(value, soon.result()).result() is True
    assert run.matches(value, soon.result()) is True
    assert run.computed == 2
    run.close()


# -- 3. parallel repository-ID resolution ----------------------------------------------------


@pytest.fixture
def world16(tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    world_path, config = worlds.write(worlds.Shape(16), tmp_path)
    with Sandbox(load_world(world_path)) as sandbox:
        yield sandbox, config


def test_repository_ids_of_several_owners_resolve_at_once(
    world16: tuple[Sandbox, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The orgs that name their repositories (no glob) are listed for IDs before the first
    write: those listings overlap (before: one after another)."""
    sandbox, config = world16
    named = {o for i, o in enumerate(worlds.Shape(16).orgs) if not worlds.Shape(16).glob_org(i)}
    assert len(named) >= 2
    in_flight: set[str] = set()
    most = [0]
    lock = threading.Lock()
    real = GitHubClient.list_repositories

    def listing(self: GitHubClient, owner: TargetRef) -> Iterator[Any]:
        if owner.name in named:
            with lock:
                in_flight.add(owner.name)
                most[0] = max(most[0], len(in_flight))
            time.sleep(0.3)  # a slow GitHub: long enough for the other listings to start
        try:
            yield from real(self, owner)
        finally:
            with lock:
                in_flight.discard(owner.name)

    monkeypatch.setattr(GitHubClient, "list_repositories", listing)
    saved = dict(os.environ)
    os.environ.update(worlds.ENV)
    try:
        args = ["plan", str(config), "--api-url", sandbox.url, "--state", str(tmp_path / "s")]
        assert main([*args, "--json"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert most[0] == len(named)


# -- 4. read concurrency -----------------------------------------------------------------------


def test_read_concurrency_defaults_to_16_and_stays_bounded() -> None:
    assert factory.read_concurrency({}) == 16
    assert factory.read_concurrency({"PROVISION_READ_CONCURRENCY": " "}) == 16
    assert factory.read_concurrency({"PROVISION_READ_CONCURRENCY": "32"}) == 32
    assert factory.read_concurrency({"PROVISION_READ_CONCURRENCY": "1"}) == 1
    for bad in ("0", "33", "100", "-1", "16.0", "many"):
        with pytest.raises(UsageError, match="PROVISION_READ_CONCURRENCY"):
            factory.read_concurrency({"PROVISION_READ_CONCURRENCY": bad})


def test_the_run_client_reads_16_at_once_by_default(tmp_path: Path) -> None:
    config = load_config(worlds.write(worlds.Shape(4), tmp_path)[1])
    env = {"GH_TOKEN": "ghp_x"}
    client = factory.make_client(config, "http://127.0.0.1:9", environ=env)
    assert client.workers == 16
