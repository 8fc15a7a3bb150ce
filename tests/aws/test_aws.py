"""The AWS module: moto in-process for the happy paths, botocore Stubber for the edges."""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from provisioner.config import SecretsManagerSource, SsmSource
from provisioner.errors import SourceError
from provisioner.sources import EcrTokenPart, Resolver
from provisioner.sources.aws import Aws
from tests.aws.conftest import ACCOUNT, REGION, EcrExpiry

OTHER = "210987654321"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def resolver(tmp_path: Path, aws: Aws | None = None) -> Resolver:
    return Resolver(tmp_path, {}, readers=(aws or Aws()).readers())


# -- moto: Secrets Manager, SSM, ECR token --------------------------------------------------


def test_secrets_manager_string_and_key(tmp_path: Path, moto: None) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    pair = {"access_key_id": "AKIA-MARKER", "secret_access_key": "sk-MARKER"}
    sm.create_secret(Name="prod/ecr", SecretString=json.dumps(pair))
    sm.create_secret(Name="plain", SecretString="tok-MARKER")
    r = resolver(tmp_path)
    key = SecretsManagerSource(aws_secretsmanager="prod/ecr", key="secret_access_key")
    assert r.resolve(key).reveal() == "sk-MARKER"
    assert r.resolve(SecretsManagerSource(aws_secretsmanager="plain")).reveal() == "tok-MARKER"
    with pytest.raises(SourceError, match="no key 'nope'"):
        r.resolve(SecretsManagerSource(aws_secretsmanager="prod/ecr", key="nope"))


def test_secrets_manager_errors_name_source_and_code(tmp_path: Path, moto: None) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="bin", SecretBinary=b"\x00MARKER")
    r = resolver(tmp_path)
    with pytest.raises(SourceError) as e:
        r.resolve(SecretsManagerSource(aws_secretsmanager="bin"))
    assert str(e.value) == (
        "aws_secretsmanager bin (us-east-1): a binary secret (SecretBinary); "
        "store the value as a SecretString"
    )
    with pytest.raises(SourceError) as e:
        r.resolve(SecretsManagerSource(aws_secretsmanager="missing", region="eu-west-1"))
    message = str(e.value)
    assert message.startswith(
        "aws_secretsmanager missing (eu-west-1): AWS error ResourceNotFoundException"
    )
    assert "not found in this account and region" in message


def test_ssm_is_read_decrypted(tmp_path: Path, moto: None) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/ci/token", Value="ssm-MARKER", Type="SecureString")
    r = resolver(tmp_path)
    # Without WithDecryption moto answers "kms:alias/aws/ssm:<value>" (real AWS: ciphertext).
    assert r.resolve(SsmSource(aws_ssm="/ci/token")).reveal() == "ssm-MARKER"
    with pytest.raises(
        SourceError, match=r"aws_ssm /nope \(us-east-1\): AWS error ParameterNotFound"
    ):
        r.resolve(SsmSource(aws_ssm="/nope"))


def test_ecr_token_parts(
    tmp_path: Path, moto: None, aws_calls: Counter[str], ecr_expiry: EcrExpiry
) -> None:
    aws = Aws()
    r = resolver(tmp_path, aws)
    # SERVER is derived from account and region: no token is fetched to compare it.
    server = EcrTokenPart(REGION, None, "SERVER")
    assert r.resolve(server).reveal() == HOST
    assert aws_calls["ecr.GetAuthorizationToken"] == 0
    assert aws_calls["sts.GetCallerIdentity"] == 1
    password = EcrTokenPart(REGION, None, "PASSWORD")
    assert r.expires_at(password) is None  # not read yet
    assert r.resolve(password).reveal() == f"{ACCOUNT}-auth-token"
    # The token of the same (account, region) is fetched once, however it is named.
    same = EcrTokenPart(None, ACCOUNT, "PASSWORD")  # default region, explicit account
    assert r.resolve(same).reveal() == f"{ACCOUNT}-auth-token"
    assert aws_calls["ecr.GetAuthorizationToken"] == 1
    assert aws_calls["sts.GetCallerIdentity"] == 1
    # The run learns when the token it read lapses (the state records it).
    assert r.expires_at(password) == r.expires_at(same) == ecr_expiry.at
    assert r.expires_at(server) is None


def test_a_12_hour_token_is_accepted_and_its_expiry_known(
    tmp_path: Path, moto: None, ecr_expiry: EcrExpiry
) -> None:
    ecr_expiry.at = datetime.now(UTC) + timedelta(hours=12)
    r = resolver(tmp_path)
    password = EcrTokenPart(REGION, ACCOUNT, "PASSWORD")
    assert r.resolve(password).reveal() == f"{ACCOUNT}-auth-token"
    expires = r.expires_at(password)
    assert expires == ecr_expiry.at and expires is not None and expires.tzinfo is not None
    r.resolve(user := EcrTokenPart(REGION, ACCOUNT, "USER"))
    assert r.expires_at(user) is None


@pytest.mark.parametrize("left", [timedelta(minutes=30), None])
def test_a_token_about_to_lapse_is_refused(
    tmp_path: Path, moto: None, ecr_expiry: EcrExpiry, left: timedelta | None
) -> None:
    """30 minutes left, and moto's own answer (2015-01-01): both refused, naming the expiry."""
    ecr_expiry.at = None if left is None else datetime.now(UTC) + left
    r = resolver(tmp_path)
    password = EcrTokenPart(REGION, ACCOUNT, "PASSWORD")
    with pytest.raises(SourceError) as e:
        r.resolve(password)
    expected = (ecr_expiry.at or datetime(2015, 1, 1, tzinfo=UTC)).isoformat(timespec="seconds")
    assert str(e.value) == (
        f"ECR authorization token ({ACCOUNT}, {REGION}): AWS returned a token that expires at "
        f"{expected}, less than 1h from now; not written"
    )
    assert "auth-token" not in str(e.value)
    assert r.expires_at(password) is None


def test_ecr_token_for_a_registry_id_asks_for_that_registry(
    tmp_path: Path, moto: None, aws_calls: Counter[str], ecr_expiry: EcrExpiry
) -> None:
    r = resolver(tmp_path)
    # moto mints "<registryId>-auth-token": the password proves registryIds was sent.
    assert r.resolve(EcrTokenPart("eu-west-1", OTHER, "PASSWORD")).reveal() == f"{OTHER}-auth-token"
    assert r.resolve(EcrTokenPart("eu-west-1", OTHER, "SERVER")).reveal() == (
        f"{OTHER}.dkr.ecr.eu-west-1.amazonaws.com"
    )
    assert aws_calls["sts.GetCallerIdentity"] == 0  # the account is known


def test_clients_are_created_once_per_service_and_region(
    tmp_path: Path, moto: None, aws_calls: Counter[str]
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/a", Value="1", Type="String")
    ssm.put_parameter(Name="/b", Value="2", Type="String")
    boto3.client("ssm", region_name="eu-west-1").put_parameter(Name="/a", Value="3", Type="String")
    r = resolver(tmp_path)
    for name, region in [("/a", None), ("/b", None), ("/a", REGION), ("/a", "eu-west-1")]:
        r.resolve(SsmSource(aws_ssm=name, region=region))
    assert aws_calls["client ssm us-east-1"] == 1
    assert aws_calls["client ssm eu-west-1"] == 1
    assert aws_calls["ssm.GetParameter"] == 4


def test_no_region_anywhere_is_a_clear_error(
    tmp_path: Path, moto: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(SourceError, match=r"aws_ssm /x: no AWS region: set 'region:'"):
        resolver(tmp_path).resolve(SsmSource(aws_ssm="/x"))


# -- Stubber: future expiry, errors, malformed answers --------------------------------------


NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def stubbed(service: str, region: str = REGION, now: datetime | None = None) -> tuple[Aws, Stubber]:
    client = boto3.client(service, region_name=region)
    stub = Stubber(client)
    stub.activate()
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    return Aws(client_factory=lambda s, r: client, now=clock), stub


def token_answer(token: str, expires: datetime, endpoint: str = f"https://{HOST}") -> Any:
    encoded = base64.b64encode(token.encode()).decode()
    return {
        "authorizationData": [
            {"authorizationToken": encoded, "expiresAt": expires, "proxyEndpoint": endpoint}
        ]
    }


def test_token_with_a_future_expiry_and_a_colon_in_the_password() -> None:
    aws, stub = stubbed("ecr")
    expires = datetime.now(UTC) + timedelta(hours=12)
    stub.add_response(
        "get_authorization_token",
        token_answer("AWS:pass:with:colons-MARKER", expires),
        expected_params={"registryIds": [ACCOUNT]},
    )
    token = aws.ecr_token(EcrTokenPart(REGION, ACCOUNT, "PASSWORD"))
    stub.assert_no_pending_responses()
    assert token.server == HOST
    assert token.password.reveal() == "pass:with:colons-MARKER"  # split on the first ':'
    assert token.expires_at == expires and token.expires_at.tzinfo is not None
    assert "MARKER" not in repr(token)


@pytest.mark.parametrize(
    ("left", "accepted"),
    [
        (timedelta(hours=12), True),
        (timedelta(hours=1), True),  # exactly the hour: still accepted
        (timedelta(minutes=59, seconds=59), False),
        (timedelta(minutes=30), False),
        (timedelta(0), False),
        (-timedelta(days=1), False),  # already expired
    ],
)
def test_token_life_left_truth_table(left: timedelta, accepted: bool) -> None:
    aws, stub = stubbed("ecr", now=NOW)
    stub.add_response("get_authorization_token", token_answer("AWS:pw-MARKER", NOW + left))
    part = EcrTokenPart(REGION, ACCOUNT, "PASSWORD")
    if accepted:
        assert aws.ecr_token(part).expires_at == NOW + left
        return
    with pytest.raises(SourceError) as e:
        aws.ecr_token(part)
    expires = (NOW + left).isoformat()
    assert str(e.value) == (
        f"ECR authorization token ({ACCOUNT}, {REGION}): AWS returned a token that expires at "
        f"{expires}, less than 1h from now; not written"
    )
    assert "MARKER" not in str(e.value)


def test_a_token_without_expiry_is_accepted_and_a_naive_one_is_utc(tmp_path: Path) -> None:
    aws, stub = stubbed("ecr", now=NOW)
    answer = token_answer("AWS:pw-MARKER", NOW)
    del answer["authorizationData"][0]["expiresAt"]
    stub.add_response("get_authorization_token", answer)
    r = resolver(tmp_path, aws)
    password = EcrTokenPart(REGION, ACCOUNT, "PASSWORD")
    assert r.resolve(password).reveal() == "pw-MARKER"
    assert r.expires_at(password) is None  # no expiry known
    # A naive expiresAt is read as UTC (botocore itself always answers aware datetimes).
    aws, stub = stubbed("ecr", now=NOW)
    naive = (NOW + timedelta(minutes=10)).replace(tzinfo=None)
    stub.add_response("get_authorization_token", token_answer("AWS:pw-MARKER", naive))
    with pytest.raises(SourceError, match=r"expires at 2025-06-01T12:10:00\+00:00"):
        aws.ecr_token(password)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (
            "AccessDeniedException",
            400,
            "AWS error AccessDeniedException (the AWS identity lacks the IAM permission for "
            "this call; User: arn:aws:sts::123456789012:assumed-role/ci is not authorized)",
        ),
        (
            "ThrottlingException",
            400,
            "AWS error ThrottlingException (AWS throttled the requests (retried, then gave up); "
            "Rate exceeded)",
        ),
    ],
)
def test_token_errors_name_the_source_and_the_code(code: str, status: int, expected: str) -> None:
    aws, stub = stubbed("ecr")
    message = (
        "Rate exceeded"
        if "Throttl" in code
        else ("User: arn:aws:sts::123456789012:assumed-role/ci is not authorized")
    )
    stub.add_client_error("get_authorization_token", code, message, status)
    part = EcrTokenPart(REGION, ACCOUNT, "PASSWORD")
    with pytest.raises(SourceError) as e:
        aws.ecr_token(part)
    assert str(e.value) == f"ECR authorization token ({ACCOUNT}, {REGION}): {expected}"
    # The failure is remembered: other targets sharing the token do not call AWS again.
    with pytest.raises(SourceError):
        aws.ecr_token(part)
    stub.assert_no_pending_responses()


def test_secrets_manager_access_denied() -> None:
    aws, stub = stubbed("secretsmanager")
    stub.add_client_error("get_secret_value", "AccessDeniedException", "not authorized", 400)
    with pytest.raises(SourceError) as e:
        aws.secret_string(SecretsManagerSource(aws_secretsmanager="prod/ecr"))
    assert str(e.value).startswith(
        "aws_secretsmanager prod/ecr (us-east-1): AWS error AccessDeniedException"
    )


@pytest.mark.parametrize(
    ("token", "endpoint", "error"),
    [
        ("not base64!", None, "the token is not base64 'user:password'"),
        ("nocolon-MARKER", None, "does not decode to 'AWS:<password>'"),
        ("someone:pw-MARKER", None, "does not decode to 'AWS:<password>'"),
        (
            "AWS:pw-MARKER",
            f"https://{OTHER}.dkr.ecr.{REGION}.amazonaws.com",
            "ECR names the registry",
        ),
    ],
)
def test_malformed_tokens_are_clear_errors_without_the_value(
    token: str, endpoint: str | None, error: str
) -> None:
    aws, stub = stubbed("ecr")
    fresh = datetime.now(UTC) + timedelta(hours=12)
    answer = token_answer(token, fresh, endpoint or f"https://{HOST}")
    if token == "not base64!":
        answer["authorizationData"][0]["authorizationToken"] = token
    stub.add_response("get_authorization_token", answer)
    with pytest.raises(SourceError, match=error) as e:
        aws.ecr_token(EcrTokenPart(REGION, ACCOUNT, "PASSWORD"))
    assert "MARKER" not in str(e.value) and "pw-" not in str(e.value)


# -- an empty value is an error, from AWS too -----------------------------------------------


def test_empty_secrets_manager_values_are_errors(tmp_path: Path, moto: None) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="pair", SecretString=json.dumps({"id": "AKIA", "secret": ""}))
    sm.create_secret(Name="blank", SecretString=" \n")
    r = resolver(tmp_path)
    with pytest.raises(SourceError) as e:
        r.resolve(SecretsManagerSource(aws_secretsmanager="pair", key="secret"))
    assert str(e.value) == "aws_secretsmanager pair key 'secret': the value is empty"
    with pytest.raises(SourceError) as e:
        r.resolve(SecretsManagerSource(aws_secretsmanager="blank"))
    assert str(e.value) == "aws_secretsmanager blank: the value is whitespace only"
    # The other key of the same secret is fine.
    assert r.resolve(SecretsManagerSource(aws_secretsmanager="pair", key="id")).reveal() == "AKIA"


def test_a_whitespace_ssm_parameter_is_an_error(tmp_path: Path) -> None:
    aws, stub = stubbed("ssm")
    stub.add_response("get_parameter", {"Parameter": {"Name": "/ci/token", "Value": "  "}})
    with pytest.raises(SourceError) as e:
        resolver(tmp_path, aws).resolve(SsmSource(aws_ssm="/ci/token"))
    assert str(e.value) == "aws_ssm /ci/token: the value is whitespace only"


def test_a_whitespace_ecr_token_password_is_an_error(tmp_path: Path) -> None:
    aws, stub = stubbed("ecr")
    fresh = datetime.now(UTC) + timedelta(hours=12)
    stub.add_response("get_authorization_token", token_answer("AWS:  ", fresh))
    with pytest.raises(SourceError) as e:
        resolver(tmp_path, aws).resolve(EcrTokenPart(REGION, ACCOUNT, "PASSWORD"))
    assert str(e.value) == "ECR authorization token (us-east-1): the value is whitespace only"
