"""doctor checks a swap-mode key pair as GitHub's exchange will: mint an ECR token, log in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from provisioner.config import load_config
from provisioner.doctor import checks as doctor
from provisioner.doctor.login import LoginResult
from provisioner.secret import SecretValue
from provisioner.sources import Resolver
from provisioner.sources.aws import Aws
from tests.aws.conftest import ACCOUNT, REGION

HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
KEY_ID = "AKIAKEYMARKER0000001"
SECRET = "swap-MARKER-secret-key"
CONFIG = f"""\
version: 1
registries:
  KEYS:
    ecr: {{mode: swap}}
    server: {HOST}
    username: {{env: KEY_ID}}
    password: {{env: SECRET_KEY}}
targets:
  - repository: octo-org/api
    registries: [KEYS]
"""


class Logins:
    """A stand-in registry: records what doctor logs in with, answers as told."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, server: str, user: SecretValue, password: SecretValue) -> LoginResult:
        self.calls.append((server, user.reveal(), password.reveal()))
        return LoginResult(
            self.ok, "registry says ok" if self.ok else "401", None if self.ok else 401
        )


def check(tmp_path: Path, aws: Aws, logins: Logins) -> doctor.Check:
    (tmp_path / "c.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "c.yaml")
    resolver = Resolver(tmp_path, {"KEY_ID": KEY_ID, "SECRET_KEY": SECRET})
    return doctor.registry_check("KEYS", config, resolver, logins, aws.swap_token)


def test_the_pair_mints_a_token_that_logs_in(tmp_path: Path, moto: None) -> None:
    logins = Logins()
    result = check(tmp_path, Aws(), logins)
    assert result.status == "ok", result
    ((server, user, password),) = logins.calls
    assert server == HOST and user == "AWS"
    assert password not in (SECRET, KEY_ID) and password  # the minted token, not the key
    assert "MARKER" not in f"{result}"


def test_the_client_uses_the_pair_not_the_runs_credentials(tmp_path: Path) -> None:
    made: list[dict[str, Any]] = []
    client = boto3.client("ecr", region_name=REGION)
    stub = Stubber(client)
    stub.add_client_error(
        "get_authorization_token",
        service_error_code="UnrecognizedClientException",
        service_message="The security token included in the request is invalid.",
        expected_params={"registryIds": [ACCOUNT]},
    )
    stub.activate()

    def factory(service: str, region: str, **credentials: Any) -> Any:
        made.append({"service": service, "region": region, **credentials})
        return client

    logins = Logins()
    result = check(tmp_path, Aws(client_factory=factory), logins)
    assert made == [
        {
            "service": "ecr",
            "region": REGION,
            "aws_access_key_id": KEY_ID,
            "aws_secret_access_key": SECRET,
            "aws_session_token": None,
        }
    ]
    assert result.status == "fail"
    assert "the key pair cannot get an ECR token" in result.message
    assert "UnrecognizedClientException" in result.message
    assert "MARKER" not in f"{result.message} {result.fix}"
    assert logins.calls == []


def test_a_wrong_registry_answer_fails(tmp_path: Path, moto: None) -> None:
    result = check(tmp_path, Aws(), Logins(ok=False))
    assert result.status == "fail" and "login failed" in result.message


@pytest.mark.parametrize("server", ["mycompany.azurecr.io", "public.ecr.aws"])
def test_not_an_ecr_host(server: str) -> None:
    with pytest.raises(Exception, match="not a private ECR registry host"):
        Aws().swap_token(SecretValue(KEY_ID), SecretValue(SECRET), server)
