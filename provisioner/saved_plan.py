"""Saved plans (``plan --out FILE``, ``apply FILE``): a reviewed plan, applied exactly.

The file (0600) holds what the plan was computed from, never a value, fingerprint or
ciphertext: the config's path, identity and content digest (the config holds no secret value:
passwords are never literal), the filters and flags, each target's observed secrets
(``updated_at``, visibility, selected repositories) and the changes. ``apply FILE`` computes
the plan again; if anything differs (GitHub changed, a source's value no longer matches the
state's fingerprint, which the recomputed plan compares in memory, or the config changed), the
plan is stale and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from provisioner.domain import ObservedSecret, TargetRef
from provisioner.errors import ProvisionError
from provisioner.private_file import write_whole

KIND: Final = "provision-saved-plan"
FORMAT_VERSION: Final = 1
MAX_BYTES: Final = 64 * 1024 * 1024


class StalePlan(ProvisionError):
    """The saved plan no longer matches what it was computed from."""


Observed = dict[str, dict[str, dict[str, Any]]]
"""target label -> secret -> {updated_at, visibility, repositories}."""


@dataclass
class SavedPlan:
    config: str
    identity: str
    digest: str
    targets: list[str] = field(default_factory=list)
    registries: list[str] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    observed: Observed = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        return {"kind": KIND, "format_version": FORMAT_VERSION, **self.__dict__}


def config_digest(path: Path) -> str:
    """The config file's content hash (it names no secret value), to notice a changed config."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise ProvisionError(f"{path}: cannot read: {e.strerror or e}") from None


class Recorder:
    """What a plan observed on GitHub, recorded by wrapping its client's two list reads."""

    def __init__(self) -> None:
        self.observed: Observed = {}

    def attach(self, client: Any) -> None:
        lister: Callable[[TargetRef], dict[str, ObservedSecret]] = client.list_secrets
        selected: Callable[[TargetRef, str], list[Any]] = client.selected_repositories

        def list_secrets(target: TargetRef) -> dict[str, ObservedSecret]:
            found = lister(target)
            self.observed[target.label.casefold()] = {
                name: {"updated_at": o.updated_at.isoformat(), "visibility": o.visibility}
                for name, o in found.items()
            }
            return found

        def selected_repositories(target: TargetRef, name: str) -> list[Any]:
            repos = selected(target, name)
            seen = self.observed.setdefault(target.label.casefold(), {}).setdefault(name, {})
            seen["repositories"] = sorted(r.full_name.casefold() for r in repos)
            return repos

        # Instance attributes shadow the methods for this one run's client only.
        setattr(client, "list_secrets", list_secrets)  # noqa: B010
        setattr(client, "selected_repositories", selected_repositories)  # noqa: B010


def write(path: Path, plan: SavedPlan) -> None:
    """Write the saved plan, mode 0600 from its creation (never readable by others), whole or
    not at all: a temporary file beside it, renamed over it once complete, so a failed write
    never leaves half a plan (nor clobbers the one there)."""
    text = json.dumps(plan.data(), indent=1, sort_keys=True) + "\n"
    try:
        write_whole(path, text)
    except OSError as e:
        raise ProvisionError(f"{path}: cannot write the plan: {e.strerror or e}") from None


def read(path: Path) -> SavedPlan | None:
    """The saved plan at ``path``; None when the file is not one (then it is a config)."""
    try:
        with path.open("rb") as f:
            head = f.read(MAX_BYTES + 1)
    except OSError:
        return None
    if not head.lstrip().startswith(b"{") or b'"kind"' not in head:
        return None
    try:
        data = json.loads(head)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        return None
    try:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError("unknown format_version")
        fields = {k: data[k] for k in SavedPlan.__dataclass_fields__}
        plan = SavedPlan(**fields)
        if not isinstance(plan.config, str) or not isinstance(plan.changes, list):
            raise TypeError("config or changes")
        return plan
    except (KeyError, TypeError, ValueError) as e:
        raise ProvisionError(f"{path}: the saved plan is damaged ({e})") from None


def staleness(saved: SavedPlan, now: SavedPlan) -> list[str]:
    """Why ``saved`` no longer holds, compared with the plan computed ``now`` (empty: fresh)."""
    reasons: list[str] = []
    if saved.digest != now.digest or saved.identity != now.identity:
        reasons.append(f"the config {saved.config} changed")
    if set(saved.observed) != set(now.observed):
        reasons.append("the targets read differ (the state or the filters changed since the plan)")
    for label in sorted(set(saved.observed) & set(now.observed)):
        before, after = saved.observed[label], now.observed[label]
        for name in sorted(set(before) | set(after)):
            if _changed_on_github(before.get(name), after.get(name)):
                reasons.append(f"{label} {name} changed on GitHub since the plan")
    if not reasons and saved.changes != now.changes:
        reasons.append(
            "the changes differ (a source's value, the state or the time of rotation moved on)"
        )
    return reasons


def _changed_on_github(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    """Whether GitHub's record of a secret moved: created, deleted, updated or re-scoped.
    Its selected repositories count only when both runs read them (whether a run reads them
    depends on the state, which is no news from GitHub; the changes' comparison covers it)."""
    if before is None or after is None:
        return before is not after
    if (before["updated_at"], before["visibility"]) != (after["updated_at"], after["visibility"]):
        return True
    repositories = before.get("repositories"), after.get("repositories")
    return None not in repositories and repositories[0] != repositories[1]


@contextmanager
def recording(client: Any) -> Iterator[Recorder]:
    recorder = Recorder()
    recorder.attach(client)
    yield recorder
