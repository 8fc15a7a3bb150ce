"""An in-memory GitHub (:class:`provisioner.github.protocol.GitHub`) for millisecond unit tests.

The planner, observation, preflight, the repository index and the applier run against it
unchanged; the sandbox on loopback stays the end-to-end layer (real HTTP, real sealed boxes).
What it holds: targets with their secrets, repositories by owner, the token's login and a
public key per target. What it scripts: failures of one target's writes (or of one secret's),
of its reads or its key, a lost read-back, a refused login, known permission problems, and a
hook called before each write (a test stops the run there, as a signal would).

Values arrive as :class:`SecretValue`, as they do in the real client; the fake keeps the
revealed plaintext only so that tests can assert what was written (never in a ``repr``).
As on GitHub, names are upper-case, a ``user:`` target is always the token's own user
(``/user/codespaces/secrets`` has no user in its path), and a target or secret that does not
exist is a 404.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from nacl.public import PrivateKey

from provisioner.domain import ObservedSecret, TargetRef
from provisioner.errors import GitHubError
from provisioner.github.answers import PublicKey, Repo
from provisioner.github.protocol import GitHub
from provisioner.secret import SecretValue

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WriteAction = Literal["put", "set-repositories", "delete"]


class Clock:
    """A clock that moves ``step`` per reading from ``start``: every write gets its own,
    ordered ``updated_at``, and no real time enters a test."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(seconds=1)) -> None:
        self.now, self.step = start, step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += self.step
            return self.now


@dataclass(frozen=True)
class FakeSecret:
    value: str | None = field(repr=False)
    """The plaintext written (revealed for assertions only); None when seeded without one."""
    updated_at: datetime
    visibility: str | None = None
    repository_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Write:
    """One write request as it reached the fake (``landed``: GitHub accepted it)."""

    action: WriteAction
    target: TargetRef
    secret: str
    landed: bool = True


FailureKey = TargetRef | tuple[TargetRef, str]


class FakeGitHub:
    """GitHub in a few dicts; thread-safe, since observation and read-backs run in threads."""

    def __init__(self, *, login: str = "octocat", clock: Callable[[], datetime] | None = None):
        self.login = login
        self.workers = 4
        self.clock: Callable[[], datetime] = clock or Clock()
        self.secrets: dict[TargetRef, dict[str, FakeSecret]] = {}
        self.repos: list[Repo] = []
        self.keys: dict[TargetRef, PublicKey] = {}
        # Scripted failures.
        self.fail_writes_on: dict[FailureKey, GitHubError] = {}
        """Writes to a target (or to one ``(target, NAME)``) fail with this error."""
        self.fail_reads_on: dict[TargetRef, GitHubError] = {}
        """Listing a target's secrets (or a secret's repositories) fails with this error."""
        self.fail_keys_on: dict[TargetRef, GitHubError] = {}
        self.lose_read_back: set[TargetRef] = set()
        """Once something was written to one of these targets, listing it fails (the read-back
        after the writes is lost)."""
        self.login_error: GitHubError | None = None
        self.permission_problems: dict[TargetRef, str] = {}
        self.before_write: Callable[[Write], None] | None = None
        """Called with each write before it is carried out (a test interrupts the run here)."""
        # What happened.
        self.writes: list[Write] = []
        self.reads: list[tuple[str, str]] = []
        """``(method, target label or name)`` of every read, in order."""
        self.waits_cancelled = 0
        self._written_to: set[TargetRef] = set()
        self._lock = threading.RLock()

    # -- setting up the world ----------------------------------------------------------

    def add_target(self, target: TargetRef) -> TargetRef:
        with self._lock:
            self.secrets.setdefault(self._where(target), {})
        return target

    def seed(
        self,
        target: TargetRef,
        name: str,
        value: str | None = None,
        *,
        visibility: str | None = None,
        repositories: tuple[str, ...] | None = None,
        updated_at: datetime | None = None,
    ) -> FakeSecret:
        """A secret already on GitHub (written by someone, or by an earlier run)."""
        ids = None if repositories is None else tuple(self.repo(n).id for n in repositories)
        secret = FakeSecret(value, updated_at or self.clock(), visibility, ids)
        self.add_target(target)
        with self._lock:
            self.secrets[self._where(target)][name.upper()] = secret
        return secret

    def add_repo(self, full_name: str, *, archived: bool = False) -> Repo:
        with self._lock:
            repo = Repo(id=1000 + len(self.repos), full_name=full_name, archived=archived)
            self.repos.append(repo)
        return repo

    def repo(self, full_name: str) -> Repo:
        found = self._find_repo(full_name)
        assert found is not None, f"no repository {full_name} in the fake"
        return found

    # -- what a test asserts ---------------------------------------------------------

    def held(self, target: TargetRef) -> dict[str, FakeSecret]:
        with self._lock:
            return dict(self.secrets.get(self._where(target), {}))

    def value(self, target: TargetRef, name: str) -> str | None:
        return self.held(target)[name.upper()].value

    def repositories_of(self, target: TargetRef, name: str) -> tuple[str, ...] | None:
        ids = self.held(target)[name.upper()].repository_ids
        by_id = {r.id: r.full_name for r in self.repos}
        return None if ids is None else tuple(sorted(by_id[i] for i in ids))

    def landed(self, target: TargetRef | None = None) -> list[Write]:
        """The writes GitHub accepted (of one target, or all), in order."""
        return [w for w in self.writes if w.landed and target in (None, w.target)]

    def listed(self, target: TargetRef) -> bool:
        """Whether the target's secrets were read."""
        return ("list_secrets", target.label) in self.reads

    # -- the Protocol: the token -----------------------------------------------------

    def permission_problem(self, target: TargetRef) -> str | None:
        return self.permission_problems.get(target)

    def authenticated_login(self) -> str:
        self._read("authenticated_login", "")
        if self.login_error is not None:
            raise self.login_error
        return self.login

    def cancel_waits(self) -> None:
        with self._lock:
            self.waits_cancelled += 1

    # -- the Protocol: reads ---------------------------------------------------------

    def list_secrets(self, target: TargetRef) -> dict[str, ObservedSecret]:
        self._read("list_secrets", target.label)
        with self._lock:
            if target in self.lose_read_back and target in self._written_to:
                raise GitHubError(f"{target.label}: GET secrets: 502 (the answer was lost)", 502)
            held = self._target(target, self.fail_reads_on)
            return {
                name: ObservedSecret(
                    name=name,
                    updated_at=s.updated_at,
                    visibility=s.visibility if target.scope == "org" else None,
                )
                for name, s in held.items()
            }

    def selected_repositories(self, target: TargetRef, name: str) -> list[Repo]:
        self._read("selected_repositories", f"{target.label} {name}")
        with self._lock:
            secret = self._secret(target, name, self.fail_reads_on)
            by_id = {r.id: r for r in self.repos}
            return [by_id[i] for i in secret.repository_ids or () if i in by_id]

    def public_key(self, target: TargetRef) -> PublicKey:
        self._read("public_key", target.label)
        with self._lock:
            self._target(target, self.fail_keys_on)
            if target not in self.keys:
                raw = bytes(PrivateKey.generate().public_key)
                key_id = f"fake-key-{len(self.keys) + 1}"
                self.keys[target] = PublicKey(key_id, base64.b64encode(raw).decode("ascii"))
            return self.keys[target]

    def seed_keys(self, keys: Mapping[TargetRef, PublicKey]) -> None:
        return None  # the fake's keys never rotate: nothing to cache

    def known_keys(self) -> dict[TargetRef, PublicKey]:
        with self._lock:
            return dict(self.keys)

    def get_repository(self, full_name: str) -> Repo | None:
        self._read("get_repository", full_name)
        return self._find_repo(full_name)

    def list_repositories(self, owner: TargetRef) -> Iterator[Repo]:
        """An org's repositories, or (for a user) every repository: the token's user sees
        them all here, as ``/user/repos`` lists what the user can see."""
        self._read("list_repositories", owner.label)
        with self._lock:
            repos = list(self.repos)
        for repo in repos:
            if owner.scope != "org" or repo.full_name.lower().startswith(f"{owner.folded}/"):
                yield repo

    # -- the Protocol: writes --------------------------------------------------------

    def put_secret(
        self,
        target: TargetRef,
        name: str,
        value: SecretValue,
        visibility: str | None = None,
        repository_ids: list[int] | None = None,
    ) -> None:
        self._write("put", target, name)
        with self._lock:
            held = self.secrets[self._where(target)]
            before = held.get(name.upper())
            ids = tuple(repository_ids) if repository_ids is not None else None
            if ids is None and before is not None:
                ids = before.repository_ids
            held[name.upper()] = FakeSecret(
                value.reveal(),
                self.clock(),
                visibility if target.scope == "org" else None,
                ids if target.scope != "repository" else None,
            )

    def set_repositories(self, target: TargetRef, name: str, repository_ids: list[int]) -> None:
        self._write("set-repositories", target, name)
        with self._lock:
            secret = self._secret(target, name, {})
            # GitHub bumps updated_at on a repositories change (the value stays).
            changed = replace(secret, repository_ids=tuple(repository_ids), updated_at=self.clock())
            self.secrets[self._where(target)][name.upper()] = changed

    def delete_secret(self, target: TargetRef, name: str) -> None:
        self._write("delete", target, name)
        with self._lock:
            self.secrets[self._where(target)].pop(name.upper(), None)  # gone already: done

    # -- internals ---------------------------------------------------------------------

    def _where(self, target: TargetRef) -> TargetRef:
        """Where GitHub keeps a target's secrets: a user's are always the token's user's."""
        return TargetRef("user", self.login) if target.scope == "user" else target

    def _read(self, method: str, what: str) -> None:
        with self._lock:
            self.reads.append((method, what))

    def _target(
        self, target: TargetRef, failures: dict[TargetRef, GitHubError]
    ) -> dict[str, FakeSecret]:
        if target in failures:
            raise failures[target]
        held = self.secrets.get(self._where(target))
        if held is None:
            raise GitHubError(f"{target.label}: 404 Not Found (no such target in the fake)", 404)
        return held

    def _secret(
        self, target: TargetRef, name: str, failures: dict[TargetRef, GitHubError]
    ) -> FakeSecret:
        secret = self._target(target, failures).get(name.upper())
        if secret is None:
            raise GitHubError(f"{target.label}: {name}: 404 Not Found", 404)
        return secret

    def _write(self, action: WriteAction, target: TargetRef, name: str) -> None:
        """The hook, then the scripted failure (or a 404 target), else the write may land."""
        write = Write(action, target, name.upper())
        if self.before_write is not None:
            self.before_write(write)
        with self._lock:
            failure = self.fail_writes_on.get((target, name.upper()))
            failure = failure or self.fail_writes_on.get(target)
            if failure is None and self._where(target) not in self.secrets:
                failure = GitHubError(f"{target.label}: 404 Not Found", 404)
            self.writes.append(Write(action, target, name.upper(), landed=failure is None))
            if failure is not None:
                raise failure
            self._written_to.add(target)

    def _find_repo(self, full_name: str) -> Repo | None:
        with self._lock:
            return next((r for r in self.repos if r.full_name.lower() == full_name.lower()), None)


def _satisfies_the_protocol(fake: FakeGitHub) -> GitHub:
    """mypy (``mypy tests/support/fake_github.py``) checks here that the fake is a GitHub."""
    return fake
