"""Observe: what GitHub holds for each target, read in parallel (bounded), never written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from provisioner.desired import DesiredSecret
from provisioner.domain import ObservedSecret, ObservedTarget, TargetRef
from provisioner.errors import GitHubError
from provisioner.github.protocol import GitHub
from provisioner.github.repos import RepoIndex

T = TypeVar("T")
R = TypeVar("R")


def in_parallel(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]`` on at most ``workers`` threads (reads only), in order."""
    if len(items) <= 1 or workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _needs_repositories(d: DesiredSecret, o: ObservedSecret) -> bool:
    if d.target.scope == "user":
        return True
    return d.target.scope == "org" and d.access.visibility == "selected" == o.visibility


def observe_target(
    client: GitHub, index: RepoIndex, target: TargetRef, desired: Sequence[DesiredSecret]
) -> ObservedTarget:
    """One paged list, plus the selected repositories of each managed org/user secret."""
    try:
        secrets = client.list_secrets(target)
        for d in desired:
            o = secrets.get(d.name)
            if o is None or not _needs_repositories(d, o):
                continue
            repos = client.selected_repositories(target, d.name)
            index.learn(repos)
            secrets[d.name] = replace(o, repositories=tuple(sorted(r.full_name for r in repos)))
    except GitHubError as e:
        return ObservedTarget(target=target, error=str(e))
    return ObservedTarget(target=target, secrets=secrets)


def observe(
    client: GitHub,
    index: RepoIndex,
    targets: Sequence[TargetRef],
    desired: Sequence[DesiredSecret],
    workers: int | None = None,
    on_done: Callable[[TargetRef], None] | None = None,
    then: Callable[[ObservedTarget], None] | None = None,
) -> dict[TargetRef, ObservedTarget]:
    """Every target's secrets; a target that fails carries its error instead.

    ``then`` receives each target's result on the reading thread as soon as it is read (the
    planner starts its fingerprint checks there, while the other targets are still read).
    """

    by_target: dict[TargetRef, list[DesiredSecret]] = {}
    for d in desired:
        by_target.setdefault(d.target, []).append(d)

    def one(target: TargetRef) -> ObservedTarget:
        result = observe_target(client, index, target, by_target.get(target, []))
        if then is not None:
            then(result)
        if on_done is not None:
            on_done(target)
        return result

    count = client.workers if workers is None else workers
    return dict(zip(targets, in_parallel(one, targets, count), strict=True))
