"""The state file: per (scope, target, secret) a fingerprint and GitHub's updated_at.

JSON, mode 0600, written atomically (temporary file + rename in the same folder), guarded by
a file lock so two applies on one state never interleave. Never a value: fingerprints are
salted argon2id (:mod:`provisioner.crypto`). A missing state only makes values unknown.

The state records the identity of the config it belongs to (``name:``, else the file's stem);
a run refuses a state recorded for another config, so two configs pointed at one state can
never delete each other's secrets. Anything hostile in the file (foreign fingerprint costs,
naive timestamps, absurd nesting) is refused or neutralised here, with a one-line error.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import filelock

from provisioner import crypto
from provisioner.domain import SCOPES, StateEntry, StateKey, TargetRef
from provisioner.errors import StateError

FORMAT_VERSION: Final = 1


def default_path(
    config_path: Path, environ: Mapping[str, str], identity: str | None = None
) -> Path:
    """``PROVISION_STATE``, else ``<config dir>/.provision/<name or stem>/state.json``.

    Derived from the config's identity, so renaming a named config's file keeps its state.
    """
    from_env = environ.get("PROVISION_STATE", "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return config_path.parent / ".provision" / (identity or config_path.stem) / "state.json"


def legacy_path(config_path: Path) -> Path:
    """Where versions before the config identity kept the default state."""
    return config_path.parent / ".provision" / f"{config_path.stem}.state.json"


def load(path: Path, config: str | None = None) -> dict[StateKey, StateEntry]:
    """The recorded entries; an absent file is an empty state.

    ``config``: this run's config identity; a state recorded for another one is refused.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise StateError(f"{path}: cannot read the state file: {e}") from None
    try:
        document = json.loads(raw)
        if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
            raise ValueError("unknown format_version")
        recorded = document.get("config")
        if not isinstance(document["secrets"], list):
            raise ValueError("'secrets' is not a list")
        entries = dict(_entry(item) for item in document["secrets"])
    except RecursionError:
        raise StateError(f"{path}: the state file is damaged (nested too deeply)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise StateError(
            f"{path}: the state file is damaged ({e}); move it away to start afresh "
            "(existing secrets then plan as value-unknown)"
        ) from None
    if config is not None and recorded is not None and recorded != config:
        raise StateError(
            f"{path}: this state belongs to the config named {recorded!r}, not to {config!r}; "
            "give each config its own state (--state), or set 'name:' to match"
        )
    return entries


def _timestamp(value: Any, what: str) -> datetime:
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone")
    return when


def _entry(item: dict[str, Any]) -> tuple[StateKey, StateEntry]:
    scope = item["scope"]
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    target, secret = item["target"], item["secret"]
    if not isinstance(target, str) or not isinstance(secret, str):
        raise TypeError("target and secret must be strings")
    key = (TargetRef(scope, target), secret.upper())
    fingerprint = item.get("fingerprint")
    expires = item.get("expires_at")
    registry = item.get("registry")
    if registry is not None and not isinstance(registry, str):
        raise TypeError("registry must be a string")
    return key, StateEntry(
        # A fingerprint made with other costs than the tool's is never computed (a planted
        # t=2^32-1 would hold the run forever): the value plans as unknown instead.
        fingerprint=fingerprint if crypto.is_current(fingerprint) else None,
        updated_at=_timestamp(item["updated_at"], "updated_at"),
        registry=registry,
        expires_at=None if expires is None else _timestamp(expires, "expires_at"),
    )


def _order(item: tuple[StateKey, StateEntry]) -> tuple[str, str, str]:
    (target, name), _ = item
    return (target.scope, target.name, name)


def _document(entries: Mapping[StateKey, StateEntry], config: str | None) -> str:
    """The JSON text: one secret per line, each line by the C encoder.

    Apply saves after every target, so this runs N times per run: ``indent=`` (the pure-Python
    encoder) and sorting by dataclass comparison cost 68 ms for 9,000 secrets, a minute over
    a 1,000-target apply.
    """
    lines = [
        json.dumps(
            {
                "scope": target.scope,
                "target": target.name,
                "secret": name,
                "registry": entry.registry,
                "fingerprint": entry.fingerprint,
                "updated_at": entry.updated_at.isoformat(),
                **(
                    {} if entry.expires_at is None else {"expires_at": entry.expires_at.isoformat()}
                ),
            }
        )
        for (target, name), entry in sorted(entries.items(), key=_order)
    ]
    head = f'{{"format_version": {FORMAT_VERSION}, "config": {json.dumps(config)}, "secrets": [\n'
    return head + ",\n".join(lines) + "\n]}\n"


def save(path: Path, entries: Mapping[StateKey, StateEntry], config: str | None = None) -> None:
    """Write the whole state atomically with mode 0600, recording the config's identity."""
    text = _document(entries, config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise StateError(f"{path}: cannot write the state file: {e.strerror or e}") from None


@dataclass(frozen=True)
class Holder:
    """Who holds a state lock: written beside the lock so that a waiting run can say so."""

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

    @classmethod
    def me(cls, environ: Mapping[str, str]) -> Holder:
        run = None
        if environ.get("GITHUB_RUN_ID") and environ.get("GITHUB_REPOSITORY"):
            server = environ.get("GITHUB_SERVER_URL", "https://github.com")
            run = f"{server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
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
            run=run,
        )


def _holder_path(path: Path) -> Path:
    return Path(f"{path}.lock.holder")


def read_holder(path: Path) -> Holder | None:
    """The holder a lock's sidecar names (None: unknown, or not a holder document)."""
    try:
        data = json.loads(_holder_path(path).read_text(encoding="utf-8"))
        return Holder(
            **{k: data[k] for k in ("lock_id", "who", "host", "pid", "since")}, run=data.get("run")
        )
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


@contextmanager
def locked(
    path: Path,
    timeout: float = 0.0,
    *,
    environ: Mapping[str, str] | None = None,
    notify: Callable[[str], None] | None = None,
) -> Iterator[Holder]:
    """Hold ``<state>.lock`` (an OS lock: it dies with its process) so that two applies on one
    state cannot interleave. A held lock fails at once naming its holder, or with ``timeout``
    is waited for, saying once (``notify``) who holds it and since when."""
    lock = filelock.FileLock(f"{path}.lock", mode=0o600)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            holder = read_holder(path)
            held_by = holder.describe() if holder else "another provision run"
            if timeout <= 0:
                raise StateError(
                    f"{path}: the state is locked by {held_by}; wait for it to finish, or "
                    "give --lock-timeout SECONDS to wait"
                ) from None
            if notify is not None:
                notify(f"waiting up to {timeout:g}s for the state lock held by {held_by}")
            try:
                lock.acquire(timeout=timeout)
            except filelock.Timeout:
                raise StateError(
                    f"{path}: still locked by {held_by} after --lock-timeout {timeout:g}s"
                ) from None
    except OSError as e:
        raise StateError(f"{path}.lock: cannot lock the state: {e.strerror or e}") from None
    me = Holder.me(os.environ if environ is None else environ)
    try:
        _write_holder(path, me)
        yield me
    finally:
        _holder_path(path).unlink(missing_ok=True)
        lock.release()


def _write_holder(path: Path, holder: Holder) -> None:
    target = _holder_path(path)
    tmp = target.with_name(f".{target.name}.{holder.pid}.tmp")
    try:
        tmp.write_text(json.dumps(dataclasses.asdict(holder)), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)  # the lock holds anyway; only the waiters' message is less
