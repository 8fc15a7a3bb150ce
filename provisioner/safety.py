"""The plan's safety rules: what no plan may do, and what needs the user's word.

- a plan never deletes a secret it also writes, nor any name but a registry secret
  (:func:`check_invariants`: a violation fails the plan, it is never applied);
- a target never ends past GitHub's 100 Codespaces secrets (:func:`within_capacity`);
- deleting more than 30% of a target's managed secrets (when it holds at least 10) needs
  ``--allow-mass-delete`` (:func:`mass_deletes`, as octoDNS's ``MAX_SAFE_DELETE_PCENT``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provisioner.domain import ObservedTarget, StateKey, TargetRef
from provisioner.errors import ProvisionError
from provisioner.naming import parse_registry_secret

if TYPE_CHECKING:
    from provisioner.plan import Action, Change

MAX_SECRETS_PER_TARGET = 100
"""GitHub's limit of Codespaces secrets on one target (managed or not)."""
MASS_DELETE_SHARE = 0.30
MASS_DELETE_FLOOR = 10
"""The safety valve (octoDNS's MAX_SAFE_DELETE_PCENT): a plan deleting more than 30% of the
managed secrets of a target that holds at least 10 of them needs --allow-mass-delete."""


@dataclass(frozen=True)
class MassDelete:
    """A target on which the plan deletes too large a share of the managed secrets."""

    target: TargetRef
    deletes: int
    managed: int
    pruned: int = 0
    """How many of the deletes are ``--prune``'s (unmanaged secrets, not among ``managed``)."""

    @property
    def message(self) -> str:
        which = f" ({self.pruned} of them pruned, not managed)" if self.pruned else ""
        return (
            f"{self.target.label}: the plan deletes {self.deletes} secrets{which}, more than "
            f"{MASS_DELETE_SHARE:.0%} of the {self.managed} it manages there; apply refuses this "
            "without --allow-mass-delete"
        )


class PlanInvariantError(ProvisionError):
    """The planner produced a plan that would lose a secret: a bug, never applied."""


def check_invariants(changes: Sequence[Change]) -> None:
    """A plan never deletes a secret it also writes, nor anything but a registry secret.

    The diff cannot produce either; this makes sure no later edit of it can, by failing the
    plan (exit 1) instead of applying a plan that would lose a secret.
    """
    by_key: dict[StateKey, set[Action]] = {}
    for c in changes:
        by_key.setdefault((c.target, c.secret.upper()), set()).add(c.action)
        if c.action == "delete" and parse_registry_secret(c.secret) is None:
            raise PlanInvariantError(
                f"internal error: the plan deletes {c.target.label} {c.secret}, which is not "
                "a registry secret; nothing was applied"
            )
    both = sorted(k for k, actions in by_key.items() if "delete" in actions and len(actions) > 1)
    if both:
        target, name = both[0]
        raise PlanInvariantError(
            f"internal error: the plan both writes and deletes {target.label} {name}; "
            "nothing was applied"
        )


def within_capacity(
    changes: list[Change], observed: Mapping[TargetRef, ObservedTarget]
) -> tuple[list[Change], list[tuple[TargetRef, str]]]:
    """Drop the changes of targets that would end past GitHub's 100 secrets (a target error)."""
    creates: dict[TargetRef, int] = {}
    deletes: dict[TargetRef, int] = {}
    for c in changes:
        if c.action == "create":
            creates[c.target] = creates.get(c.target, 0) + 1
        elif c.action == "delete":
            deletes[c.target] = deletes.get(c.target, 0) + 1
    over: list[tuple[TargetRef, str]] = []
    for target, count in creates.items():
        held = len(observed[target].secrets) if target in observed else 0
        after = held + count - deletes.get(target, 0)
        if after > MAX_SECRETS_PER_TARGET:
            over.append(
                (
                    target,
                    f"{target.label}: the plan would leave {after} Codespaces secrets there "
                    f"({held} now, {count} to create); GitHub allows at most "
                    f"{MAX_SECRETS_PER_TARGET}: nothing is written on this target",
                )
            )
    bad = {t for t, _ in over}
    return [c for c in changes if c.target not in bad], over


def mass_deletes(
    changes: Sequence[Change],
    observed: Mapping[TargetRef, ObservedTarget],
    managed: set[StateKey],
) -> tuple[MassDelete, ...]:
    found: list[MassDelete] = []
    for target in sorted({c.target for c in changes if c.action == "delete"}):
        held = observed[target].secrets if target in observed else {}
        count = sum(1 for name in held if (target, name) in managed)
        deleted = [c for c in changes if c.target == target and c.action == "delete"]
        pruned = sum(1 for c in deleted if "prune" in c.reasons)
        if count >= MASS_DELETE_FLOOR and len(deleted) > MASS_DELETE_SHARE * count:
            found.append(MassDelete(target, len(deleted), count, pruned))
    return tuple(found)
