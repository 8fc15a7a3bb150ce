"""Shadowing: secret names the config writes that also exist (or will) at another level.

Precedence (GitHub's documentation): the secret at the lowest level wins. A
user's own secret is the lowest level of all (it is specific to the user's codespaces), then
the repository, then the organization: user > repository > organization.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from provisioner.desired import DesiredSecret
from provisioner.doctor.checks import Check
from provisioner.domain import ObservedTarget, TargetRef
from provisioner.errors import GitHubError
from provisioner.github.client import GitHubClient
from provisioner.github.repos import RepoIndex
from provisioner.naming import parse_registry_secret

MAX_EXTRA_REPOSITORIES: Final = 30
"""At most this many unconfigured repositories are read for shadowing secrets."""
RANK: Final = {"user": 0, "repository": 1, "org": 2}
"""Lower wins: a user secret beats a repository secret, which beats an org secret."""
LEVEL: Final = {"user": "user", "repository": "repository", "org": "organization"}


@dataclass(frozen=True)
class Reach:
    """The repositories whose codespaces see a secret: named ones, or all of one owner."""

    repos: frozenset[str] = frozenset()
    owner: str | None = None

    def overlap(self, other: Reach) -> list[str]:
        common = set(self.repos & other.repos)
        for a, b in ((self, other), (other, self)):
            if a.owner is not None:
                common |= {r for r in b.repos if r.split("/")[0] == a.owner}
        return sorted(common)


def _reach(
    client: GitHubClient,
    index: RepoIndex,
    observed: ObservedTarget,
    name: str,
    wanted: DesiredSecret | None,
) -> Reach | None:
    target = observed.target
    if target.scope == "repository":
        return Reach(frozenset({target.name.lower()}))
    o = observed.secrets.get(name)
    visibility = wanted.access.visibility if wanted else (o.visibility if o else None)
    if target.scope == "org" and visibility in ("all", "private"):
        return Reach(owner=target.name.lower())
    try:
        if wanted is not None and wanted.access.patterns is not None:
            repos: Sequence[str] = index.expand(target, wanted.access.patterns)
        elif o is not None and o.repositories is not None:
            repos = o.repositories
        elif o is not None:
            repos = [r.full_name for r in client.selected_repositories(target, name)]
        else:
            return None
    except GitHubError:
        return None
    return Reach(frozenset(r.lower() for r in repos))


def _reached_repositories(
    client: GitHubClient,
    index: RepoIndex,
    observed: Mapping[TargetRef, ObservedTarget],
    desired: Sequence[DesiredSecret],
) -> dict[TargetRef, ObservedTarget]:
    """The secrets of repositories the config's org/user secrets reach by name, not configured.

    A repository secret left there by hand is the classic cause of a failing pull: it wins over
    the org or user secret. Bounded: beyond MAX_EXTRA_REPOSITORIES, none are read.
    """
    reached: set[str] = set()
    for d in desired:
        o = observed.get(d.target)
        if d.target.scope == "repository" or o is None or o.error is not None:
            continue
        reach = _reach(client, index, o, d.name, d)
        reached |= set(reach.repos) if reach is not None else set()
    extra = sorted(reached - {t.name.lower() for t in observed if t.scope == "repository"})
    if len(extra) > MAX_EXTRA_REPOSITORIES:
        return {}
    found: dict[TargetRef, ObservedTarget] = {}
    for name in extra:
        target = TargetRef("repository", name)
        try:
            found[target] = ObservedTarget(target, client.list_secrets(target))
        except GitHubError:
            continue  # not readable with this token: nothing to say about it
    return found


def shadow_checks(
    client: GitHubClient,
    index: RepoIndex,
    observed: Mapping[TargetRef, ObservedTarget],
    desired: Sequence[DesiredSecret],
) -> list[Check]:
    """Names the config writes that also exist (or will) at another level, for one repository.

    One check per pair of levels and registry (its three names together when all collide).
    """
    pairs: dict[tuple[TargetRef, TargetRef, tuple[str, ...]], list[str]] = {}
    wanted = {d.key: d for d in desired}
    everything = {**observed, **_reached_repositories(client, index, observed, desired)}
    readable = [o for o in everything.values() if o.error is None]
    for name in sorted({d.name for d in desired}):
        holders = []
        for o in readable:
            d = wanted.get((o.target, name))
            if d is None and name not in o.secrets:
                continue
            reach = _reach(client, index, o, name, d)
            if reach is not None:
                holders.append((o.target, reach, d is not None))
        for i, (a, reach_a, mine_a) in enumerate(holders):
            for b, reach_b, mine_b in holders[i + 1 :]:
                if a.scope == b.scope or not (mine_a or mine_b):
                    continue
                repos = reach_a.overlap(reach_b)
                if repos:
                    winner, loser = (a, b) if RANK[a.scope] < RANK[b.scope] else (b, a)
                    pairs.setdefault((winner, loser, tuple(repos)), []).append(name)
    return [_shadow(names, w, lo, list(repos)) for (w, lo, repos), names in pairs.items()]


def _names(names: list[str]) -> str:
    parsed = {parse_registry_secret(n) for n in names}
    ids = {p[0] for p in parsed if p is not None}
    if len(ids) == 1 and len(parsed) == 3 and None not in parsed:
        return f"{ids.pop()}_CONTAINER_REGISTRY_*"
    return ", ".join(names)


def _shadow(names: list[str], winner: TargetRef, loser: TargetRef, repos: list[str]) -> Check:
    where = ", ".join(repos[:3]) + (f" and {len(repos) - 3} more" if len(repos) > 3 else "")
    return Check(
        "shadow",
        _names(names),
        "warn",
        f"{winner.label} shadows {loser.label} in {where}: the {LEVEL[winner.scope]} secret "
        f"wins over the {LEVEL[loser.scope]} one (the lowest level wins)",
        "keep these secrets at one level only, or give one of the registries another ID",
    )
