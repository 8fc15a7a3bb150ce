"""The Applier against the in-memory GitHub: failures stay per target, interrupts stop cleanly,
the state records exactly what was written and read back. Milliseconds, no HTTP (the sandbox
tests cover the same paths end to end)."""

from __future__ import annotations

import inspect
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from provisioner import crypto, preflight
from provisioner.apply import ABANDONED, UNCONFIRMED, Applier, Report
from provisioner.config import EnvSource, Literal
from provisioner.desired import Access, DesiredSecret
from provisioner.domain import ObservedTarget, StateEntry, StateKey, TargetRef
from provisioner.errors import STOP_SIGNALS, GitHubError, stop_exit
from provisioner.github.client import GitHubClient
from provisioner.github.protocol import GitHub
from provisioner.github.repos import RepoIndex
from provisioner.naming import SUFFIXES, secret_name
from provisioner.plan import Change, Plan, diff
from provisioner.secret import SecretValue
from provisioner.sources import Resolver
from tests.support.fake_github import FakeGitHub, Write

ORG = TargetRef("org", "octo-org")
REPO = TargetRef("repository", "octo-org/legacy")
USER = TargetRef("user", "octocat")
PASSWORD = "acr-MARKER-password-1"
ENV = {"ACR_PASSWORD": PASSWORD}
VALUES: dict[str, object] = {
    "SERVER": Literal(value="mycompany.azurecr.io"),
    "USER": Literal(value="acr-pull"),
    "PASSWORD": EnvSource(env="ACR_PASSWORD"),
}
PLAIN = {"SERVER": "mycompany.azurecr.io", "USER": "acr-pull", "PASSWORD": PASSWORD}
ACR = {part: secret_name("ACR", part) for part in SUFFIXES}
T0 = datetime(2025, 6, 1, tzinfo=UTC)


def wanted(target: TargetRef, part: str, repos: tuple[str, ...] | None = None) -> DesiredSecret:
    visibility = "selected" if target.scope == "org" else None
    if target.scope == "repository":
        repos = None
    return DesiredSecret(
        target=target,
        name=ACR[part],
        registry="ACR",
        part=part,
        value=VALUES[part],
        access=Access(visibility, repos),
        rotate_after=None,
        repositories=repos,
    )


def creates(target: TargetRef, repos: tuple[str, ...] | None = None) -> list[Change]:
    """The ACR registry's three creates on ``target``, as the planner makes them."""
    found = []
    for part in SUFFIXES:
        d = wanted(target, part, repos)
        visibility = d.access.visibility
        found.append(Change("create", target, d.name, "ACR", ("missing",), visibility, repos, d))
    return found


class Run:
    """One fake GitHub, one state; :meth:`apply` runs a fresh Applier as a command would."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fake = FakeGitHub()
        for target in (ORG, REPO, USER):
            self.fake.add_target(target)
        for name in ("octo-org/api", "octo-org/web"):
            self.fake.add_repo(name)
        self.state: dict[StateKey, StateEntry] = {}
        self.saved: list[dict[StateKey, StateEntry]] = []

    def apply(self, *changes: Change) -> Report:
        applier = Applier(
            self.fake,
            Resolver(self.tmp, ENV),
            RepoIndex(self.fake),
            self.state,
            lambda state: self.saved.append(dict(state)),
        )
        # Sorted as the planner sorts them: by target, then name.
        return applier.apply(
            Plan(changes=tuple(sorted(changes, key=lambda c: (c.target, c.secret))))
        )


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


@pytest.fixture
def stop_signals_caught() -> Iterator[None]:
    """A stop signal the Applier failed to handle fails the test instead of ending pytest."""

    def unhandled(signum: int, _frame: object) -> None:
        raise AssertionError(f"signal {signum} reached no handler of the applier")

    previous = {s: signal.signal(s, unhandled) for s in STOP_SIGNALS}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def results(report: Report) -> dict[tuple[TargetRef, str], str]:
    return {(o.change.target, o.change.secret): o.result for o in report.outcomes}


def errors(report: Report) -> dict[tuple[TargetRef, str], str | None]:
    return {(o.change.target, o.change.secret): o.error for o in report.outcomes}


def on_write(number: int, action: Callable[[], None]) -> Callable[[Write], None]:
    """A before-write hook that runs ``action`` just before the ``number``-th write."""
    seen = [0]

    def hook(_write: Write) -> None:
        seen[0] += 1
        if seen[0] == number:
            action()

    return hook


def test_a_target_failing_preflight_leaves_the_others_done_and_reported(run: Run) -> None:
    run.fake.fail_keys_on[REPO] = GitHubError("repository:octo-org/legacy: 403 key refused", 403)
    report = run.apply(*creates(ORG, ("octo-org/api",)), *creates(REPO), *creates(USER, ()))
    got = results(report)
    assert [got[(REPO, ACR[p])] for p in SUFFIXES] == ["failed"] * 3
    assert {errors(report)[(REPO, ACR[p])] for p in SUFFIXES} == {
        "repository:octo-org/legacy: 403 key refused"
    }
    for target in (ORG, USER):
        assert [got[(target, ACR[p])] for p in SUFFIXES] == ["ok"] * 3
        assert {n: s.value for n, s in run.fake.held(target).items()} == {
            ACR[p]: PLAIN[p] for p in SUFFIXES
        }
    assert run.fake.landed(REPO) == [] and run.fake.held(REPO) == {}
    assert not report.ok and (report.count("ok"), report.count("failed")) == (6, 3)
    assert {t for t, _ in run.state} == {ORG, USER}


def test_a_refused_write_stops_its_target_and_the_next_target_proceeds(run: Run) -> None:
    run.fake.fail_writes_on[(ORG, ACR["SERVER"])] = GitHubError("org:octo-org: 422 refused", 422)
    report = run.apply(*creates(ORG, ("octo-org/api",)), *creates(REPO))
    got = results(report)
    # Changes sort by name: PASSWORD, SERVER, USER; the first landed before the refusal.
    assert [got[(ORG, ACR[p])] for p in ("PASSWORD", "SERVER", "USER")] == [
        "ok",
        "failed",
        "not-attempted",
    ]
    assert errors(report)[(ORG, ACR["SERVER"])] == "org:octo-org: 422 refused"
    assert [w.secret for w in run.fake.writes if w.target == ORG] == [
        ACR["PASSWORD"],
        ACR["SERVER"],
    ]
    assert set(run.fake.held(ORG)) == {ACR["PASSWORD"]}
    assert [got[(REPO, ACR[p])] for p in SUFFIXES] == ["ok"] * 3
    # The state records what was written, and only that.
    assert set(run.state) == {(ORG, ACR["PASSWORD"])} | {(REPO, ACR[p]) for p in SUFFIXES}


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.usefixtures("stop_signals_caught")
def test_a_first_stop_signal_finishes_the_write_in_flight_and_records_it(
    run: Run, signum: int, capsys: pytest.CaptureFixture[str]
) -> None:
    run.fake.before_write = on_write(2, lambda: signal.raise_signal(signum))
    report = run.apply(*creates(ORG, ("octo-org/api",)), *creates(REPO))
    got = results(report)
    assert [got[(ORG, ACR[p])] for p in ("PASSWORD", "SERVER", "USER")] == [
        "ok",
        "ok",
        "not-attempted",
    ]
    assert {got[(REPO, ACR[p])] for p in SUFFIXES} == {"not-attempted"}
    assert report.interrupted and report.stopped_by == signum and not report.ok
    assert len(run.fake.writes) == 2 and run.fake.waits_cancelled == 1
    assert set(run.state) == {(ORG, ACR["PASSWORD"]), (ORG, ACR["SERVER"])}
    assert run.saved[-1] == run.state
    assert f"{stop_exit(signum)[1]}: finishing the write in flight" in capsys.readouterr().err


@pytest.mark.usefixtures("stop_signals_caught")
def test_a_stop_during_the_preflight_hashes_nothing_and_writes_nothing(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new values' fingerprints start after the preflight, and not at all once a stop was
    asked for: nothing will be written, so nothing is hashed."""
    real = preflight.check

    def stopped(*args: Any) -> Any:
        found = real(*args)
        signal.raise_signal(signal.SIGTERM)
        return found

    hashed: list[object] = []
    real_fingerprint = crypto.fingerprint

    def counted(*args: Any, **kwargs: Any) -> str:
        hashed.append(args)
        return real_fingerprint(*args, **kwargs)

    monkeypatch.setattr(preflight, "check", stopped)
    monkeypatch.setattr(crypto, "fingerprint", counted)
    report = run.apply(*creates(ORG, ("octo-org/api",)), *creates(REPO))
    assert report.count("not-attempted") == 6 and report.stopped_by == signal.SIGTERM
    assert run.fake.writes == [] and hashed == []


@pytest.mark.usefixtures("stop_signals_caught")
def test_a_second_signal_abandons_the_write_in_flight_and_keeps_what_was_read_back(
    run: Run,
) -> None:
    def twice() -> None:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)

    run.fake.before_write = on_write(2, twice)
    report = run.apply(*creates(ORG, ("octo-org/api",)), *creates(REPO))
    got = results(report)
    assert got[(ORG, ACR["PASSWORD"])] == "ok"
    assert (got[(ORG, ACR["SERVER"])], errors(report)[(ORG, ACR["SERVER"])]) == (
        "failed",
        ABANDONED,
    )
    assert report.count("not-attempted") == 4 and report.stopped_by == signal.SIGINT
    assert set(run.state) == {(ORG, ACR["PASSWORD"])}


def test_a_keyboard_interrupt_escaping_a_write_still_records_what_was_written(run: Run) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    run.fake.before_write = on_write(3, interrupt)
    with pytest.raises(KeyboardInterrupt):
        run.apply(*creates(ORG, ("octo-org/api",)))
    assert set(run.state) == {(ORG, ACR["PASSWORD"]), (ORG, ACR["SERVER"])}
    assert run.saved[-1] == run.state


def test_a_lost_read_back_records_the_writes_with_a_time_that_cannot_hide_a_later_one(
    run: Run,
) -> None:
    """The new fingerprints are recorded, with an updated_at older than the write (GitHub's
    before it, or the epoch for a new secret): the next plan sees drift and rewrites (it once
    dropped the entries, so the state forgot what was written)."""
    before = run.fake.seed(ORG, ACR["PASSWORD"], "old", visibility="selected")
    run.state[(ORG, ACR["PASSWORD"])] = StateEntry("an-old-fingerprint", T0, "ACR")
    run.fake.lose_read_back.add(ORG)
    changes = creates(ORG, ("octo-org/api",))
    changes = [
        replace(
            c, action="update", reasons=("value-changed",), previous_updated_at=before.updated_at
        )
        if c.secret == ACR["PASSWORD"]
        else c
        for c in changes
    ]
    report = run.apply(*changes, *creates(REPO))
    assert report.ok  # every write landed: only its read-back is missing
    assert run.fake.value(ORG, ACR["PASSWORD"]) == PASSWORD
    held = run.fake.held(ORG)
    for part in SUFFIXES:
        entry = run.state[(ORG, ACR[part])]
        assert entry.fingerprint is not None
        assert crypto.matches(
            SecretValue(PLAIN[part]), entry.fingerprint, literal=part != "PASSWORD"
        )
        assert entry.updated_at < held[ACR[part]].updated_at
    assert run.state[(ORG, ACR["PASSWORD"])].updated_at == before.updated_at
    assert run.state[(ORG, ACR["SERVER"])].updated_at == UNCONFIRMED
    assert run.saved[-1] == run.state
    # The next plan sees drift (GitHub's updated_at is newer than the record): a harmless
    # rewrite, never a skipped one; a write by someone else afterwards is drift all the same.
    run.fake.lose_read_back.clear()
    desired = [wanted(ORG, p, ("octo-org/api",)) for p in SUFFIXES]
    for _ in range(2):
        observed = {ORG: ObservedTarget(ORG, run.fake.list_secrets(ORG))}
        replan = diff(desired, observed, run.state, T0, lambda _d, _s: True)
        drifted = {c.secret for c in replan.changes if "drift" in c.reasons}
        assert drifted == {ACR[p] for p in SUFFIXES}
        run.fake.seed(ORG, ACR["USER"], "someone else's", visibility="selected")


def test_a_blocked_change_is_reported_failed_and_never_written(run: Run) -> None:
    why = "not written: ACR_CONTAINER_REGISTRY_PASSWORD: env ACR_PASSWORD: unset"
    blocked = [replace(c, blocked=why) for c in creates(ORG, ("octo-org/api",))]
    report = run.apply(*blocked, *creates(REPO))
    assert {errors(report)[(ORG, ACR[p])] for p in SUFFIXES} == {why}
    assert {results(report)[(ORG, ACR[p])] for p in SUFFIXES} == {"failed"}
    assert run.fake.held(ORG) == {} and [w.target for w in run.fake.writes] == [REPO] * 3
    assert {t for t, _ in run.state} == {REPO}


def test_the_applier_itself_refuses_to_delete_a_name_that_is_no_registry_secret(run: Run) -> None:
    run.fake.seed(ORG, "DATABASE_URL", "postgres://keep-me")
    run.fake.seed(ORG, ACR["USER"], "gone-soon")
    run.state[(ORG, ACR["USER"])] = StateEntry("fp", T0, "ACR")
    report = run.apply(
        Change("delete", ORG, "DATABASE_URL", None, ("not-desired",)),
        Change("delete", ORG, ACR["USER"], "ACR", ("not-desired",)),
    )
    got = results(report)
    assert got[(ORG, "DATABASE_URL")] == "failed"
    assert errors(report)[(ORG, "DATABASE_URL")] == (
        "org:octo-org DATABASE_URL: not a registry secret; not deleted"
    )
    assert run.fake.value(ORG, "DATABASE_URL") == "postgres://keep-me"
    assert run.fake.writes == [Write("delete", ORG, ACR["USER"])]  # never even requested
    assert got[(ORG, ACR["USER"])] == "ok" and run.state == {}


def test_a_policy_only_change_sets_repositories_and_keeps_the_previous_fingerprint(
    run: Run,
) -> None:
    name = ACR["PASSWORD"]
    before = run.fake.seed(ORG, name, "kept", visibility="selected", repositories=("octo-org/api",))
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    run.state[(ORG, name)] = StateEntry(
        "the-previous-fingerprint", before.updated_at, "ACR", expires
    )
    repos = ("octo-org/api", "octo-org/web")
    change = Change(
        "update",
        ORG,
        name,
        "ACR",
        ("repositories-changed",),
        "selected",
        repos,
        wanted(ORG, "PASSWORD", repos),
    )
    assert not change.writes_value
    report = run.apply(change)
    assert report.ok
    assert run.fake.writes == [Write("set-repositories", ORG, name)]
    assert run.fake.value(ORG, name) == "kept"  # the value was not rewritten
    assert run.fake.repositories_of(ORG, name) == repos
    after = run.fake.held(ORG)[name].updated_at
    assert after > before.updated_at
    # The value did not change: its fingerprint and expiry stay; GitHub's new time and the
    # selection set are recorded.
    assert run.state[(ORG, name)] == StateEntry(
        "the-previous-fingerprint", after, "ACR", expires, repos
    )


def test_a_written_value_is_recorded_by_a_fingerprint_that_verifies_against_it(run: Run) -> None:
    report = run.apply(*creates(REPO))
    assert report.ok
    for part in SUFFIXES:
        entry = run.state[(REPO, ACR[part])]
        assert entry.fingerprint is not None and crypto.is_current(entry.fingerprint)
        literal = not entry.fingerprint.startswith("$argon2id$")  # the config's own values
        assert crypto.matches(SecretValue(PLAIN[part]), entry.fingerprint, literal=literal)
        assert not crypto.matches(
            SecretValue(PLAIN[part] + "x"), entry.fingerprint, literal=literal
        )
        assert PLAIN[part] not in entry.fingerprint
        assert entry.updated_at == run.fake.held(REPO)[ACR[part]].updated_at
        assert entry.registry == "ACR"


def test_the_fake_and_the_client_have_every_member_of_the_seam_with_its_parameters() -> None:
    """mypy checks the client where it is passed; this keeps the fake in step as well."""
    members = [n for n, v in vars(GitHub).items() if callable(v) and not n.startswith("_")]
    assert "put_secret" in members and "list_repositories" in members
    for name in members:
        expected = list(inspect.signature(getattr(GitHub, name)).parameters.values())
        for implementation in (FakeGitHub, GitHubClient):
            found = list(inspect.signature(getattr(implementation, name)).parameters.values())
            assert [(p.name, p.kind, p.default) for p in found] == [
                (p.name, p.kind, p.default) for p in expected
            ], f"{implementation.__name__}.{name}"
