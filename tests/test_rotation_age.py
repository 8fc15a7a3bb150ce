"""``plan`` and ``status`` age a rotating secret by one rule (:func:`plan.last_written`): the
state's record of the last write, else GitHub's updated_at, GitHub's when it is the older. So
status calls due exactly what plan rotates, with or without state, whatever the skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from provisioner import status
from provisioner.domain import ObservedSecret, ObservedTarget, StateEntry, TargetRef, last_written
from provisioner.plan import diff
from tests.test_render import desired_for

ORG = TargetRef("org", "octo-org")
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
PASSWORD = "GAR_CONTAINER_REGISTRY_PASSWORD"
CASES = [
    # github age, state age, expected age, from
    (1 * H, None, 1 * H, "github"),
    (7 * H, None, 7 * H, "github"),
    (2 * H, 2 * H, 2 * H, "state"),
    (1 * H, 7 * H, 7 * H, "state"),  # GitHub's newer (drift): our write is what aged
    (7 * H, 1 * H, 7 * H, "github"),  # GitHub's older (a restored secret): it is that old
]


@pytest.mark.parametrize(("github", "state", "age", "source"), CASES)
def test_last_written(
    github: timedelta, state: timedelta | None, age: timedelta, source: str
) -> None:
    o = ObservedSecret(PASSWORD, NOW - github)
    s = None if state is None else StateEntry("fp", NOW - state)
    assert last_written(o, s) == (NOW - age, source)


@pytest.mark.parametrize(("github", "state", "age", "source"), CASES)
def test_plan_and_status_agree_on_age_and_due(
    github: timedelta, state: timedelta | None, age: timedelta, source: str
) -> None:
    desired = desired_for(ORG, "GAR", rotate=6 * H)
    secrets = {d.name: ObservedSecret(d.name, NOW - github, "selected", ()) for d in desired}
    entries = {} if state is None else {(ORG, PASSWORD): StateEntry("fp", NOW - state)}
    observed = {ORG: ObservedTarget(ORG, secrets)}

    plan = diff(desired, observed, entries, NOW, lambda d, s: True)
    (registry,) = status.build(desired, observed, entries, NOW)[0].registries
    rotation = [c for c in plan.changes if c.secret == PASSWORD and "rotation-due" in c.reasons]
    password = registry.secrets[-1]
    assert (password.age, password.age_from) == (age, source)
    assert (registry.rotation == "due") is bool(rotation)
    if rotation:
        assert rotation[0].age == password.age
