"""Apply: carry out a plan's changes, serially, and record what succeeded in the state.

Each change reads its value (if it writes one) from the run's resolver, encrypts it with the
target's own key (in the client) and writes. After a target's writes, one list call reads
back GitHub's ``updated_at`` for the state. A write whose read-back did not happen (it
failed, or a second signal abandoned it) is still recorded, with an ``updated_at`` older than
the write (:data:`UNCONFIRMED`): the next plan sees drift and rewrites it, and can never take
a later change by someone else for ours. A failing target never stops the others.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from types import FrameType
from typing import Any, Final
from typing import Literal as Lit

from provisioner import crypto, output, preflight
from provisioner.config import Literal
from provisioner.domain import ObservedSecret, StateEntry, StateKey, TargetRef
from provisioner.errors import STOP_SIGNALS, GitHubError, ProvisionError, stop_exit
from provisioner.github.protocol import GitHub
from provisioner.github.repos import RepoIndex
from provisioner.naming import parse_registry_secret
from provisioner.plan import Change, Plan
from provisioner.secret import SecretValue
from provisioner.sources import Resolver

Result = Lit["ok", "failed", "not-attempted"]
SAVE_EVERY: Final = 1.0
"""Seconds between state saves during an apply (and once more at its end)."""
HARD_STOP_GRACE: Final = 1.0
"""After a second signal, how long the read-backs already running may still take to land in
the state before they are abandoned (the process must exit within a second or two)."""
UNCONFIRMED: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The ``updated_at`` recorded for a new secret written but not read back: older than any
GitHub has (an updated secret's is the one the plan read, just as older than the write)."""
ABANDONED: Final = (
    "stopped at once during this write: it may have reached GitHub (the next apply rewrites it)"
)


@dataclass(frozen=True)
class Outcome:
    change: Change
    result: Result
    error: str | None = None


@dataclass(frozen=True)
class Report:
    outcomes: tuple[Outcome, ...]
    interrupted: bool = False
    stopped_by: int | None = None
    """The first stop signal received (SIGINT, SIGTERM, SIGHUP): it names the exit code."""

    @property
    def ok(self) -> bool:
        return all(o.result == "ok" for o in self.outcomes) and not self.interrupted

    def count(self, result: Result) -> int:
        return sum(1 for o in self.outcomes if o.result == result)


Written = dict[str, tuple[Change, "Future[str] | None"]]
"""A target's successful writes by secret: the change and its new value's fingerprint."""


class _HardStop(BaseException):
    """A second stop signal: raised only inside what may be abandoned (a request, a wait),
    never in the bookkeeping around it (see :meth:`Applier._abandonable`)."""


class Applier:
    """Writes one plan through one client; keeps the state mapping up to date as it goes.

    A first Ctrl-C, SIGTERM or SIGHUP lets the write in flight finish (or its retry wait end),
    then stops: the rest is reported as not attempted and what was written is recorded. A
    second one stops at once: the write in flight is abandoned (reported failed: it may have
    reached GitHub), the read-backs running get HARD_STOP_GRACE seconds, and what was read
    back is still recorded and reported; the writes not read back are recorded as unconfirmed
    (see the module's docstring), their fingerprints if made within HARD_STOP_GRACE.
    """

    def __init__(
        self,
        client: GitHub,
        resolver: Resolver,
        index: RepoIndex,
        state: dict[StateKey, StateEntry],
        save_state: Callable[[dict[StateKey, StateEntry]], None],
        on_change: Callable[[Outcome], None] | None = None,
        fingerprints: crypto.Fingerprints | None = None,
        write_interval: float = 0.0,
    ) -> None:
        """``fingerprints``: the run's memo (the planner's), so equal values share a salt.
        ``write_interval``: the least pause between one write's answer and the next write
        (``--write-interval``; the first write goes at once)."""
        self._fingerprints = fingerprints or crypto.Fingerprints()
        self._write_interval = write_interval
        self._last_write: float | None = None
        """When the last write request ended (monotonic), for the pause before the next."""
        self._client = client
        self._resolver = resolver
        self._index = index
        self._state = state
        self._save = save_state
        self._on_change = on_change
        self._stop = threading.Event()
        self._dirty = False
        self._saved_at = time.monotonic()
        self._lock = threading.Lock()
        self._reads: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._unread: dict[int, tuple[TargetRef, Written]] = {}
        """Each target's writes not yet recorded by their read-back (by batch number)."""
        self._batches = 0
        self._grace_ends: float | None = None
        """At a hard stop: when what is still being made or read is abandoned."""
        self._signal: int | None = None
        self._hard = False
        self._may_abandon = False
        self._closed = False

    def apply(self, plan: Plan) -> Report:
        outcomes: list[Outcome] = []
        for key in plan.forget:
            self._state.pop(key, None)
        hard_stop = False
        self._dirty = bool(plan.forget)
        with self._deferred_interrupts(), self._saving():
            try:
                with self._abandonable():
                    problems = preflight.check(self._client, plan)
            except _HardStop:
                problems, hard_stop = {}, True
            # After the preflight, which stands between the plan and the first write: hashing
            # on every core, the fingerprints would slow its workers' start (50 ms of 100
            # targets' cached keys, 6 ms without them). Still all started before any write.
            if not (hard_stop or self._stop.is_set()):
                self._fingerprint_ahead(plan)
            for target, group in groupby(plan.changes, key=lambda c: c.target):
                changes = list(group)
                if self._stop.is_set() or hard_stop:
                    outcomes += [Outcome(c, "not-attempted") for c in changes]
                elif target in problems:
                    for change in changes:
                        self._record(Outcome(change, "failed", problems[target]), outcomes)
                else:
                    try:
                        self._apply_target(target, changes, outcomes)
                    except _HardStop:
                        hard_stop = True
                        done = {o.change for o in outcomes}
                        outcomes += [Outcome(c, "not-attempted") for c in changes if c not in done]
        return Report(tuple(outcomes), hard_stop or self._stop.is_set(), self._signal)

    def _fingerprint_ahead(self, plan: Plan) -> None:
        """Start every new value's fingerprint on the run's pool now, beside the writes (the
        values were read by the plan): the state is ready when each write is read back."""
        for change in plan.changes:
            if not change.writes_value or change.desired is None or change.blocked is not None:
                continue
            try:
                value = self._resolver.resolve(change.desired.value)
            except ProvisionError:
                continue  # its write fails with this error
            self._fingerprints.fingerprint_soon(value, literal=_is_literal(change))

    @contextmanager
    def _saving(self) -> Iterator[None]:
        """Read-backs overlap the next target's writes (they are reads of another target);
        whatever happens, the state holds every write read back when apply ends."""
        workers = self._client.workers
        self._reads = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            yield
        finally:
            if self._reads is not None:
                self._await_read_backs()
            self._await_fingerprints()
            with self._lock:
                self._closed = True  # a read-back abandoned at a hard stop records nothing:
                for target, written in self._unread.values():  # its writes, unconfirmed
                    self._record_written(target, written, {}, ready_only=True)
                    self._dirty = True
                if self._dirty:
                    self._flush()
            for future in self._pending:
                if future.done() and not future.cancelled():
                    future.result()  # a read-back's unexpected error is not swallowed

    def _await_read_backs(self) -> None:
        """Every read-back; after a hard stop only HARD_STOP_GRACE seconds more, then the rest
        are abandoned: their writes are recorded unconfirmed, and the next run rewrites them."""
        assert self._reads is not None
        try:
            with self._abandonable():
                wait(self._pending)
        except _HardStop:
            self._grace_ends = time.monotonic() + HARD_STOP_GRACE
            wait(self._pending, timeout=HARD_STOP_GRACE)
        # A worker still reading is left behind (it only reads); the CLI's entry point exits
        # without joining it.
        self._reads.shutdown(wait=not self._hard, cancel_futures=True)

    def _await_fingerprints(self) -> None:
        """The fingerprints of the writes no read-back recorded (started before the writes,
        so made by now, or shortly); after a hard stop only until the grace ends."""
        with self._lock:
            making = [
                made
                for _, written in self._unread.values()
                for _, made in written.values()
                if made is not None
            ]
        if self._hard:
            ends = self._grace_ends or time.monotonic() + HARD_STOP_GRACE
            wait(making, timeout=max(ends - time.monotonic(), 0.0))
        else:
            wait(making)

    def _flush(self) -> None:
        self._save(self._state)
        self._dirty = False
        self._saved_at = time.monotonic()

    def _save_soon(self) -> None:
        """Save at most every SAVE_EVERY seconds: a 1,000-target apply rewrites the whole
        state file once a second, not 1,000 times; a crash loses at most that second's
        records, which the next run sees as value-unknown and rewrites (it converges)."""
        self._dirty = True
        if time.monotonic() - self._saved_at >= SAVE_EVERY:
            self._flush()

    @contextmanager
    def _deferred_interrupts(self) -> Iterator[None]:
        """SIGINT, SIGTERM and SIGHUP: the first sets the stop flag (and ends retry waits);
        a second stops at once, where that is safe (:meth:`_abandonable`). A signal the process
        was started ignoring (``nohup``, a background job) stays ignored."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._signal is None:
                self._signal = signum
                self._stop.set()
                self._client.cancel_waits()
                again = "Ctrl-C again" if signum == signal.SIGINT else "send the signal again"
                _say(
                    f"{stop_exit(signum)[1]}: finishing the write in flight, then stopping "
                    f"({again} to stop at once)"
                )
                return
            if not self._hard:
                self._hard = True
                _say("stopping at once: what was written is recorded, the rest is reported")
            if self._may_abandon:
                raise _HardStop

        previous: dict[int, Any] = {}  # what signal.signal returned: a handler, SIG_*, None
        try:  # installed inside the try: a signal between two installs still restores the first
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    previous[signum] = signal.signal(signum, on_signal)
            yield
        finally:
            for signum, handler in previous.items():
                # None: a handler not set from Python; the default is the closest to it.
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    @contextmanager
    def _abandonable(self) -> Iterator[None]:
        """Where a second signal stops at once: inside a request or a wait, never around it.

        The flag is set before the check, so a signal between the two still stops here.
        A second signal that lands elsewhere only sets ``_hard``: the next write is not
        started (the first signal stopped them), and the next wait is cut short here.
        """
        self._may_abandon = True
        try:
            if self._hard:
                raise _HardStop
            yield
        finally:
            self._may_abandon = False

    def _record(self, outcome: Outcome, into: list[Outcome]) -> None:
        into.append(outcome)
        if self._on_change is not None:
            self._on_change(outcome)

    def _apply_target(self, target: TargetRef, changes: list[Change], out: list[Outcome]) -> None:
        written: Written = {}
        try:
            for i, change in enumerate(changes):
                if self._stop.is_set():
                    out += [Outcome(c, "not-attempted") for c in changes[i:]]
                    break
                if change.blocked is not None:
                    self._record(Outcome(change, "failed", change.blocked), out)
                    continue
                if not self._paced():
                    out += [Outcome(c, "not-attempted") for c in changes[i:]]
                    break
                try:
                    fingerprint = self._write(change)
                except _HardStop:
                    self._record(Outcome(change, "failed", ABANDONED), out)
                    raise
                except GitHubError as e:
                    # GitHub refused (or kept failing): later changes here would fail alike.
                    self._record(Outcome(change, "failed", str(e)), out)
                    out += [Outcome(c, "not-attempted") for c in changes[i + 1 :]]
                    break
                except ProvisionError as e:
                    self._record(Outcome(change, "failed", str(e)), out)
                    continue
                written[change.secret] = (change, fingerprint)
                self._record(Outcome(change, "ok"), out)
        finally:
            if written:
                batch, self._batches = self._batches, self._batches + 1
                with self._lock:
                    self._unread[batch] = (target, written)
                if self._reads is not None:
                    self._pending.append(self._reads.submit(self._read_back, batch))
                else:
                    self._read_back(batch)

    def _paced(self) -> bool:
        """Wait out ``write_interval`` since the last write ended, as GitHub asks of mutating
        requests; False when a stop signal came first (the pause is no write in flight: the
        next write is then not sent). The pause is here, not in the request: PyGithub's
        ``seconds_between_writes`` slept inside the call, where a signal saw it as in flight."""
        if self._last_write is not None:
            left = self._last_write + self._write_interval - time.monotonic()
            if left > 0:
                self._stop.wait(left)
        return not self._stop.is_set()

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """One write request: abandonable at a second signal; its end starts the next pause."""
        try:
            with self._abandonable():
                yield
        finally:
            self._last_write = time.monotonic()

    def _write(self, change: Change) -> Future[str] | None:
        """Carry out one change; the new value's fingerprint (being made) when one was written."""
        target, name = change.target, change.secret
        if change.action == "delete":
            if parse_registry_secret(name) is None:  # never, whatever a plan says
                raise ProvisionError(f"{target.label} {name}: not a registry secret; not deleted")
            with self._sending():
                self._client.delete_secret(target, name)
            return None
        desired = change.desired
        assert desired is not None
        ids = (
            self._index.ids(target, change.repositories)
            if change.repositories is not None
            else None
        )
        if not change.writes_value:
            assert ids is not None
            with self._sending():
                self._client.set_repositories(target, name, ids)
            return None
        value: SecretValue = self._resolver.resolve(desired.value)
        crypto.check_size(value, f"{target.label} {name}")
        fingerprint = self._fingerprints.fingerprint_soon(value, literal=_is_literal(change))
        with self._sending():
            self._client.put_secret(target, name, value, change.visibility, ids)
        return fingerprint

    def _read_back(self, batch: int) -> None:
        """One list call for GitHub's updated_at of what was written; then save the state."""
        with self._lock:
            target, written = self._unread[batch]
        try:
            listed = self._client.list_secrets(target)
        except GitHubError:
            listed = {}  # recorded as unconfirmed
        with self._lock:
            if self._closed:  # abandoned at a hard stop: recorded unconfirmed, state saved
                return
            del self._unread[batch]
            self._record_written(target, written, listed)
            self._save_soon()

    def _record_written(
        self,
        target: TargetRef,
        written: Written,
        listed: Mapping[str, ObservedSecret],
        *,
        ready_only: bool = False,
    ) -> None:
        """The state entries of a target's writes; GitHub's updated_at for those ``listed``,
        else one that cannot hide a later write (:func:`_unconfirmed`). ``ready_only``: a
        fingerprint not made yet (a hard stop) leaves the previous entry, whose updated_at is
        older than this write's: drift, so the next plan rewrites it."""
        for name, (change, made) in written.items():
            if ready_only and made is not None and not made.done():
                continue
            # Made on the pool since before the write: done by now, or shortly.
            fingerprint = None if made is None else made.result()
            key = (target, name)
            observed = listed.get(name)
            updated_at = _unconfirmed(change) if observed is None else observed.updated_at
            previous = self._state.get(key)
            # The repositories this write selected, as GitHub spells them: the next plan trusts
            # them while GitHub's updated_at stays the one read back now
            # (observe.recorded_repositories).
            repositories = (
                None
                if change.repositories is None
                else tuple(self._index.canonical(n) for n in change.repositories)
            )
            if change.action == "delete":
                self._state.pop(key, None)
            elif fingerprint is not None:
                expires = (
                    None
                    if change.desired is None
                    else self._resolver.expires_at(change.desired.value)
                )
                self._state[key] = StateEntry(
                    fingerprint, updated_at, change.registry, expires, repositories
                )
            elif previous is not None:
                self._state[key] = StateEntry(
                    previous.fingerprint,
                    updated_at,
                    change.registry,
                    previous.expires_at,
                    repositories,
                )


def _unconfirmed(change: Change) -> datetime:
    """The updated_at to record for a write not read back: the one GitHub had before it (as
    the plan read it), else the epoch. Ours is newer, so the next plan sees drift and rewrites
    it (harmless); a time of our own clock could be ahead of GitHub's and hide a later write."""
    return change.previous_updated_at or UNCONFIRMED


def _is_literal(change: Change) -> bool:
    """A value written in the config itself: its fingerprint is a fast salted hash."""
    return change.desired is not None and isinstance(change.desired.value, Literal)


def _say(message: str) -> None:
    """A warning from a signal handler: if the main thread was itself writing to stderr, the
    buffered stream refuses a reentrant write, so the line goes to the descriptor directly."""
    try:
        output.warn(message)
    except RuntimeError:
        os.write(2, f"warning: {message}\n".encode())
