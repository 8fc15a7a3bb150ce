"""Observe: what GitHub holds for each target, read in parallel (bounded), never written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from provisioner.desired import DesiredSecret
from provisioner.domain import ObservedSecret, ObservedTarget, StateEntry, StateKey, TargetRef
from provisioner.errors import GitHubError
from provisioner.github.protocol import GitHub
from provisioner.github.repos import RepoIndex

T = TypeVar("T")
R = TypeVar("R")


def in_parallel(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]`` on at most ``workers`` threads (reads only), in order."""
    if len(items) <= 1 or workers <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        results = list(pool.map(fn, items))
    except BaseException:
        # A signal ends the run (the CLI raises in this thread): the reads still running are
        # left behind, not waited for (a slow GitHub would hold the exit for a whole read).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def _needs_repositories(d: DesiredSecret, o: ObservedSecret) -> bool:
    if d.target.scope == "user":
        return True
    return d.target.scope == "org" and d.access.visibility == "selected" == o.visibility


Recorded = Callable[[StateKey], StateEntry | None]
"""The state's entry of a secret, if any (observation reads it as each target's list lands)."""


def recorded_repositories(o: ObservedSecret, entry: StateEntry | None) -> tuple[str, ...] | None:
    """The selected repositories our last write set, when GitHub proves they still hold.

    GitHub bumps a secret's ``updated_at`` when only its repositories change (README: plan
    semantics), and the state records the ``updated_at`` read right after our write: the same
    ``updated_at`` now means nothing was written since, so the selection is the recorded one.
    Anything else (no record, an older state without one, a newer or older ``updated_at``)
    is None: the selection is read.
    """
    if entry is None or entry.repositories is None or o.updated_at != entry.updated_at:
        return None
    return entry.repositories


def observe_target(
    client: GitHub,
    index: RepoIndex,
    target: TargetRef,
    desired: Sequence[DesiredSecret],
    recorded: Recorded | None = None,
) -> ObservedTarget:
    """One paged list, plus the selected repositories of each managed org/user secret (unless
    ``recorded`` holds a selection GitHub's ``updated_at`` proves current)."""
    try:
        secrets = client.list_secrets(target)
        for d in desired:
            o = secrets.get(d.name)
            if o is None or not _needs_repositories(d, o):
                continue
            known = None if recorded is None else recorded_repositories(o, recorded(d.key))
            if known is not None:
                secrets[d.name] = replace(o, repositories=known)
                continue
            repos = client.selected_repositories(target, d.name)
            index.learn(repos)
            secrets[d.name] = replace(o, repositories=tuple(sorted(r.full_name for r in repos)))
    except GitHubError as e:
        return ObservedTarget(target=target, error=str(e), status=e.status)
    return ObservedTarget(target=target, secrets=secrets)


def observe(
    client: GitHub,
    index: RepoIndex,
    targets: Sequence[TargetRef],
    desired: Sequence[DesiredSecret],
    workers: int | None = None,
    on_done: Callable[[TargetRef], None] | None = None,
    then: Callable[[ObservedTarget], None] | None = None,
    recorded: Recorded | None = None,
) -> dict[TargetRef, ObservedTarget]:
    """Every target's secrets; a target that fails carries its error instead.

    ``then`` receives each target's result on the reading thread as soon as it is read (the
    planner starts its fingerprint checks there, while the other targets are still read).
    """

    by_target: dict[TargetRef, list[DesiredSecret]] = {}
    for d in desired:
        by_target.setdefault(d.target, []).append(d)

    def one(target: TargetRef) -> ObservedTarget:
        result = observe_target(client, index, target, by_target.get(target, []), recorded)
        if then is not None:
            then(result)
        if on_done is not None:
            on_done(target)
        return result

    count = client.workers if workers is None else workers
    return dict(zip(targets, in_parallel(one, targets, count), strict=True))
