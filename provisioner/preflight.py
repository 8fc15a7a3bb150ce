"""Preflight: before apply writes anything, find the targets it certainly cannot write.

Per target with changes: the token's kind and known scopes against the level's needs
(:mod:`provisioner.github.permissions`), for user targets that the token belongs to that user
(one ``GET /user``), and the public key of every target that gets a value (fetched now rather
than at its first write, so a 404 or 403 key fails the target before any write; the key is
needed anyway, so no request is added).
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.desired import TargetRef
from provisioner.errors import GitHubError
from provisioner.github.client import GitHubClient
from provisioner.plan import Plan


def check(client: GitHubClient, plan: Plan) -> Mapping[TargetRef, str]:
    """The targets of ``plan`` that cannot be written, each with a one-line reason."""
    problems: dict[TargetRef, str] = {}
    login: str | None = None
    targets: dict[TargetRef, bool] = {}
    for change in plan.changes:
        targets[change.target] = targets.get(change.target, False) or change.writes_value
    for target, writes_value in targets.items():
        try:
            problem = client.permission_problem(target)
            if problem:
                raise GitHubError(problem)
            if target.scope == "user":
                login = login or client.authenticated_login()
                if login.lower() != target.name.lower():
                    raise GitHubError(
                        f"{target.label}: the token belongs to {login!r}; user secrets can only "
                        "be written for the authenticated user"
                    )
            if writes_value:
                client.public_key(target)
        except GitHubError as e:
            problems[target] = str(e)
    return problems
