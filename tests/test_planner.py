"""``planner.make_plan`` against the in-memory GitHub: repository patterns and IDs, values read
at plan time, user targets, removed targets and --target. Real config, real Resolver (``env``
sources, a dict environment); milliseconds, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from provisioner import planner
from provisioner.config import load_config
from provisioner.domain import Selection, StateEntry, StateKey, TargetRef
from provisioner.errors import GitHubError
from provisioner.naming import SUFFIXES, secret_name
from provisioner.plan import Plan
from provisioner.sources import Resolver
from tests.support.fake_github import FakeGitHub

ORG = TargetRef("org", "octo-org")
REPO = TargetRef("repository", "octo-org/legacy")
USER = TargetRef("user", "octocat")
GONE = TargetRef("repository", "octo-org/retired")
NOW = datetime(2026, 3, 1, tzinfo=UTC)
CONFIG = """\
version: 1
registries:
  ACR:
    server: mycompany.azurecr.io
    username: acr-pull
    password: {env: ACR_PASSWORD}
  HUB:
    server: https://index.docker.io/v1/
    username: {env: HUB_USER}
    password: {env: HUB_TOKEN}
targets:
  - org: octo-org
    registries: [ACR]
    repositories: [REPOS]
  - repository: octo-org/legacy
    registries: [HUB]
  - user: octocat
    registries: [HUB]
    repositories: [octo-org/api, octocat/dotfiles]
"""
ENV = {"ACR_PASSWORD": "acr-password-1", "HUB_USER": "hubber", "HUB_TOKEN": "hub-token-2"}


def names(registry: str) -> set[str]:
    return {secret_name(registry, part) for part in SUFFIXES}


class World:
    """A fake GitHub holding the config's targets and repositories, and a plan to make."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fake = FakeGitHub(login="octocat")
        for target in (ORG, REPO, USER):
            self.fake.add_target(target)
        for repo in ("octo-org/api", "octo-org/web-1", "octo-org/web-2", "octocat/dotfiles"):
            self.fake.add_repo(repo)
        self.fake.add_repo("octo-org/web-old", archived=True)
        self.env = dict(ENV)
        self.state: dict[StateKey, StateEntry] = {}
        self.repos = "api, 'web-*'"

    def plan(self, selection: Selection | None = None) -> Plan:
        path = self.tmp / "team.yaml"
        path.write_text(CONFIG.replace("REPOS", self.repos))
        inputs = planner.Inputs(
            config=load_config(path),
            client=self.fake,
            resolver=Resolver(self.tmp, self.env),
            state=self.state,
            selection=selection or Selection(),
            now=lambda: NOW,
        )
        return planner.make_plan(inputs)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def changed(plan: Plan, target: TargetRef) -> set[str]:
    return {c.secret for c in plan.changes if c.target == target}


def test_an_unknown_repository_fails_only_its_target(world: World) -> None:
    world.repos = "api, ghost"
    plan = world.plan()
    assert plan.failed_targets == (
        (
            ORG,
            "org:octo-org: unknown repository octo-org/ghost "
            "(not found, or the token cannot see it)",
        ),
    )
    assert changed(plan, ORG) == set()
    assert changed(plan, REPO) == changed(plan, USER) == names("HUB")


def test_globs_expand_and_skip_archived_repositories(world: World) -> None:
    plan = world.plan()
    assert not plan.has_errors
    org = [c for c in plan.changes if c.target == ORG]
    assert {c.secret for c in org} == names("ACR")
    assert {c.repositories for c in org} == {("octo-org/api", "octo-org/web-1", "octo-org/web-2")}


def test_a_glob_matching_no_repository_fails_its_target(world: World) -> None:
    world.repos = "'web-old*'"  # archived only: nothing to give access to
    plan = world.plan()
    assert [(t, m) for t, m in plan.failed_targets] == [
        (ORG, "org:octo-org: repository pattern 'web-old*' matches no repository")
    ]
    assert changed(plan, REPO) == names("HUB")


def test_an_unreadable_value_blocks_its_registrys_three_secrets_and_names_them(
    world: World,
) -> None:
    del world.env["HUB_TOKEN"]
    plan = world.plan()
    password = secret_name("HUB", "PASSWORD")
    assert plan.value_errors == (
        (
            "env HUB_TOKEN: the environment variable is unset or empty",
            ((REPO, password), (USER, password)),
        ),
    )
    for target in (REPO, USER):
        hub = [c for c in plan.changes if c.target == target]
        assert {c.secret for c in hub} == names("HUB")
        assert {c.blocked for c in hub} == {
            f"not written: {password}: env HUB_TOKEN: the environment variable is unset or empty"
        }
    assert {c.blocked for c in plan.changes if c.target == ORG} == {None}  # ACR is readable


def test_a_user_target_that_is_not_the_tokens_user_fails_before_its_secrets_are_read(
    world: World,
) -> None:
    world.fake.login = "someone-else"
    plan = world.plan()
    assert plan.failed_targets == (
        (
            USER,
            "user:octocat: the token belongs to 'someone-else'; user secrets can only be "
            "managed for the authenticated user",
        ),
    )
    assert not world.fake.listed(USER)  # GitHub would have listed someone-else's secrets
    assert world.fake.listed(ORG) and world.fake.listed(REPO)
    assert changed(plan, USER) == set() and changed(plan, REPO) == names("HUB")


def test_a_refused_login_fails_the_user_targets_only(world: World) -> None:
    world.fake.login_error = GitHubError("GET /user: 502 Bad Gateway (after 3 retries)", 502)
    plan = world.plan()
    assert plan.failed_targets == ((USER, "GET /user: 502 Bad Gateway (after 3 retries)"),)
    assert not world.fake.listed(USER)
    assert changed(plan, ORG) == names("ACR") and changed(plan, REPO) == names("HUB")


def test_a_target_that_cannot_be_read_fails_alone(world: World) -> None:
    world.fake.fail_reads_on[REPO] = GitHubError("repository:octo-org/legacy: 404 not found", 404)
    plan = world.plan()
    assert plan.failed_targets == ((REPO, "repository:octo-org/legacy: 404 not found"),)
    assert changed(plan, ORG) == names("ACR") and changed(plan, USER) == names("HUB")


def test_state_entries_of_a_removed_target_plan_deletes(world: World) -> None:
    world.fake.add_target(GONE)
    for name in names("HUB") - {secret_name("HUB", "USER")}:
        world.fake.seed(GONE, name, "old")
        world.state[(GONE, name)] = StateEntry("fp", NOW, "HUB")
    world.state[(GONE, secret_name("HUB", "USER"))] = StateEntry("fp", NOW, "HUB")  # gone
    plan = world.plan()
    deletes = [c for c in plan.changes if c.target == GONE]
    assert {(c.action, c.secret, c.reasons) for c in deletes} == {
        ("delete", name, ("not-desired",)) for name in names("HUB") - {secret_name("HUB", "USER")}
    }
    assert plan.forget == ((GONE, secret_name("HUB", "USER")),)
    assert plan.count("delete") == 2  # nothing of the configured targets


def test_a_target_selection_narrows_the_plan_without_deleting(world: World) -> None:
    world.fake.add_target(GONE)
    world.fake.seed(GONE, secret_name("HUB", "SERVER"), "old")
    world.state[(GONE, secret_name("HUB", "SERVER"))] = StateEntry("fp", NOW, "HUB")
    plan = world.plan(Selection(targets=frozenset({REPO})))
    assert {c.target for c in plan.changes} == {REPO}
    assert {c.action for c in plan.changes} == {"create"}
    assert plan.forget == ()
    # The other targets are not even read.
    assert [w for (m, w) in world.fake.reads if m == "list_secrets"] == [REPO.label]
