"""The plan as truth tables: (desired, observed, state, now) -> changes. No network, no mocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from provisioner.desired import Access, DesiredSecret
from provisioner.domain import ObservedSecret, ObservedTarget, Selection, StateEntry, TargetRef
from provisioner.plan import diff

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
T0 = NOW - timedelta(hours=1)
ORG = TargetRef("org", "octo-org")
REPO = TargetRef("repository", "octo-org/legacy")
USER = TargetRef("user", "octocat")
NAME = "ACR_CONTAINER_REGISTRY_PASSWORD"
TOKEN6 = "ECR_CONTAINER_REGISTRY_PASSWORD"


def want(
    target: TargetRef = ORG,
    name: str = NAME,
    *,
    visibility: str | None = "selected",
    repos: tuple[str, ...] | None = ("octo-org/api",),
    rotate: timedelta | None = None,
) -> DesiredSecret:
    if target.scope == "repository":
        visibility, repos = None, None
    if target.scope == "user":
        visibility = None
    return DesiredSecret(
        target=target,
        name=name,
        registry=name.split("_CONTAINER")[0],
        part=name.rsplit("_", 1)[1],
        value=("value-of", name),
        access=Access(visibility, repos),
        rotate_after=rotate,
        repositories=repos,
    )


def seen(
    name: str = NAME,
    updated: datetime = T0,
    visibility: str | None = "selected",
    repos: tuple[str, ...] | None = ("octo-org/api",),
) -> ObservedSecret:
    return ObservedSecret(name=name, updated_at=updated, visibility=visibility, repositories=repos)


def run(desired, observed_secrets, state=None, *, same=True, target=ORG, **kw):
    observed = {target: ObservedTarget(target, {s.name: s for s in observed_secrets})}
    calls = []

    def same_value(d, s):
        calls.append(d.name)
        return same

    plan = diff(desired, observed, state or {}, NOW, same_value, configured=[target], **kw)
    return plan, calls


def entry(updated: datetime = T0) -> StateEntry:
    return StateEntry(fingerprint="fp", updated_at=updated, registry="ACR")


def reasons(plan):
    return [(c.action, c.secret, c.reasons) for c in plan.changes]


@pytest.mark.parametrize(
    ("case", "observed", "state", "same", "expected"),
    [
        ("absent", [], {}, True, [("create", NAME, ("missing",))]),
        ("unchanged", [seen()], {(ORG, NAME): entry()}, True, []),
        (
            "value changed",
            [seen()],
            {(ORG, NAME): entry()},
            False,
            [("update", NAME, ("value-changed",))],
        ),
        (
            "drift",
            [seen(updated=T0 + timedelta(seconds=1))],
            {(ORG, NAME): entry()},
            True,
            [("update", NAME, ("drift",))],
        ),
        ("no state", [seen()], {}, True, [("update", NAME, ("value-unknown",))]),
        (
            "visibility",
            [seen(visibility="all", repos=None)],
            {(ORG, NAME): entry()},
            True,
            [("update", NAME, ("visibility-changed",))],
        ),
        (
            "repositories",
            [seen(repos=("octo-org/web",))],
            {(ORG, NAME): entry()},
            True,
            [("update", NAME, ("repositories-changed",))],
        ),
        (
            "repos case-insensitive",
            [seen(repos=("Octo-Org/API",))],
            {(ORG, NAME): entry()},
            True,
            [],
        ),
        (
            "value and repos",
            [seen(repos=())],
            {(ORG, NAME): entry()},
            False,
            [("update", NAME, ("value-changed", "repositories-changed"))],
        ),
        (
            "the value cannot be read to compare",
            [seen()],
            {(ORG, NAME): entry()},
            None,
            [("update", NAME, ("value-unknown",))],
        ),
    ],
)
def test_org_rows(case, observed, state, same, expected):
    plan, _ = run([want()], observed, state, same=same)
    assert reasons(plan) == expected, case
    assert plan.unchanged == (1 if not expected else 0)


@pytest.mark.parametrize(
    ("server_same", "bound", "expected"),
    [
        (
            False,
            True,
            {"ECR_CONTAINER_REGISTRY_SERVER": ("value-changed",), TOKEN6: ("value-changed",)},
        ),
        (False, False, {"ECR_CONTAINER_REGISTRY_SERVER": ("value-changed",)}),  # not a token
        (None, True, {"ECR_CONTAINER_REGISTRY_SERVER": ("value-unknown",)}),  # left to its age
        (True, True, {}),
    ],
)
def test_a_token_bound_to_its_server_follows_a_changed_server(server_same, bound, expected):
    """An ECR token is minted for one registry: a SERVER the state says changed rewrites it."""
    server = want(REPO, "ECR_CONTAINER_REGISTRY_SERVER")
    token = replace(want(REPO, TOKEN6, rotate=timedelta(hours=6)), server_bound=bound)
    observed = {REPO: ObservedTarget(REPO, {d.name: seen(d.name) for d in (server, token)})}
    state = {d.key: entry() for d in (server, token)}
    plan = diff([server, token], observed, state, NOW, lambda d, s: server_same, configured=[REPO])
    assert {c.secret: c.reasons for c in plan.changes} == expected


def test_value_is_only_compared_when_the_plan_needs_it():
    _, calls = run([want()], [], {})
    assert calls == []  # absent: no read
    _, calls = run([want()], [seen()], {})
    assert calls == []  # no state: value-unknown without reading
    _, calls = run([want()], [seen(updated=T0 + timedelta(seconds=5))], {(ORG, NAME): entry()})
    assert calls == []  # drift already decides
    _, calls = run([want()], [seen()], {(ORG, NAME): entry()})
    assert calls == [NAME]


@pytest.mark.parametrize(
    ("age", "due"),
    [
        (timedelta(minutes=1), False),  # fresh
        (timedelta(hours=6) - timedelta(seconds=1), False),  # just under
        (timedelta(hours=6), True),  # at
        (timedelta(hours=6, seconds=1), True),  # over
        (timedelta(hours=13), True),  # past the 12 h token life
    ],
)
def test_rotation_by_age_without_state(age, due):
    d = want(REPO, rotate=timedelta(hours=6))
    plan, calls = run([d], [seen(updated=NOW - age, visibility=None, repos=None)], {}, target=REPO)
    assert calls == []  # a rotating value is never read to plan
    assert reasons(plan) == ([("update", NAME, ("rotation-due",))] if due else [])
    if due:
        assert plan.changes[0].age == age


def test_rotation_age_prefers_state_record():
    d = want(REPO, rotate=timedelta(hours=6))
    old = NOW - timedelta(hours=7)
    plan, _ = run(
        [d],
        [seen(updated=old, visibility=None, repos=None)],
        {(REPO, NAME): entry(old)},
        target=REPO,
    )
    assert reasons(plan) == [("update", NAME, ("rotation-due",))]


def test_rotation_age_is_githubs_when_older_than_the_state_record():
    """A secret GitHub says is older than our record (restored, aged) rotates by GitHub's."""
    d = want(REPO, rotate=timedelta(hours=6))
    plan, _ = run(
        [d],
        [seen(updated=NOW - timedelta(hours=7), visibility=None, repos=None)],
        {(REPO, NAME): entry(NOW - timedelta(minutes=5))},
        target=REPO,
    )
    assert reasons(plan) == [("update", NAME, ("rotation-due",))]
    assert plan.changes[0].age == timedelta(hours=7)


def test_force_rotate():
    d = want(REPO, rotate=timedelta(hours=6))
    plan, _ = run(
        [d], [seen(updated=NOW, visibility=None, repos=None)], {}, target=REPO, force_rotate=True
    )
    assert reasons(plan) == [("update", NAME, ("rotation-due",))]


def test_rotating_policy_change_writes_value_plain_one_does_not():
    rot = want(rotate=timedelta(hours=6))
    plan, _ = run([rot], [seen(updated=NOW, repos=("octo-org/web",))], {})
    assert plan.changes[0].reasons == ("repositories-changed",)
    assert plan.changes[0].writes_value
    plain, _ = run([want()], [seen(repos=("octo-org/web",))], {(ORG, NAME): entry()})
    assert not plain.changes[0].writes_value


def test_user_repositories():
    d = want(USER, repos=("octo-org/api", "octocat/dotfiles"))
    plan, _ = run(
        [d],
        [seen(visibility="selected", repos=("octo-org/api",))],
        {(USER, NAME): entry()},
        target=USER,
    )
    assert reasons(plan) == [("update", NAME, ("repositories-changed",))]
    assert plan.changes[0].visibility is None


def test_not_desired_and_forget():
    state = {(ORG, NAME): entry(), (ORG, "GONE_CONTAINER_REGISTRY_USER"): entry()}
    plan, _ = run([], [seen()], state)
    assert reasons(plan) == [("delete", NAME, ("not-desired",))]
    assert plan.forget == ((ORG, "GONE_CONTAINER_REGISTRY_USER"),)


def test_unmanaged_listed_and_pruned_only_on_request():
    other = seen("OLD_CONTAINER_REGISTRY_USER")
    unrelated = seen("NPM_TOKEN")
    plan, _ = run([], [other, unrelated])
    assert [(u.target, u.secret) for u in plan.unmanaged] == [(ORG, "OLD_CONTAINER_REGISTRY_USER")]
    assert plan.changes == ()
    pruned, _ = run([], [other, unrelated], prune=True)
    assert reasons(pruned) == [("delete", "OLD_CONTAINER_REGISTRY_USER", ("prune",))]


def test_selection_never_turns_filtered_secrets_into_deletes():
    state = {(ORG, NAME): entry()}
    plan, _ = run([want()], [seen()], state, selection=Selection(registries=frozenset({"ECR"})))
    assert plan.changes == () and plan.unchanged == 0
    plan, _ = run([], [seen()], state, selection=Selection(registries=frozenset({"ECR"})))
    assert plan.changes == ()
    plan, _ = run([], [seen()], state, selection=Selection(registries=frozenset({"ACR"})))
    assert reasons(plan) == [("delete", NAME, ("not-desired",))]


def test_failed_target_is_reported_and_skipped():
    observed = {ORG: ObservedTarget(ORG, error="org:octo-org: 404"), REPO: ObservedTarget(REPO, {})}
    plan = diff([want(), want(REPO)], observed, {}, NOW, lambda d, s: True, configured=[ORG, REPO])
    assert plan.failed_targets == ((ORG, "org:octo-org: 404"),)
    assert [(c.target, c.action) for c in plan.changes] == [(REPO, "create")]


def test_changes_sorted_by_target_then_name():
    names = ["B_CONTAINER_REGISTRY_USER", "A_CONTAINER_REGISTRY_USER"]
    plan, _ = run([want(name=n) for n in names], [])
    assert [c.secret for c in plan.changes] == sorted(names)


# -- invariants and limits (the never-lose-a-secret rules) -----------------------------------


def test_a_plan_that_writes_and_deletes_one_secret_is_refused() -> None:
    from provisioner.plan import Change
    from provisioner.safety import PlanInvariantError, check_invariants

    write = Change("update", ORG, NAME, "ACR", ("drift",))
    delete = Change("delete", TargetRef("org", "Octo-Org"), NAME.lower(), "ACR", ("not-desired",))
    with pytest.raises(PlanInvariantError, match="both writes and deletes"):
        check_invariants([write, delete])
    with pytest.raises(PlanInvariantError, match="not a registry secret"):
        check_invariants([Change("delete", ORG, "DATABASE_URL", None, ("not-desired",))])
    check_invariants([write])


def test_state_entries_that_are_no_registry_secrets_are_warned_about_not_deleted() -> None:
    state = {(ORG, "NPM_TOKEN"): StateEntry("fp", T0)}
    plan, _ = run([], [seen("NPM_TOKEN")], state)
    assert plan.changes == ()
    assert plan.warnings and "NPM_TOKEN" in plan.warnings[0]


def test_target_names_compare_case_insensitively() -> None:
    state = {(TargetRef("org", "OCTO-ORG"), NAME): StateEntry("fp", T0)}
    plan, _ = run([want()], [seen()], state)
    assert (plan.changes, plan.unchanged) == ((), 1)


def test_more_than_100_secrets_on_a_target_fails_that_target() -> None:
    others = [seen(f"OTHER_{i}", visibility="all") for i in range(100)]
    plan, _ = run([want()], others)
    assert plan.changes == ()
    assert plan.failed_targets[0][0] == ORG
    assert "would leave 101 Codespaces secrets" in plan.failed_targets[0][1]
    assert run([want()], others[:99])[0].count("create") == 1


@pytest.mark.parametrize(
    ("managed", "deleted", "valve"),
    [(10, 3, False), (10, 4, True), (9, 9, False), (20, 7, True)],
)
def test_the_mass_delete_valve(managed: int, deleted: int, valve: bool) -> None:
    names = [f"R{i}_CONTAINER_REGISTRY_USER" for i in range(managed)]
    desired = [want(name=n) for n in names[deleted:]]
    state = {(ORG, n): StateEntry("fp", T0) for n in names}
    plan, _ = run(desired, [seen(n) for n in names], state)
    assert plan.count("delete") == deleted
    assert bool(plan.mass_deletes) is valve
