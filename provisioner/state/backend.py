"""The one small interface every state store implements, and who holds a lock.

A store keeps objects by key (``org/octo-org.json``...): read one with its version, write it
only if its version is still the one read (or only if it does not exist yet), delete it the
same way, and lock or unlock one key. Local folders and S3 prefixes implement it; nothing
above this layer knows which one it has.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

from provisioner.errors import StateError

Notify = Callable[["Holder | None"], None]
"""Called once when a lock is held and the run waits for it, with the holder if known."""


class Conflict(StateError):
    """An object changed (or appeared, or vanished) since this run read it."""


class LockHeld(StateError):
    """A lock is held by someone else (and ``--lock-timeout`` ran out)."""

    def __init__(self, key: str, holder: Holder | None, waited: float) -> None:
        super().__init__(f"{key}: locked by {describe_holder(holder)}")
        self.key, self.holder, self.waited = key, holder, waited


@dataclass(frozen=True)
class Holder:
    """Who holds a state lock: stored with the lock so that a waiting run can say so."""

    lock_id: str
    who: str
    host: str
    pid: int
    since: str
    run: str | None = None

    def describe(self) -> str:
        run = f", run {self.run}" if self.run else ""
        return (
            f"{self.who}@{self.host} (pid {self.pid}{run}, since {self.since}, ID {self.lock_id})"
        )

    def text(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def parse(cls, raw: str | bytes) -> Holder | None:
        """The holder a lock document names (None: not a holder document)."""
        try:
            data = json.loads(raw)
            return cls(
                **{k: data[k] for k in ("lock_id", "who", "host", "pid", "since")},
                run=data.get("run"),
            )
        except (ValueError, KeyError, TypeError, RecursionError):
            return None

    @classmethod
    def me(cls, environ: Mapping[str, str]) -> Holder:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        return cls(
            lock_id=str(uuid.uuid4()),
            who=who,
            host=socket.gethostname(),
            pid=os.getpid(),
            since=datetime.now(UTC).isoformat(timespec="seconds"),
            run=run_url(environ),
        )


def run_url(environ: Mapping[str, str]) -> str | None:
    """This GitHub Actions run's URL, when there is one."""
    if environ.get("GITHUB_RUN_ID") and environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
    return None


class Lock(Protocol):
    """A lock this run holds on one key."""

    holder: Holder

    def release(self) -> None: ...


class Backend(Protocol):
    """Where the state lives (see the module docstring)."""

    where: str
    """The location as the user wrote it (``s3://bucket/prefix/`` or a folder), for messages."""

    def describe(self, key: str) -> str:
        """One key's full name, for messages."""
        ...

    def keys(self) -> list[str]:
        """Every shard key (``.json``), locks and the rest excluded."""
        ...

    def read(self, key: str) -> tuple[str, str] | None:
        """The object's text and version, or None when it does not exist."""
        ...

    def write(self, key: str, text: str, version: str | None) -> str:
        """Write if the version is still ``version`` (None: if absent); the new version.

        Raises :class:`Conflict` otherwise."""
        ...

    def delete(self, key: str, version: str) -> None:
        """Delete if the version is still ``version`` (:class:`Conflict` otherwise)."""
        ...

    def lock(self, key: str, holder: Holder, timeout: float, notify: Notify | None) -> Lock:
        """Hold ``key``'s lock, waiting up to ``timeout`` seconds (:class:`LockHeld`)."""
        ...

    def holders(self) -> dict[str, Holder | None]:
        """Every lock present, by shard key, with its holder when it can be read."""
        ...

    def force_unlock(self, key: str, lock_id: str) -> None:
        """Remove ``key``'s lock if its ID is ``lock_id`` (a run that died)."""
        ...


def describe_holder(holder: Holder | None) -> str:
    return holder.describe() if holder else "another provision run"
