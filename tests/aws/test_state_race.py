"""Several ``apply`` processes racing on one target's shard: one writer at a time, then none.

Four real ``python -m provisioner apply`` processes start at once on the same config (so the
same shards), against a sandbox slow enough that their runs overlap, with ``--lock-timeout
60`` so that each waits for the others instead of failing. The state is on S3 (moto's server
on loopback, the test's own process) or in a local folder (an OS lock per shard).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import boto3
import pytest

from tests.faults.conftest import Key, held, recorded, spawn_apply, successful_puts
from tests.support.e2e import Cli

BUCKET = "acme-provision"
URL = f"s3://{BUCKET}/race/"
RUNS = 4
LATENCY = 0.1  # per sandbox request: a run holds its locks for a second or two


@dataclass(frozen=True)
class Event:
    """One change moto applied to the bucket: a lock taken or dropped, or a shard written."""

    at: float
    kind: str  # "acquire" | "release" | "write"
    key: str  # the shard's key (a lock's without its ".lock")
    lock_id: str | None = None


@pytest.fixture
def s3_events(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Event]]:
    """What moto's backend (in this process, behind the loopback server) does to the bucket.

    Recorded where moto applies a request, after its condition checks: a lock's holder may
    believe it holds the lock only between its ``acquire`` and ``release`` events."""
    from moto.s3.models import S3Backend

    events: list[Event] = []
    guard = threading.Lock()
    put, delete = S3Backend.put_object, S3Backend.delete_object

    def record(event: Event) -> None:
        with guard:
            events.append(event)

    def put_object(self: Any, bucket_name: str, key_name: str, value: bytes, **kw: Any) -> Any:
        answer = put(self, bucket_name, key_name, value, **kw)
        if key_name.endswith(".lock"):
            lock_id = json.loads(value)["lock_id"]
            record(Event(time.monotonic(), "acquire", key_name[: -len(".lock")], lock_id))
        elif key_name.endswith(".json"):
            record(Event(time.monotonic(), "write", key_name))
        return answer

    def delete_object(self: Any, bucket_name: str, key_name: str, *a: Any, **kw: Any) -> Any:
        lock_id = None
        if key_name.endswith(".lock"):
            current = self.get_object(bucket_name, key_name)
            lock_id = json.loads(current.value)["lock_id"] if current else None
        answer = delete(self, bucket_name, key_name, *a, **kw)
        if lock_id is not None:
            record(Event(time.monotonic(), "release", key_name[: -len(".lock")], lock_id))
        return answer

    monkeypatch.setattr(S3Backend, "put_object", put_object)
    monkeypatch.setattr(S3Backend, "delete_object", delete_object)
    yield events


def _race(cli: Cli) -> list[tuple[int, str, str]]:
    """Start RUNS applies at once; (exit code, stdout, stderr) of each."""
    cli.gh.admin("POST", "faults", {"latency": LATENCY})
    processes = [spawn_apply(cli, "--lock-timeout", "60") for _ in range(RUNS)]
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=180)
            results.append((process.returncode, out, err))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    cli.gh.admin("POST", "faults", {"latency": 0})
    return results


def _assert_one_writer_then_none(cli: Cli, results: list[tuple[int, str, str]]) -> None:
    assert [code for code, _, _ in results] == [0] * RUNS, [err for _, _, err in results]
    # They did race: someone waited for a lock, saying once who held it.
    assert any("waiting up to 60s for the state lock held by" in err for _, _, err in results)
    # Under the locks, exactly one run wrote each secret (once); the others, reading GitHub
    # and the state after it had finished, found nothing to do.
    puts = successful_puts(cli)
    assert len(puts) == 9 and set(puts.values()) == {1}, puts
    assert sum("Apply: 9 done" in out for _, out, _ in results) == 1
    assert sum("No changes." in out for _, out, _ in results) == RUNS - 1


def _s3_recorded(client: Any) -> dict[Key, datetime]:
    """What the S3 state records: GitHub's updated_at by (scope, target, secret)."""
    found: dict[Key, datetime] = {}
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix="race/").get("Contents", []):
        assert item["Key"].endswith(".json"), item["Key"]  # every lock released
        document = json.loads(client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for e in document["secrets"]:
            found[(e["scope"], e["target"], e["secret"])] = datetime.fromisoformat(e["updated_at"])
    return found


def _assert_never_two_holders(events: list[Event]) -> None:
    """Per shard, the lock's holder periods (acquire to release) never overlap, every run
    held each shard once, and every shard write fell inside a holder's period."""
    shards = {e.key for e in events if e.kind == "acquire"}
    assert len(shards) == 3, shards  # the config's three targets
    for shard in shards:
        periods: dict[str, list[float]] = {}
        for e in events:
            if e.key == shard and e.kind in ("acquire", "release"):
                assert e.lock_id is not None
                periods.setdefault(e.lock_id, []).append(e.at)
        assert len(periods) == RUNS and all(len(p) == 2 for p in periods.values()), periods
        ordered = sorted((start, end) for start, end in periods.values())
        for (_, end), (start, _) in pairwise(ordered):
            assert end <= start, f"{shard}: two holders at once"
        for write in (e for e in events if e.key == shard and e.kind == "write"):
            assert any(start < write.at < end for start, end in ordered), f"{shard}: unlocked"


def test_concurrent_applies_on_s3_take_turns_and_the_state_matches_github(
    cli: Cli, moto_server: str, s3_events: list[Event]
) -> None:
    """RUNS applies on one shard with the state on S3: all succeed, one lock holder at a time.

    moto checks a request's condition and then puts, without a lock of its own: two requests
    arriving at the very same instant could both pass. So this test proves the protocol (an
    If-None-Match lock object per shard, held around the read and the writes, released with
    a conditional delete, the shard written If-Match), not S3's atomicity, which is AWS's
    promise and cannot be tested on loopback.
    """
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
    client.create_bucket(Bucket=BUCKET)
    cli.state = URL  # type: ignore[assignment]
    cli.env["AWS_ENDPOINT_URL"] = moto_server
    results = _race(cli)
    _assert_one_writer_then_none(cli, results)
    _assert_never_two_holders(s3_events)
    assert _s3_recorded(client) == held(cli)


def test_concurrent_applies_on_a_local_state_take_turns_and_the_state_matches_github(
    cli: Cli,
) -> None:
    """The same race with the state in a local folder: an OS lock per shard."""
    results = _race(cli)
    _assert_one_writer_then_none(cli, results)
    assert recorded(cli) == held(cli)
    assert not list(cli.state.rglob("*.lock.holder"))  # every holder's name removed
