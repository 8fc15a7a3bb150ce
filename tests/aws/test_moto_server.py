"""The one end-to-end run against a real HTTP AWS: moto_server on loopback via AWS_ENDPOINT_URL.

Also: boto3 is imported only when a config uses AWS (checked in fresh interpreters).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import boto3
import pytest

from tests.aws.conftest import ACCOUNT, REGION, EcrExpiry
from tests.support.e2e import CONFIG as PLAIN_CONFIG
from tests.support.e2e import Cli

AWS_CONFIG = """\
version: 1
registries:
  ECR:
    ecr: {mode: token}
  ECR_KEYS:
    ecr: {mode: swap}
    server: 123456789012.dkr.ecr.us-east-1.amazonaws.com
    username: {aws_secretsmanager: prod/codespaces-ecr, key: access_key_id}
    password: {aws_secretsmanager: prod/codespaces-ecr, key: secret_access_key}
  HUB:
    server: https://index.docker.io/v1/
    username: hubber
    password: {aws_ssm: /ci/dockerhub-token}
targets:
  - org: octo-org
    registries: [ECR, ECR_KEYS]
    repositories: [api]
  - repository: octo-org/legacy
    registries: [ECR, HUB]
"""


def seed(url: str) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=url)
    pair = {"access_key_id": "AKIAMARKERKEY", "secret_access_key": "sk-MARKER-1"}
    sm.create_secret(Name="prod/codespaces-ecr", SecretString=json.dumps(pair))
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=url)
    ssm.put_parameter(Name="/ci/dockerhub-token", Value="dckr-MARKER-2", Type="SecureString")


def test_cli_against_moto_server_through_aws_endpoint_url(
    cli: Cli, moto_server: str, aws_calls: Counter[str], ecr_expiry: EcrExpiry
) -> None:
    seed(moto_server)
    cli.write_config(AWS_CONFIG)
    cli.env["AWS_ENDPOINT_URL"] = moto_server
    code, out, err = cli.apply()
    assert code == 0, err
    assert "Apply: 12 done, 0 failed, 0 not attempted." in out
    secrets = cli.gh.secrets()
    host = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    for target in [("org", "octo-org"), ("repository", "octo-org/legacy")]:
        assert secrets[(*target, "ECR_CONTAINER_REGISTRY_SERVER")]["value"] == host
        assert secrets[(*target, "ECR_CONTAINER_REGISTRY_USER")]["value"] == "AWS"
        assert secrets[(*target, "ECR_CONTAINER_REGISTRY_PASSWORD")]["value"] == (
            f"{ACCOUNT}-auth-token"
        )
    org = ("org", "octo-org")
    assert secrets[(*org, "ECR_KEYS_CONTAINER_REGISTRY_USER")]["value"] == "AKIAMARKERKEY"
    assert secrets[(*org, "ECR_KEYS_CONTAINER_REGISTRY_PASSWORD")]["value"] == "sk-MARKER-1"
    legacy = ("repository", "octo-org/legacy")
    assert secrets[(*legacy, "HUB_CONTAINER_REGISTRY_PASSWORD")]["value"] == "dckr-MARKER-2"
    # One token for both targets; one secret read for both of its keys; one of each client.
    assert aws_calls["ecr.GetAuthorizationToken"] == 1
    assert aws_calls["secretsmanager.GetSecretValue"] == 1
    assert aws_calls["ssm.GetParameter"] == 1
    assert all(n == 1 for k, n in aws_calls.items() if k.startswith("client "))
    assert "MARKER" not in out + err

    aws_calls.clear()
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    assert aws_calls["ecr.GetAuthorizationToken"] == 0

    # An AWS error names the source and AWS's code, and fails only what needs the value.
    boto3.client("ssm", region_name=REGION, endpoint_url=moto_server).delete_parameter(
        Name="/ci/dockerhub-token"
    )
    code, out, err = cli("plan")
    assert code == 1
    assert "aws_ssm /ci/dockerhub-token (us-east-1): AWS error ParameterNotFound" in err


PROBE = """\
import json, sys
from provisioner.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    print(json.dumps([code, "boto3" in sys.modules]))
"""


def probe(*runs: list[str], env: dict[str, str]) -> list[list[object]]:
    """Run CLI commands in one fresh interpreter: each exit code and whether boto3 was loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(runs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    return [json.loads(line) for line in lines]


def test_boto3_is_imported_only_when_a_config_uses_aws(
    cli: Cli, moto_server: str, tmp_path: Path
) -> None:
    seed(moto_server)
    aws_config = tmp_path / "aws.yaml"
    aws_config.write_text(AWS_CONFIG)
    plain = tmp_path / "team.yaml"
    plain.write_text(PLAIN_CONFIG)
    (tmp_path / "hub-token").write_text("hub-MARKER")
    env = {**os.environ, **cli.env, "AWS_ENDPOINT_URL": moto_server}
    api = ["--api-url", cli.gh.sandbox.url, "--state", str(tmp_path / "s.json")]
    version = ["--version"]
    validate = ["validate", str(aws_config)]
    plan_plain = ["plan", str(plain), *api]
    # HUB's password is in SSM: AWS is used, and no ECR token (moto's are always expired).
    plan_aws = ["plan", str(aws_config), *api, "--registry", "HUB"]
    # In order, in one interpreter: the last run is the control that sees boto3 arrive.
    assert probe(version, validate, plan_plain, plan_aws, env=env) == [
        [0, False],
        [0, False],
        [0, False],
        [0, True],
    ]


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_registry_host_follows_the_partition(region: str) -> None:
    from provisioner.sources.aws import Aws

    suffix = {"cn-north-1": "amazonaws.com.cn", "us-gov-west-1": "amazonaws.com"}[region]
    assert Aws().registry_host(ACCOUNT, region) == f"{ACCOUNT}.dkr.ecr.{region}.{suffix}"
