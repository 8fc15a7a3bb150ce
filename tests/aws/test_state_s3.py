"""The state on S3 (moto's server on loopback): per-shard lock objects, conditional writes.

moto checks a condition and then puts without a lock of its own: these tests prove the
protocol (If-None-Match locks, If-Match writes, conditional deletes), not S3's atomicity.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from provisioner import state
from provisioner.domain import TargetRef
from provisioner.errors import StateError
from provisioner.state.s3 import S3Backend
from tests.support.e2e import ACR_PASSWORD, Cli

BUCKET = "acme-provision"
URL = f"s3://{BUCKET}/registries/"
ORG = TargetRef("org", "octo-org")


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
    client.create_bucket(Bucket=BUCKET)
    return client


def _keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_apply_and_plan_with_the_state_on_s3(cli: Cli, s3: Any, moto_server: str) -> None:
    cli.state = URL  # type: ignore[assignment]
    cli.env["AWS_ENDPOINT_URL"] = moto_server
    code, out, err = cli.apply()
    assert code == 0, err
    keys = _keys(s3)
    assert keys == [
        "registries/org/octo-org.json",
        "registries/repository/octo-org%2Flegacy.json",
        "registries/user/octocat.json",
    ]  # one shard per target, and every lock released
    text = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read().decode()
    assert ACR_PASSWORD not in text and json.loads(text)["config"] == "team"
    assert cli("plan", "--detailed-exitcode")[0] == 0


def test_a_held_lock_names_its_holder_and_unlock_needs_its_id(cli: Cli, s3: Any) -> None:
    cli.state = URL  # type: ignore[assignment]
    holder = state.Store(S3Backend.open(URL), "team")
    with holder.locked([ORG]) as me:
        lock = s3.get_object(Bucket=BUCKET, Key="registries/org/octo-org.json.lock")
        assert json.loads(lock["Body"].read())["lock_id"] == me.lock_id
        other = state.Store(S3Backend.open(URL), "team", unlock_hint="provision state unlock X")
        said: list[str] = []
        with (
            pytest.raises(StateError, match="still locked by") as e,
            other.locked([ORG], 0.6, notify=said.append),
        ):
            pass
        assert f"provision state unlock X {me.lock_id}" in str(e.value)
        assert len(said) == 1 and me.describe() in said[0]
        # Other targets' shards are free.
        with other.locked([TargetRef("org", "else")]):
            pass
        with pytest.raises(StateError, match="no lock with ID wrong"):
            other.backend.force_unlock("org/octo-org.json", "wrong")
    assert "registries/org/octo-org.json.lock" not in _keys(s3)


def test_a_broken_lock_never_overwrites_a_newer_state(cli: Cli, s3: Any) -> None:
    from datetime import UTC, datetime

    from provisioner.domain import StateEntry

    entry = StateEntry(None, datetime(2026, 1, 1, tzinfo=UTC), "ACR")
    key = (ORG, "ACR_CONTAINER_REGISTRY_USER")
    first = state.Store(S3Backend.open(URL), "team")
    with first.locked([ORG]) as me:
        first.read([ORG])
        # The run seems dead: someone breaks its lock, and a second run writes.
        first.backend.force_unlock("org/octo-org.json", me.lock_id)
        second = state.Store(S3Backend.open(URL), "team")
        with second.locked([ORG]):
            second.read([ORG])
            second.save({key: entry})
            # The first run, still alive, saves: If-Match on the ETag it read fails.
            first.save({key: StateEntry(None, datetime(2025, 1, 1, tzinfo=UTC), "ACR")})
            assert len(first.conflicts) == 1
            assert "changed since this run read it" in first.conflicts[0]
            assert "lock broken" in first.conflicts[0]
        # Its release is conditional on its own lock's ETag: the second's lock was not
        # dropped by it (already released here by the second run itself).
    assert state.Store(S3Backend.open(URL), "team").read([ORG]) == {key: entry}


def test_409_conflicts_are_retried(monkeypatch: pytest.MonkeyPatch, s3: Any) -> None:
    from botocore.exceptions import ClientError

    backend = S3Backend.open(URL)
    real = backend._s3.put_object
    calls = []

    def flaky(**params: Any) -> Any:
        calls.append(1)
        if len(calls) < 3:
            error = {"Error": {"Code": "ConditionalRequestConflict", "Message": "retry"}}
            raise ClientError(error, "PutObject")
        return real(**params)

    monkeypatch.setattr(backend._s3, "put_object", flaky)
    monkeypatch.setattr("provisioner.state.s3.time.sleep", lambda _s: None)
    assert backend.write("org/x.json", "{}", None)
    assert len(calls) == 3
