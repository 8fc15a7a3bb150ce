"""The sharded state: one document per target, read in parallel, locked and written per shard.

A run narrowed to some targets reads, locks and writes only their shards, so matrix jobs on
different organizations never contend. Each shard is written only if it is still the version
this run read (:class:`~provisioner.state.backend.Backend`), so a run whose lock was broken
fails for that shard, naming what happened, and never overwrites a newer record; the next run
converges. The pre-sharding single documents are read as well and migrated losing nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

from provisioner.domain import SCOPES, StateEntry, StateKey, TargetRef
from provisioner.errors import StateError
from provisioner.github.answers import PublicKey
from provisioner.state import document
from provisioner.state.backend import Backend, Conflict, Holder, LockHeld, Notify, run_url

READ_WORKERS = 16


def shard_key(target: TargetRef) -> str:
    """``org/octo-org.json``: the folded name (targets compare case-insensitively), quoted so
    that a repository's ``/`` or anything odd stays one path component."""
    return f"{target.scope}/{quote(target.folded, safe='')}.json"


def key_target(key: str) -> TargetRef | None:
    scope, _, rest = key.partition("/")
    if scope not in SCOPES or not rest.endswith(".json"):
        return None
    return TargetRef(scope, unquote(rest[: -len(".json")]))


def run_stamp(environ: Mapping[str, str]) -> dict[str, str]:
    """Which run is writing: when, the Actions run URL (else user@host) and the actor."""
    me = Holder.me(environ)
    stamp = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": run_url(environ) or f"{me.who}@{me.host}",
    }
    if environ.get("GITHUB_ACTOR"):
        stamp["actor"] = environ["GITHUB_ACTOR"]
    return stamp


class Store:
    """One config's state in one backend (see the module docstring)."""

    def __init__(
        self,
        backend: Backend,
        identity: str | None,
        *,
        legacy: Iterable[Path] = (),
        unlock_hint: str = "provision state unlock CONFIG",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.backend = backend
        self.identity = identity
        self.legacy = [p for p in legacy if p.is_file()]
        self._hint = unlock_hint
        self._environ = os.environ if environ is None else environ
        self._keys: list[str] | None = None
        self._loaded: dict[TargetRef, document.Document] = {}
        self._versions: dict[TargetRef, str | None] = {}
        self._locked: set[TargetRef] = set()
        self.conflicts: list[str] = []
        """Shards this run could not write (changed under it), as one line each."""

    # -- reading ----------------------------------------------------------------------------
    def shard_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = self.backend.keys()
        return self._keys

    def recorded_targets(self) -> set[TargetRef]:
        """Targets with a shard or an entry in a pre-sharding document."""
        found = {t for t in map(key_target, self.shard_keys()) if t is not None}
        for legacy in self._legacy_documents():
            found |= {target for target, _ in legacy.entries}
        return found

    @property
    def empty(self) -> bool:
        return not self.shard_keys() and not self.legacy

    def read(self, targets: Iterable[TargetRef] | None = None) -> dict[StateKey, StateEntry]:
        """The entries of ``targets`` (None: every recorded target), each shard read once, in
        parallel; a target without a shard takes what a pre-sharding document recorded."""
        wanted = sorted(set(self.recorded_targets() if targets is None else targets))
        existing = set(self.shard_keys())
        # A locked shard is read even when the listing lacks it: the listing may predate the
        # lock, and the run that held it before may have created the shard meanwhile.
        with_shard = [t for t in wanted if t in self._locked or shard_key(t) in existing]
        with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
            for target, parsed in zip(
                with_shard, pool.map(self._read_shard, with_shard), strict=True
            ):
                if parsed is not None:
                    self._loaded[target] = parsed
        legacy = self._legacy_documents()
        for target in wanted:
            if target in self._loaded:
                continue
            self._versions.setdefault(target, None)
            parsed = document.Document(self.identity)
            for old in reversed(legacy):  # the newer document wins
                for key, entry in old.entries.items():
                    if key[0] == target:
                        parsed.entries[key] = entry
            self._loaded[target] = parsed
        entries: dict[StateKey, StateEntry] = {}
        for target in wanted:
            entries.update(self._loaded[target].entries)
        return entries

    def _read_shard(self, target: TargetRef) -> document.Document | None:
        """The shard's document (None: there is none, a pre-sharding one may still hold it)."""
        key = shard_key(target)
        found = self.backend.read(key)
        if found is None:
            self._versions[target] = None
            return None
        text, version = found
        self._versions[target] = version
        return document.parse(text, self.backend.describe(key), self.identity)

    def _legacy_documents(self) -> list[document.Document]:
        """The pre-sharding documents, oldest first (as ``legacy`` lists them)."""
        parsed = []
        for path in self.legacy:
            try:
                raw = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as e:
                raise StateError(f"{path}: cannot read the state file: {e}") from None
            parsed.append(document.parse(raw, str(path), self.identity))
        return parsed

    def public_keys(self) -> dict[TargetRef, PublicKey]:
        """The public keys the shards read cache, by target."""
        return {t: d.public_key for t, d in self._loaded.items() if d.public_key is not None}

    def runs(self) -> document.Runs:
        """Who wrote each entry read, when the documents say."""
        found: document.Runs = {}
        for parsed in self._loaded.values():
            found.update(parsed.runs)
        return found

    # -- migrating --------------------------------------------------------------------------
    def migrate(self) -> None:
        """Write a shard for every target a pre-sharding document holds and that has none yet
        (create-if-absent: a shard another run wrote meanwhile is newer and stays), then
        remove the old documents. Crash-safe: until the removal the old ones are read again."""
        if not self.legacy:
            return
        docs = self._legacy_documents()
        existing = set(self.shard_keys())
        merged: dict[TargetRef, document.Document] = {}
        for old in docs:  # oldest first: a newer document's entry replaces an older one's
            for key, entry in old.entries.items():
                merged.setdefault(key[0], document.Document(self.identity)).entries[key] = entry
                if key in old.runs:
                    merged[key[0]].runs[key] = old.runs[key]
        self._make_room()
        for target, parsed in sorted(merged.items()):
            name = shard_key(target)
            if name in existing:
                continue
            text = document.render(parsed.entries, self.identity, parsed.runs)
            # Another run may have written this target first: its record is newer, and stays.
            with suppress(Conflict):
                self.backend.write(name, text, None)
        for path in self.legacy:
            path.unlink(missing_ok=True)
        self.legacy = []
        self._keys = None
        self._loaded.clear()
        self._versions.clear()

    def _make_room(self) -> None:
        """A local state given as a file path (the pre-sharding form) becomes a folder of the
        same name: the file moves aside first (and is read from there until migrated)."""
        root = getattr(self.backend, "root", None)
        if isinstance(root, Path) and root.is_file():
            aside = root.with_name(root.name + ".unsharded")
            os.replace(root, aside)
            self.legacy = [aside if p == root else p for p in self.legacy]

    # -- locking and writing ----------------------------------------------------------------
    @contextmanager
    def locked(
        self,
        targets: Iterable[TargetRef],
        timeout: float = 0.0,
        notify: Callable[[str], None] | None = None,
    ) -> Iterator[Holder]:
        """Hold the locks of ``targets``' shards (in one order, so two runs never deadlock);
        only these shards are written by :meth:`save`."""
        me = Holder.me(self._environ)
        wanted = sorted(set(targets), key=shard_key)
        with ExitStack() as stack:
            for target in wanted:
                key = shard_key(target)
                try:
                    lock = self.backend.lock(
                        key, me, timeout, self._waiting(target, timeout, notify)
                    )
                except LockHeld as e:
                    raise StateError(self._held(target, e)) from None
                stack.callback(lock.release)
                self._locked.add(target)
            stack.callback(self._locked.clear)
            yield me

    @staticmethod
    def _waiting(
        target: TargetRef, timeout: float, notify: Callable[[str], None] | None
    ) -> Notify | None:
        """The one stderr line while waiting: who holds the lock and since when."""
        if notify is None:
            return None
        say = notify

        def waiting(holder: Holder | None) -> None:
            held_by = holder.describe() if holder else "another provision run"
            say(f"waiting up to {timeout:g}s for the state lock held by {held_by} ({target.label})")

        return waiting

    def _held(self, target: TargetRef, e: LockHeld) -> str:
        where = self.backend.describe(shard_key(target))
        held_by = e.holder.describe() if e.holder else "another provision run"
        lock_id = e.holder.lock_id if e.holder else "LOCK_ID"
        died = f"if that run died: {self._hint} {lock_id}"
        if e.waited > 0:
            return f"{where}: still locked by {held_by} after --lock-timeout {e.waited:g}s; {died}"
        return (
            f"{where}: the state is locked by {held_by}; wait for it to finish, or give "
            f"--lock-timeout SECONDS to wait; {died}"
        )

    def save(
        self,
        entries: Mapping[StateKey, StateEntry],
        keys: Mapping[TargetRef, PublicKey] | None = None,
    ) -> None:
        """Write each locked target's shard whose entries (or public key: ``keys``, those the
        run used) changed, if it is still the version read; a shard that changed under this
        run is left alone and named in ``conflicts``."""
        by_target: dict[TargetRef, dict[StateKey, StateEntry]] = {t: {} for t in self._locked}
        for key, entry in entries.items():
            if key[0] in by_target:
                by_target[key[0]][key] = entry
        stamp: dict[str, str] | None = None
        for target in sorted(by_target):
            before = self._loaded.get(target, document.Document(self.identity))
            after = by_target[target]
            # A key is cached beside entries only: a target with none gets no shard for it.
            known = (keys or {}).get(target) if after else None
            public_key = known or before.public_key
            if target not in self._versions or (
                after == before.entries and public_key == before.public_key
            ):
                continue  # a conflicted shard (dropped from _versions), or nothing new
            stamp = stamp or run_stamp(self._environ)
            runs = {
                k: before.runs[k] if before.entries.get(k) == v and k in before.runs else stamp
                for k, v in after.items()
            }
            self._write(target, document.Document(self.identity, dict(after), runs, public_key))

    def _write(self, target: TargetRef, parsed: document.Document) -> None:
        key, version = shard_key(target), self._versions[target]
        try:
            if parsed.entries or version is None:
                text = document.render(
                    parsed.entries, self.identity, parsed.runs, parsed.public_key
                )
                self._versions[target] = self.backend.write(key, text, version)
            else:
                self.backend.delete(key, version)
                self._versions[target] = None
        except Conflict:
            del self._versions[target]
            self.conflicts.append(
                f"{self.backend.describe(key)}: the state of {target.label} changed since this "
                "run read it (was its lock broken with provision state unlock?); what this run "
                "wrote there is not recorded, and the next run rewrites it (value-unknown)"
            )
            return
        self._loaded[target] = parsed
