"""``provision status``: the pure table builder (truth tables) and the command end to end."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provisioner import status
from provisioner.domain import ObservedSecret, ObservedTarget, Selection, StateEntry, TargetRef
from tests.support.e2e import Cli
from tests.test_render import desired_for

ORG = TargetRef("org", "octo-org")
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
PASSWORD = "ECR_CONTAINER_REGISTRY_PASSWORD"


def password_status(
    github_age: timedelta | None, state_age: timedelta | None, *, ecr: bool
) -> status.RegistryStatus:
    desired = desired_for(ORG, "ECR", rotate=6 * H, ecr=ecr)
    secrets = {} if github_age is None else {PASSWORD: ObservedSecret(PASSWORD, NOW - github_age)}
    state = {} if state_age is None else {(ORG, PASSWORD): StateEntry("fp", NOW - state_age)}
    (target,) = status.build(desired, {ORG: ObservedTarget(ORG, secrets)}, state, NOW)
    (registry,) = target.registries
    return registry


@pytest.mark.parametrize(
    ("github_age", "state_age", "ecr", "rotation", "age_from"),
    [
        (None, None, True, "missing", None),
        (1 * H, None, True, "ok", "github"),
        (7 * H, None, True, "due", "github"),
        (13 * H, None, True, "expired", "github"),
        (13 * H, None, False, "due", "github"),  # not an ECR token: no 12h life
        (1 * H, 13 * H, True, "expired", "state"),  # the state's record wins over updated_at
        # GitHub's stamp older than the state's record: the older wins, as in the plan.
        (13 * H, 1 * H, True, "expired", "github"),
    ],
)
def test_rotation_truth_table(
    github_age: timedelta | None,
    state_age: timedelta | None,
    ecr: bool,
    rotation: str,
    age_from: str | None,
) -> None:
    registry = password_status(github_age, state_age, ecr=ecr)
    assert registry.rotation == rotation
    assert registry.secrets[-1].age_from == age_from
    assert registry.secrets[-1].managed is (state_age is not None)
    assert registry.stale is (rotation in ("due", "expired"))


def test_leftovers_and_filters() -> None:
    desired = desired_for(ORG, "ACR")
    secrets = {
        n: ObservedSecret(n, NOW - H)
        for n in ("ACR_CONTAINER_REGISTRY_USER", "OLD_CONTAINER_REGISTRY_USER", "NOT_A_REGISTRY")
    }
    observed = {ORG: ObservedTarget(ORG, secrets)}
    (target,) = status.build(desired, observed, {}, NOW)
    assert [(r.registry, r.desired) for r in target.registries] == [("ACR", True), ("OLD", False)]
    assert [s.exists for s in target.registries[0].secrets] == [False, True, False]
    only_acr = Selection.of([], ["acr"])
    (target,) = status.build(desired, observed, {}, NOW, only_acr)
    assert [r.registry for r in target.registries] == ["ACR"]
    assert status.build(desired, observed, {}, NOW, Selection.of(["org:other"], [])) == []


ROTATING = """\
version: 1
registries:
  GAR:
    server: us-docker.pkg.dev
    username: oauth2accesstoken
    password: {command: [PYTHON, -c, "open('WITNESS', 'w'); print('tok-MARKER-1')"]}
    rotate_after: 45m
  ACR:
    server: mycompany.azurecr.io
    username: acr-pull
    password: {env: ACR_PASSWORD}
targets:
  - org: octo-org
    registries: [ACR, GAR]
    repositories: [api, web]
  - repository: octo-org/legacy
    registries: [ACR]
"""


def test_status_command_end_to_end(cli: Cli, tmp_path: Path) -> None:
    witness = tmp_path / "witness"
    config = ROTATING.replace("PYTHON", sys.executable).replace("WITNESS", str(witness))
    cli.write_config(config)
    code, out, err = cli("status")
    assert code == 0, err
    assert "Status: 2 targets, 3 registries; 9 secrets missing, 0 rotations due" in out
    assert not witness.exists()  # status reads no value source

    assert cli.apply()[0] == 0
    witness.unlink()
    code, out, err = cli("status", "--fail-on-stale")
    assert code == 0, err
    assert "  repositories: octo-org/api, octo-org/web" in out
    assert "ok, due in 44m (every 45m)" in out or "ok, due in 45m (every 45m)" in out
    assert "tok-MARKER" not in out + err and not witness.exists()

    # Scheduled rotation stopped: without state, GitHub's updated_at tells the age.
    __import__("shutil").rmtree(cli.state)
    for target in (("org", "octo-org"),):
        cli.gh.admin(
            "POST",
            "age",
            {
                "scope": target[0],
                "target": target[1],
                "name": "GAR_CONTAINER_REGISTRY_PASSWORD",
                "seconds": 3600,
            },
        )
    code, out, err = cli("status")
    assert code == 0, err
    assert "due 15m ago (every 45m)" in out
    assert cli("status", "--fail-on-stale")[0] == 1

    code, out, err = cli("status", "--json", "--target", "org:octo-org", "--registry", "GAR")
    document = json.loads(out)
    (target,) = document["targets"]
    (registry,) = target["registries"]
    assert registry["rotation"]["status"] == "due"
    assert [s["exists"] for s in registry["secrets"]] == [True, True, True]
    assert {s["age_from"] for s in registry["secrets"]} == {"github"}
    assert document["summary"]["due"] == 1


def test_status_unreadable_target_exits_1(cli: Cli) -> None:
    cli.env["GH_TOKEN"] = "ghp_no_org"
    code, out, err = cli("status")
    assert code == 1
    assert "org:octo-org" in out and "error:" in out
