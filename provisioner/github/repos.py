"""Repositories by name: patterns -> ``owner/name`` -> numeric IDs, with as few requests as can be.

Plain names need no request to compare with what GitHub reports. IDs are needed only to
write, and come from what observation already saw, else one lookup for a single unknown name,
else one paged listing of the org's (or the user's) repositories that stops when all are found.
Globs (fnmatch) always use the listing; they skip archived repositories.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable

from provisioner.domain import TargetRef
from provisioner.errors import GitHubError
from provisioner.github.answers import Repo
from provisioner.github.protocol import GitHub

GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


class RepoIndex:
    """What this run knows about repositories, shared by observation, plan and apply."""

    def __init__(self, client: GitHub) -> None:
        self._client = client
        self._by_name: dict[str, Repo] = {}
        self._listed: dict[TargetRef, list[Repo]] = {}
        self._lock = threading.Lock()

    def learn(self, repos: Iterable[Repo]) -> None:
        with self._lock:
            for repo in repos:
                self._by_name[repo.full_name.lower()] = repo

    def _listing(self, owner: TargetRef, stop_when: set[str] | None = None) -> list[Repo]:
        """The owner's repositories (whole list, cached), or the pages ``stop_when`` needs."""
        if owner in self._listed:
            return self._listed[owner]
        seen: list[Repo] = []
        for repo in self._client.list_repositories(owner):
            seen.append(repo)
            self.learn([repo])
            if stop_when is not None:
                stop_when.discard(repo.full_name.lower())
                if not stop_when:
                    return seen
        self._listed[owner] = seen
        return seen

    def expand(self, owner: TargetRef, patterns: Iterable[str]) -> tuple[str, ...]:
        """Config patterns of a target -> sorted ``owner/name`` (globs matched by a listing)."""
        names: set[str] = set()
        for pattern in patterns:
            full = pattern if owner.scope != "org" else f"{owner.name}/{pattern}"
            if not is_glob(full):
                names.add(full)
                continue
            matched = [
                r.full_name
                for r in self._listing(owner)
                if not r.archived and fnmatch.fnmatchcase(r.full_name.lower(), full.lower())
            ]
            if not matched:
                raise GitHubError(
                    f"{owner.label}: repository pattern {pattern!r} matches no repository"
                )
            names.update(matched)
        return tuple(sorted(names, key=str.lower))

    def ids(self, owner: TargetRef, full_names: Iterable[str]) -> list[int]:
        """Numeric IDs for ``owner/name`` repositories; an unknown name is an error naming it."""
        wanted = [n.lower() for n in full_names]
        missing = {n for n in wanted if n not in self._by_name}
        if len(missing) == 1:
            (only,) = missing
            found = self._client.get_repository(only)
            self.learn([found] if found is not None else [])
        elif missing:
            self._listing(owner, stop_when=set(missing))
        unknown = sorted(n for n in wanted if n not in self._by_name)
        if unknown:
            raise GitHubError(
                f"{owner.label}: unknown repository {', '.join(unknown)} "
                "(not found, or the token cannot see it)"
            )
        return [self._by_name[n].id for n in wanted]

    def canonical(self, full_name: str) -> str:
        """GitHub's spelling of a repository name when known, else the name as given."""
        repo = self._by_name.get(full_name.lower())
        return repo.full_name if repo else full_name
