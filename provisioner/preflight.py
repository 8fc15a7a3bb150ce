"""Preflight: before apply writes anything, find the targets it certainly cannot write.

Per target with changes: the token's kind and known scopes against the level's needs
(:mod:`provisioner.github.permissions`), and the public key of every target that gets a value
and whose key the state has not cached (fetched now rather than at its first write, so a 404
or 403 key fails the target before any write; the key is needed anyway, so no request is
added). A target whose key is cached is not probed: a lost permission shows at its first
write, which fails that target alone. (A user target that is not the token's user never
reaches a plan's changes: the planner fails it before reading it.) The reads of different
targets run in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.domain import TargetRef
from provisioner.errors import GitHubError
from provisioner.github.protocol import GitHub
from provisioner.observe import in_parallel
from provisioner.plan import Plan


def check(client: GitHub, plan: Plan) -> Mapping[TargetRef, str]:
    """The targets of ``plan`` that cannot be written, each with a one-line reason.

    These are reads of different targets: they overlap, bounded like observation.
    """
    targets: dict[TargetRef, bool] = {}
    for change in plan.changes:
        targets[change.target] = targets.get(change.target, False) or change.writes_value

    def problem(item: tuple[TargetRef, bool]) -> str | None:
        target, writes_value = item
        try:
            known = client.permission_problem(target)
            if known:
                return known
            if writes_value:
                client.public_key(target)
        except GitHubError as e:
            return str(e)
        return None

    items = list(targets.items())
    return {
        target: found
        for (target, _), found in zip(
            items, in_parallel(problem, items, client.workers), strict=True
        )
        if found is not None
    }
