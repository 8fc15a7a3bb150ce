"""The planner: config -> desired -> observed -> plan, reading GitHub and the sources.

:func:`make_plan` is the one impure step before the pure :func:`provisioner.plan.diff`: it
reads what GitHub holds and, only where the plan needs them, the values. Its collaborators
(the GitHub client, the resolver, the state) come in an :class:`Inputs`, which the commands
build through one factory and tests replace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime

from provisioner import crypto, desired
from provisioner.config import Config, EnvSource, FileSource, Literal
from provisioner.desired import DesiredSecret
from provisioner.domain import ObservedTarget, Selection, StateEntry, StateKey, TargetRef
from provisioner.errors import GitHubError, ProvisionError
from provisioner.github.protocol import GitHub
from provisioner.github.repos import RepoIndex
from provisioner.observe import in_parallel, observe
from provisioner.plan import Change, Plan, TargetFailure, ValueProblem, diff
from provisioner.sources import Resolver, describe


@dataclass
class Inputs:
    """What one plan is computed from, built once per command by the factory."""

    config: Config
    client: GitHub
    resolver: Resolver
    state: dict[StateKey, StateEntry]
    selection: Selection = field(default_factory=Selection)
    now: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    index: RepoIndex | None = None
    fingerprints: crypto.Fingerprints = field(default_factory=crypto.Fingerprints)
    """The run's fingerprint memo, shared by the plan's checks and the applier's writes."""
    pending: Future[dict[StateKey, StateEntry]] | None = None
    """The state's entries still being read (``plan``: its shards are read while GitHub is);
    :meth:`settled_state` waits for them, and :attr:`recorded` names its targets meanwhile."""
    recorded: Sequence[TargetRef] | None = None
    """The targets the state records, known (from its listing) before its entries are."""
    _settling: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settled_state(self) -> dict[StateKey, StateEntry]:
        """The state, once every entry has been read (at once when it was read up front)."""
        with self._settling:
            if self.pending is not None:
                self.state.update(self.pending.result())
                self.pending = None
        return self.state

    def repo_index(self) -> RepoIndex:
        if self.index is None:
            self.index = RepoIndex(self.client)
        return self.index


def targets_to_observe(
    configured: Iterable[TargetRef], recorded: Iterable[StateKey], selection: Selection
) -> list[TargetRef]:
    """The configured targets, then those known only from the state (removed from the config:
    their secrets are to be deleted), as the selection narrows them."""
    wanted = list(configured)
    from_state = sorted({target for target, _ in recorded} - set(wanted))
    return [t for t in dict.fromkeys([*wanted, *from_state]) if selection.wants_target(t)]


def observed_targets(inputs: Inputs) -> list[TargetRef]:
    """:func:`targets_to_observe` of a plan's inputs."""
    configured = [TargetRef.of(t) for t in inputs.config.targets]
    if inputs.recorded is not None:
        recorded = [(t, "") for t in inputs.recorded]
        return targets_to_observe(configured, recorded, inputs.selection)
    return targets_to_observe(configured, inputs.settled_state(), inputs.selection)


def _resolve_access(
    inputs: Inputs, wanted: Sequence[DesiredSecret], targets: set[TargetRef]
) -> tuple[list[DesiredSecret], dict[TargetRef, str]]:
    """Expand each observed target's repository patterns (globs list the owner once).

    The owners' listings are reads of different owners: they overlap, bounded like observation.
    """
    index = inputs.repo_index()
    patterns = {d.target: d.access.patterns for d in wanted if d.target in targets}

    def expand(target: TargetRef) -> tuple[tuple[str, ...] | None, str | None]:
        found = patterns[target]
        try:
            return (None if found is None else index.expand(target, found)), None
        except GitHubError as e:
            return None, str(e)

    results = dict(
        zip(patterns, in_parallel(expand, list(patterns), inputs.client.workers), strict=True)
    )
    failed = {t: error for t, (_, error) in results.items() if error is not None}
    out = [
        d
        if d.target not in results or d.target in failed
        else replace(d, repositories=results[d.target][0])
        for d in wanted
    ]
    return out, failed


def make_plan(
    inputs: Inputs,
    *,
    prune: bool = False,
    force_rotate: bool = False,
    on_observed: Callable[[TargetRef], None] | None = None,
) -> Plan:
    """Read GitHub (and only the sources the plan needs) and compute the plan.

    The steps depend on each other in this order, which must be kept:

    1. user targets that are not the token's user fail before anything of theirs is read;
    2. repository patterns are expanded (globs list their owner, filling the repository index);
    3. observation reads each target's secrets and the selected repositories of the managed
       ones (teaching the index the IDs GitHub already reports), except a selection the state
       recorded at our last write that GitHub's unchanged ``updated_at`` proves current;
    4. the pure diff (its value checks started early, beside 3: :class:`_EarlyChecks`, which
       also starts resolving the IDs of an org whose value it finds changed);
    5. the repository IDs the writes will need are resolved (from the index filled by 2, 3
       and 4, else one look-up or listing), so an unknown repository fails the plan, not the
       apply;
    6. the values the changes write are read (last: nothing is read for a target that failed).

    ``on_observed`` is called as each target's read finishes (the progress bar).
    """
    targets = observed_targets(inputs)
    not_mine = _foreign_users(inputs.client, targets)
    targets = [t for t in targets if t not in not_mine]
    wanted, failed = _resolve_access(inputs, desired.build(inputs.config), set(targets))
    failed.update(not_mine)
    index = inputs.repo_index()
    readable = [t for t in targets if t not in failed]
    # Only the selected registries' policies are read (a --registry rotation reads its own).
    relevant = [d for d in wanted if inputs.selection.wants_registry(d.registry)]
    early = _EarlyChecks(inputs, relevant, readable)
    early.start_free()
    observed = observe(
        inputs.client,
        index,
        readable,
        relevant,
        on_done=on_observed,
        then=early.start,
        recorded=lambda key: inputs.settled_state().get(key),
    )
    for target, message in failed.items():
        observed[target] = ObservedTarget(target=target, error=message)

    def same_value(d: DesiredSecret, s: StateEntry) -> bool | None:
        if s.fingerprint is None:
            return False
        try:
            value = inputs.resolver.resolve(d.value)
        except ProvisionError:
            return None  # unknown: _read_values reports the error, naming this secret
        literal = isinstance(d.value, Literal)
        return inputs.fingerprints.matches(value, s.fingerprint, literal=literal)

    try:
        plan = diff(
            wanted,
            observed,
            inputs.settled_state(),
            inputs.now(),
            same_value,
            configured=[TargetRef.of(t) for t in inputs.config.targets],
            selection=inputs.selection,
            prune=prune,
            force_rotate=force_rotate,
        )
    finally:
        early.settle()
    return _read_values(inputs, _check_repositories(inputs, plan))


FREE_TO_READ = (Literal, EnvSource, FileSource)
"""Values that cost nothing to read and reach nothing outside this machine: their checks start
as soon as the state is known, before any list lands."""


def _compared(d: DesiredSecret, selection: Selection) -> bool:
    """Whether the diff may compare this secret's value with a state fingerprint: it has no
    rotation policy (a rotating secret is decided by its age) and its registry is selected."""
    return d.rotate_after is None and selection.wants_registry(d.registry)


def check_ahead(
    config: Config,
    selection: Selection,
    resolver: Resolver,
    fingerprints: crypto.Fingerprints,
    state: Mapping[StateKey, StateEntry] | Future[dict[StateKey, StateEntry]],
) -> None:
    """Start the state checks of the values free to read (:data:`FREE_TO_READ`) at once,
    before the GitHub client exists: they need the config and the state only, so their
    argon2id work runs while the client is built (importing PyGithub and requests is most of
    the start-up) and while GitHub is read. ``state``: its entries, or the future of them
    (``plan`` reads them beside GitHub's reads). The values are read here, on the calling
    thread (the resolver is used by one thread at a time); a value that cannot be read is
    left to the plan. :func:`make_plan` asks the same checks of the same memo.
    """
    values = []
    for d in desired.build(config):
        free = isinstance(d.value, FREE_TO_READ)
        if not (free and selection.wants_target(d.target) and _compared(d, selection)):
            continue
        try:
            values.append((d.key, resolver.resolve(d.value), isinstance(d.value, Literal)))
        except ProvisionError:
            continue

    def start(entries: Mapping[StateKey, StateEntry]) -> None:
        for key, value, literal in values:
            entry = entries.get(key)
            if entry is not None and entry.fingerprint is not None:
                fingerprints.matches_soon(value, entry.fingerprint, literal=literal)

    if isinstance(state, Future):
        state.add_done_callback(lambda read: None if read.exception() else start(read.result()))
    else:
        start(state)


class _EarlyChecks:
    """The state checks the diff will ask for, started on the run's fingerprint pool as early
    as their facts are known (verification needs the state and the values, not GitHub), so
    the argon2id work overlaps the reads instead of following the last one: a value written in
    the config, an environment variable or a file at once; any other source as its target's
    read lands, and only where :func:`provisioner.plan.diff` compares a value (a managed secret
    GitHub still holds, with a fingerprint, no rotation policy and no drift), so no command or
    AWS source is read that the plan would not read. A value that cannot be read is left to
    the diff.

    A check that finds an org secret's value changed means that secret will be written with
    its repositories: their IDs are resolved then, on the run's read workers, beside the other
    checks (:meth:`settle` waits for them before the plan's own resolution, which then finds
    them known).
    """

    def __init__(
        self, inputs: Inputs, desired: Sequence[DesiredSecret], readable: Iterable[TargetRef]
    ) -> None:
        self._inputs = inputs
        wanted = set(readable)
        self._by_target: dict[TargetRef, list[DesiredSecret]] = {}
        for d in desired:
            if d.target in wanted:
                self._by_target.setdefault(d.target, []).append(d)
        self._lock = threading.Lock()  # the resolver is used by one thread at a time
        self._started: set[StateKey] = set()
        self._resolving: dict[TargetRef, Future[None]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def start_free(self) -> None:
        """The checks of values free to read, once the state is read (at once, or as its
        shards land while GitHub is read)."""
        pending = self._inputs.pending
        if pending is None:
            self._start_free()
        else:
            pending.add_done_callback(self._state_read)

    def _state_read(self, pending: Future[dict[StateKey, StateEntry]]) -> None:
        # A state that could not be read starts nothing: the plan's own read of it reports the
        # error (an exception raised here would only be logged, as a traceback, by the pool).
        if not pending.cancelled() and pending.exception() is None:
            self._start_free()

    def _start_free(self) -> None:
        for secrets in self._by_target.values():
            for d in secrets:
                if isinstance(d.value, FREE_TO_READ):
                    self._check(d)

    def start(self, observed: ObservedTarget) -> None:
        if observed.error is not None:
            return
        for d in self._by_target.get(observed.target, []):
            found = observed.secrets.get(d.name)
            if found is None:
                continue
            entry = self._inputs.settled_state().get(d.key)
            if entry is not None and found.updated_at > entry.updated_at:
                continue  # drift: the diff decides this one without its value
            self._check(d)

    def _check(self, d: DesiredSecret) -> None:
        inputs = self._inputs
        entry = inputs.settled_state().get(d.key)
        if entry is None or entry.fingerprint is None or not _compared(d, inputs.selection):
            return
        with self._lock:
            if d.key in self._started:
                return
            self._started.add(d.key)
            try:
                value = inputs.resolver.resolve(d.value)
            except ProvisionError:
                return
        literal = isinstance(d.value, Literal)
        check = inputs.fingerprints.matches_soon(value, entry.fingerprint, literal=literal)
        if d.target.scope == "org" and d.repositories is not None:
            check.add_done_callback(lambda done: self._changed(d.target, done))

    def _changed(self, target: TargetRef, check: Future[bool]) -> None:
        if check.exception() is not None or check.result():
            return
        with self._lock:
            if target in self._resolving:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._inputs.client.workers, "repository-ids")
            names = {n for d in self._by_target[target] for n in d.repositories or ()}
            self._resolving[target] = self._pool.submit(self._resolve, target, names)

    def _resolve(self, target: TargetRef, names: set[str]) -> None:
        with suppress(GitHubError):  # the plan's own resolution reports it, naming the target
            self._inputs.repo_index().ids(target, names)

    def settle(self) -> None:
        """Wait for the repository IDs being resolved; let the workers go."""
        with self._lock:
            pool, self._pool = self._pool, None
            resolving = list(self._resolving.values())
        for future in resolving:
            future.result()
        if pool is not None:
            pool.shutdown(wait=False)


def _foreign_users(client: GitHub, targets: Sequence[TargetRef]) -> dict[TargetRef, str]:
    """User targets that are not the token's user: failed before they are read, since
    ``/user/codespaces/secrets`` lists the token's own user's secrets, not theirs."""
    refused = {
        t: problem
        for t in targets
        if t.scope == "user" and (problem := client.permission_problem(t)) is not None
    }
    users = [t for t in targets if t.scope == "user" and t not in refused]
    if not users:
        return refused
    try:
        login = client.authenticated_login()
    except GitHubError as e:
        return {**refused, **{t: str(e) for t in users}}
    mine = TargetRef("user", login)
    for t in users:
        if t != mine:
            refused[t] = (
                f"{t.label}: the token belongs to {login!r}; user secrets can only be managed "
                "for the authenticated user"
            )
    return refused


def _read_values(inputs: Inputs, plan: Plan) -> Plan:
    """Read now each value the plan would write: once per source (apply reuses it), masked in
    GitHub Actions, a swap key ID's ASIA warning shown with the plan; a value that cannot be
    read, or is over GitHub's 48 KB, is a plan error naming the secrets that need it.

    A registry's three secrets are written together: when one of them cannot be read, every
    change of that registry on that target is blocked (none of the three is written there).
    """
    errors: dict[str, list[StateKey]] = {}
    unreadable: dict[tuple[TargetRef, str | None], str] = {}
    for change in plan.changes:
        if not change.writes_value or change.desired is None:
            continue
        try:
            value = inputs.resolver.resolve(change.desired.value)
            crypto.check_size(value, describe(change.desired.value))
        except ProvisionError as e:
            errors.setdefault(str(e), []).append((change.target, change.secret))
            unreadable.setdefault((change.target, change.registry), f"{change.secret}: {e}")
    changes = tuple(
        replace(c, blocked=f"not written: {why}")
        if c.action != "delete" and (why := unreadable.get((c.target, c.registry)))
        else c
        for c in plan.changes
    )
    return replace(
        plan,
        changes=changes,
        value_errors=tuple(ValueProblem(m, tuple(keys)) for m, keys in errors.items()),
    )


def _check_repositories(inputs: Inputs, plan: Plan) -> Plan:
    """Resolve the IDs the writes will need now, so an unknown repository fails the plan.

    An org target's names belong to that org: the orgs' look-ups and listings are reads of
    different owners, so they overlap, bounded like observation. The user's target comes
    after them: its repositories are often in those orgs, whose listings then name them.
    """
    index = inputs.repo_index()
    needed: dict[TargetRef, list[tuple[str, ...]]] = {}
    for change in plan.changes:
        if change.repositories is not None and change.action != "delete":
            needed.setdefault(change.target, []).append(change.repositories)

    def resolve(target: TargetRef) -> str | None:
        names = dict.fromkeys(n for group in needed[target] for n in group)
        try:
            index.ids(target, names)
        except GitHubError as e:
            return str(e)
        return None

    bad: dict[TargetRef, str] = {}
    for first in (True, False):
        targets = [t for t in needed if (t.scope == "org") == first]
        outcome = in_parallel(resolve, targets, inputs.client.workers)
        bad.update((t, m) for t, m in zip(targets, outcome, strict=True) if m is not None)
    if not bad:
        return plan
    kept: tuple[Change, ...] = tuple(c for c in plan.changes if c.target not in bad)
    return replace(
        plan,
        changes=kept,
        failed_targets=tuple(
            sorted([*plan.failed_targets, *(TargetFailure(t, m) for t, m in bad.items())])
        ),
    )
