"""The shipped scheduled-rotation workflow has the properties DESIGN.md section 8 asks for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "rotate-registry-tokens.yml"
ECR_TOKEN_LIFE_HOURS = 12


def load() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return document


def steps() -> list[dict[str, Any]]:
    (job,) = load()["jobs"].values()
    found: list[dict[str, Any]] = job["steps"]
    return found


def uses(action: str) -> list[dict[str, Any]]:
    return [s for s in steps() if str(s.get("uses", "")).split("@")[0] == action]


def test_schedule_is_at_most_half_the_token_life_plus_manual_runs() -> None:
    triggers = load()[True]  # YAML 1.1: the key `on` parses as the boolean True
    assert "workflow_dispatch" in triggers
    (cron,) = [entry["cron"] for entry in triggers["schedule"]]
    minute, hour, *rest = cron.split()
    assert rest == ["*", "*", "*"]
    assert minute.isdigit() and int(minute) != 0  # off the hour: the top of it is crowded
    every = re.fullmatch(r"\*/(\d+)", hour)
    assert every is not None and int(every.group(1)) <= ECR_TOKEN_LIFE_HOURS // 2


def test_runs_never_overlap_and_are_never_cancelled_midway() -> None:
    concurrency = load()["concurrency"]
    assert concurrency["group"]
    assert concurrency["cancel-in-progress"] is False


def test_least_privilege_permissions_for_oidc() -> None:
    assert load()["permissions"] == {"id-token": "write", "contents": "read"}


def test_aws_credentials_come_from_oidc_not_stored_keys() -> None:
    (step,) = uses("aws-actions/configure-aws-credentials")
    assert step["with"]["role-to-assume"]
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(step["with"])


def test_github_token_can_write_codespaces_secrets() -> None:
    assert uses("actions/create-github-app-token")
    (run,) = [s for s in steps() if "provision apply" in str(s.get("run", ""))]
    token = run["env"]["GH_TOKEN"]
    assert "steps.app-token.outputs.token" in token or "secrets." in token
    assert "GITHUB_TOKEN" not in token  # the workflow's own token cannot write them


def test_installs_aws_extra_and_applies_only_the_ecr_registry() -> None:
    runs = [str(s.get("run", "")) for s in steps()]
    assert "pip install '.[aws]'" in runs
    apply = "provision apply configs/team.yaml --yes --registry ECR"
    assert any(r.startswith(apply) for r in runs)
    # The install and the credentials come before the apply.
    names = [str(s.get("uses", s.get("run", ""))) for s in steps()]
    apply_at = next(i for i, n in enumerate(names) if n.startswith(apply))
    assert names.index("pip install '.[aws]'") < apply_at
    assert any(n.startswith("aws-actions/configure-aws-credentials") for n in names[:apply_at])


def test_the_state_lives_in_s3_not_in_the_actions_cache() -> None:
    assert not uses("actions/cache/restore") and not uses("actions/cache/save")
    (run,) = [s for s in steps() if "provision apply" in str(s.get("run", ""))]
    assert "PROVISION_STATE" in run["env"] and "PROVISION_LOCK_TIMEOUT" in run["env"]
    assert "cache is no place" in WORKFLOW.read_text()


def test_review_plans_on_pull_requests_and_applies_the_saved_plan_on_merge() -> None:
    review = yaml.safe_load((WORKFLOW.parent / "review-registry-config.yml").read_text())
    plan_runs = [str(s.get("run", "")) for s in review["jobs"]["plan"]["steps"]]
    (plan,) = [r for r in plan_runs if "provision plan" in r]
    assert "--out plan.json" in plan and "--format markdown" in plan
    assert "$GITHUB_STEP_SUMMARY" in plan
    uploads = [
        s for s in review["jobs"]["plan"]["steps"] if "upload-artifact" in str(s.get("uses"))
    ]
    assert uploads and uploads[0]["with"]["path"] == "plan.json"
    apply_runs = [str(s.get("run", "")) for s in review["jobs"]["apply"]["steps"]]
    assert "provision apply plan.json --yes" in apply_runs


def test_a_matrix_over_organizations_each_job_narrowed_to_its_target() -> None:
    job = load()["jobs"]["rotate"]
    targets = job["strategy"]["matrix"]["target"]
    assert targets and all(t.startswith("org:") for t in targets)
    assert job["strategy"]["fail-fast"] is False
    run = next(s for s in job["steps"] if "provision apply" in s.get("run", ""))
    assert '--target "${{ matrix.target }}"' in run["run"]
