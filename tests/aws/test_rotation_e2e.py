"""End to end: ECR token mode and rotate_after, the CLI against the sandbox and moto in-process.

The sandbox decrypts what it receives; ``aws_calls`` counts every AWS call the run makes.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.aws.conftest import ACCOUNT, REGION, EcrExpiry
from tests.support.e2e import Cli, assert_bodies_match_openapi

TOKEN = "ECR_CONTAINER_REGISTRY_PASSWORD"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
ECR_CONFIG = """\
version: 1
registries:
  ECR:
    ecr: {mode: token, region: us-east-1, registry_id: "123456789012"}
  ACR:
    server: mycompany.azurecr.io
    username: acr-pull
    password: {env: ACR_PASSWORD}
targets:
  - org: octo-org
    registries: [ACR, ECR]
    repositories: [api, web]
  - repository: octo-org/legacy
    registries: [ECR]
  - user: octocat
    registries: [ECR]
    repositories: [octo-org/api]
"""
TARGETS = [("org", "octo-org"), ("repository", "octo-org/legacy"), ("user", "octocat")]


def age(cli: Cli, name: str, by: timedelta, targets: list[tuple[str, str]] = TARGETS) -> None:
    for scope, target in targets:
        body = {"scope": scope, "target": target, "name": name, "seconds": by.total_seconds()}
        cli.gh.admin("POST", "age", body)


def writes(cli: Cli) -> list[tuple[str, str]]:
    return sorted((r["method"], r["path"]) for r in cli.requests() if r["method"] != "GET")


def secret_path(scope: str, target: str, name: str) -> str:
    prefix = {"org": f"/orgs/{target}", "repository": f"/repos/{target}", "user": "/user"}[scope]
    return f"{prefix}/codespaces/secrets/{name}"


@pytest.fixture
def ecr(cli: Cli, moto: None, ecr_expiry: EcrExpiry) -> Cli:
    """The ECR config, AWS from moto, tokens that expire 12 h from now."""
    cli.write_config(ECR_CONFIG)
    return cli


def test_token_mode_apply_then_no_op_and_scheduled_rotation(
    ecr: Cli, aws_calls: Counter[str]
) -> None:
    code, out, err = ecr.apply()
    assert code == 0, err
    assert "Apply: 12 done, 0 failed, 0 not attempted." in out
    # Three targets share one token: fetched once.
    assert aws_calls["ecr.GetAuthorizationToken"] == 1
    secrets = ecr.gh.secrets()
    for scope, target in TARGETS:
        assert secrets[(scope, target, "ECR_CONTAINER_REGISTRY_SERVER")]["value"] == HOST
        assert secrets[(scope, target, "ECR_CONTAINER_REGISTRY_USER")]["value"] == "AWS"
        assert secrets[(scope, target, TOKEN)]["value"] == f"{ACCOUNT}-auth-token"
    assert secrets[("org", "octo-org", TOKEN)]["repositories"] == ["octo-org/api", "octo-org/web"]

    # A no-op run: SERVER and USER compare as ordinary values, no token is fetched.
    aws_calls.clear()
    code, out, err = ecr("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    assert aws_calls["ecr.GetAuthorizationToken"] == 0
    assert ecr.apply()[1].strip() == "No changes."
    assert aws_calls["ecr.GetAuthorizationToken"] == 0

    # The scheduled run: the PASSWORDs are 7 h old; exactly they are rewritten, everywhere.
    age(ecr, TOKEN, timedelta(hours=7))
    age(ecr, "ACR_CONTAINER_REGISTRY_PASSWORD", timedelta(hours=7), TARGETS[:1])
    before = ecr.gh.secrets()
    ecr.reset_log()
    aws_calls.clear()
    code, out, err = ecr.apply("--registry", "ECR")
    assert code == 0, err
    assert out.count("(rotation-due; age 7h0m)") == 3, out
    assert writes(ecr) == sorted(("PUT", secret_path(s, t, TOKEN)) for s, t in TARGETS)
    assert aws_calls["ecr.GetAuthorizationToken"] == 1
    after = ecr.gh.secrets()
    for key, secret in after.items():
        rotated = key[2] == TOKEN
        assert (secret["updated_at"] > before[key]["updated_at"]) == rotated, key
        assert secret["value"] == before[key]["value"]  # moto's token is always the same
    assert after[("org", "octo-org", TOKEN)]["repositories"] == ["octo-org/api", "octo-org/web"]
    assert_bodies_match_openapi(ecr.requests())
    aws_calls.clear()
    assert ecr("plan", "--detailed-exitcode")[0] == 0
    assert aws_calls["ecr.GetAuthorizationToken"] == 0


def test_a_new_region_rewrites_the_token_with_the_server(ecr: Cli, aws_calls: Counter[str]) -> None:
    """The token is minted for one registry: when the state says SERVER changed (a new region
    or registry_id), the PASSWORD is rewritten with a token for the new one, on every target,
    not left to its age (the codespaces could not log in until the next rotation)."""
    assert ecr.apply()[0] == 0
    ecr.write_config(ECR_CONFIG.replace("region: us-east-1", "region: us-west-2"))
    ecr.reset_log()
    aws_calls.clear()
    code, out, err = ecr("plan", "--json", "--registry", "ECR")
    assert code == 0, err
    reasons = {(c["target"], c["secret"]): c["reasons"] for c in json.loads(out)["changes"]}
    assert reasons == {
        (t, name): ["value-changed"]
        for _, t in TARGETS
        for name in ("ECR_CONTAINER_REGISTRY_SERVER", TOKEN)
    }
    assert aws_calls["ecr.GetAuthorizationToken"] == 1  # the plan reads what it would write
    aws_calls.clear()
    code, out, err = ecr.apply("--registry", "ECR")
    assert code == 0, err
    assert aws_calls["ecr.GetAuthorizationToken"] == 1
    new_host = HOST.replace(REGION, "us-west-2")
    assert writes(ecr) == sorted(
        ("PUT", secret_path(s, t, n))
        for s, t in TARGETS
        for n in (TOKEN, "ECR_CONTAINER_REGISTRY_SERVER")
    )
    after = ecr.gh.secrets()
    assert {after[(s, t, "ECR_CONTAINER_REGISTRY_SERVER")]["value"] for s, t in TARGETS} == {
        new_host
    }
    aws_calls.clear()
    assert ecr("plan", "--detailed-exitcode")[0] == 0
    assert aws_calls["ecr.GetAuthorizationToken"] == 0


def test_a_stateless_scheduled_run_fetches_no_token_when_none_is_due(
    ecr: Cli, aws_calls: Counter[str]
) -> None:
    """In CI without a cached state: rotation by GitHub's updated_at alone."""
    assert ecr.apply()[0] == 0
    ecr.state = ecr.tmp / "fresh-runner.json"
    aws_calls.clear()
    code, out, err = ecr("plan", "--json", "--registry", "ECR")
    plan = json.loads(out)
    reasons = {(c["target"], c["secret"]): c["reasons"] for c in plan["changes"]}
    # SERVER and USER cannot be compared without a state (GitHub never returns values).
    assert {tuple(r) for r in reasons.values()} == {("value-unknown",)}
    assert {secret for _, secret in reasons} == {
        "ECR_CONTAINER_REGISTRY_SERVER",
        "ECR_CONTAINER_REGISTRY_USER",
    }
    assert aws_calls["ecr.GetAuthorizationToken"] == 0
    age(ecr, TOKEN, timedelta(hours=6), TARGETS[1:2])
    code, out, err = ecr("plan", "--json", "--registry", "ECR")
    due = [c for c in json.loads(out)["changes"] if c["reasons"] == ["rotation-due"]]
    assert [(c["target"], c["secret"]) for c in due] == [("octo-org/legacy", TOKEN)]


@pytest.mark.parametrize("period", ["ecr6h", "rotate_after45m"])
def test_rotation_truth_table_over_ages(
    cli: Cli, moto: None, ecr_expiry: EcrExpiry, period: str
) -> None:
    """fresh, just under, at, over rotate_after, over 12 h: the plan end to end."""
    if period == "ecr6h":
        cli.write_config(ECR_CONFIG)
        name, rotate_after = TOKEN, timedelta(hours=6)
    else:
        gar(cli)
        name, rotate_after = GAR_TOKEN, timedelta(minutes=45)
    assert cli.apply()[0] == 0
    target = [("repository", "octo-org/legacy")]
    table = [
        (timedelta(minutes=1), False),  # fresh
        (rotate_after - timedelta(seconds=30), False),  # just under
        (rotate_after, True),  # at
        (rotate_after + timedelta(minutes=1), True),  # over
        (timedelta(hours=12, minutes=1), True),  # past an ECR token's life
    ]
    aged = timedelta(0)
    for total, due in table:
        age(cli, name, total - aged, target)
        aged = total
        code, out, err = cli("plan", "--json", "--target", "repository:octo-org/legacy")
        changes = json.loads(out)["changes"]
        expected = [(name, ["rotation-due"])] if due else []
        assert [(c["secret"], c["reasons"]) for c in changes] == expected, total


GAR_TOKEN = "GAR_CONTAINER_REGISTRY_PASSWORD"
GAR_CONFIG = """\
version: 1
registries:
  GAR:
    server: us-docker.pkg.dev
    username: oauth2accesstoken
    password: {command: [PYTHON, print-token.py]}
    rotate_after: 45m
targets:
  - repository: octo-org/legacy
    registries: [GAR]
  - user: octocat
    registries: [GAR]
    repositories: [octo-org/api]
"""
PRINT_TOKEN = """\
import pathlib
counter = pathlib.Path("runs")
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
print(f"ya29.MARKER-{n}")
"""


def gar(cli: Cli) -> Path:
    """A registry whose password is a short-lived token printed by a command; its run count."""
    (cli.tmp / "print-token.py").write_text(PRINT_TOKEN)
    cli.write_config(GAR_CONFIG.replace("PYTHON", json.dumps(sys.executable)))
    return cli.tmp / "runs"


def test_any_registry_with_rotate_after_rotates_like_ecr(cli: Cli) -> None:
    counter = gar(cli)
    code, out, err = cli.apply()
    assert code == 0, err
    assert counter.read_text() == "1"  # one run of the command for both targets
    legacy, user = ("repository", "octo-org/legacy", GAR_TOKEN), ("user", "octocat", GAR_TOKEN)
    assert cli.gh.secrets()[legacy]["value"] == "ya29.MARKER-1"
    # Not due: the command is not even run.
    assert cli("plan", "--detailed-exitcode")[0] == 0
    assert counter.read_text() == "1"
    age(cli, GAR_TOKEN, timedelta(minutes=46), [legacy[:2]])
    cli.reset_log()
    code, out, err = cli.apply()
    assert code == 0, err
    assert "(rotation-due; age 46m)" in out
    assert writes(cli) == [("PUT", secret_path(*legacy))]
    secrets = cli.gh.secrets()
    assert (secrets[legacy]["value"], secrets[user]["value"]) == ("ya29.MARKER-2", "ya29.MARKER-1")
    # --force-rotate rewrites every rotating secret now, with one run of the command.
    cli.reset_log()
    assert cli.apply("--force-rotate")[0] == 0
    assert writes(cli) == sorted([("PUT", secret_path(*legacy)), ("PUT", secret_path(*user))])
    assert counter.read_text() == "3"
    assert {cli.gh.secrets()[k]["value"] for k in (legacy, user)} == {"ya29.MARKER-3"}


SWAP_CONFIG = """\
version: 1
registries:
  ECR_KEYS:
    ecr: {mode: swap}
    server: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    username: {env: ECR_KEY_ID}
    password: {env: ECR_SECRET_KEY}
targets:
  - repository: octo-org/legacy
    registries: [ECR_KEYS]
"""


def test_swap_key_id_from_a_source_warns_about_asia_at_plan_time(cli: Cli) -> None:
    cli.write_config(SWAP_CONFIG)
    cli.env.update({"ECR_KEY_ID": "ASIAMARKERKEY", "ECR_SECRET_KEY": "sk-MARKER"})
    code, out, err = cli("plan")
    assert code == 0, err
    assert "warning: registry ECR_KEYS (ecr.mode: swap): the access key ID starts with ASIA" in err
    assert "MARKER" not in out + err
    assert cli.apply()[0] == 0
    assert (
        cli.gh.secrets()[("repository", "octo-org/legacy", "ECR_KEYS_CONTAINER_REGISTRY_USER")][
            "value"
        ]
        == "ASIAMARKERKEY"
    )
    cli.env["ECR_KEY_ID"] = "AKIAMARKERKEY"
    code, out, err = cli("plan")
    assert "ASIA" not in err and "value-changed" in out


def test_a_token_that_lapses_within_the_hour_is_never_written(
    ecr: Cli, ecr_expiry: EcrExpiry
) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=30)
    ecr_expiry.at = soon
    ecr.write_config(ECR_CONFIG.replace("[ACR, ECR]", "[ECR]"))
    refused = (
        f"ECR authorization token ({ACCOUNT}, {REGION}): AWS returned a token that expires at "
        f"{soon.isoformat(timespec='seconds')}, less than 1h from now; not written"
    )
    code, out, err = ecr("plan")
    assert code == 1 and refused in err, err
    code, out, err = ecr.apply()
    assert code == 1 and refused in err, err
    # Nothing is written anywhere: a registry's three secrets are written together.
    assert ecr.gh.secrets() == {}
    assert [path for _, path in writes(ecr) if path.endswith(TOKEN)] == []
    assert "auth-token" not in out + err

    # A scheduled rotation that gets a lapsing token keeps the working one in place.
    ecr_expiry.at = datetime.now(UTC) + timedelta(hours=12)
    assert ecr.apply()[0] == 0
    before = ecr.gh.secrets()
    age(ecr, TOKEN, timedelta(hours=7))
    ecr_expiry.at = soon
    ecr.reset_log()
    code, out, err = ecr.apply("--registry", "ECR")
    assert code == 1 and refused in err, err
    assert writes(ecr) == []
    after = ecr.gh.secrets()
    assert {k: v["value"] for k, v in after.items()} == {k: v["value"] for k, v in before.items()}


def test_the_recorded_expiry_is_kept_and_makes_the_token_due_before_it_lapses(
    ecr: Cli, ecr_expiry: EcrExpiry
) -> None:
    ecr_expiry.at = datetime.now(UTC) + timedelta(hours=3)  # fresh enough to be written
    assert ecr.apply()[0] == 0
    entries = ecr.state_entries()
    recorded = {e["secret"]: e.get("expires_at") for e in entries if e["target"] == "octo-org"}
    assert abs(datetime.fromisoformat(recorded[TOKEN]) - ecr_expiry.at) < timedelta(seconds=1)
    assert recorded["ACR_CONTAINER_REGISTRY_PASSWORD"] is None
    # Young (minutes old, rotate_after 6h) and 3 h from expiry: nothing to do.
    assert ecr("plan", "--detailed-exitcode")[0] == 0
    # The recorded expiry comes within the hour: due, though the token is young.
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    ecr.edit_state(lambda e: e.update(expires_at=soon) if e["secret"] == TOKEN else None)
    code, out, err = ecr("plan", "--json")
    due = {(c["target"], c["secret"]) for c in json.loads(out)["changes"]}
    assert due == {(target, TOKEN) for _, target in TARGETS}
    code, out, err = ecr("status", "--json")
    rows = json.loads(out)["targets"]
    org = next(t for t in rows if t["target"] == "octo-org")
    ecr_row = next(r for r in org["registries"] if r["registry"] == "ECR")
    assert ecr_row["rotation"]["status"] == "due"
    assert ecr_row["secrets"][-1]["expires_at"] == soon
    # Past the recorded expiry: expired.
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    ecr.edit_state(lambda e: e.update(expires_at=past) if e["secret"] == TOKEN else None)
    code, out, err = ecr("status", "--json", "--fail-on-stale")
    assert code == 1
    org = next(t for t in json.loads(out)["targets"] if t["target"] == "octo-org")
    assert next(r for r in org["registries"] if r["registry"] == "ECR")["rotation"]["status"] == (
        "expired"
    )


def test_status_text_names_a_recorded_expiry(ecr: Cli, ecr_expiry: EcrExpiry) -> None:
    assert ecr.apply()[0] == 0
    soon = datetime.now(UTC) + timedelta(minutes=30)
    ecr.edit_state(
        lambda e: e.update(expires_at=soon.isoformat()) if e["secret"] == TOKEN else None
    )
    code, out, err = ecr("status")
    assert f"due: expires at {soon.strftime('%Y-%m-%d %H:%M')} UTC" in out, out
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    ecr.edit_state(lambda e: e.update(expires_at=past) if e["secret"] == TOKEN else None)
    code, out, err = ecr("status")
    assert "expired at " in out, out
