"""A no-op plan with the state on S3 reads each configured target's shard once, in parallel.

Counted at the one client seam (:meth:`Aws.make_client`) with botocore's events, against
moto's server on loopback; each GetObject is slowed in the client so that reads one after
the other could not pass for reads at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import boto3
import pytest

from provisioner.domain import TargetRef
from provisioner.github.client import GitHubClient
from provisioner.sources.aws import Aws
from tests.support.e2e import Cli

BUCKET = "acme-provision"
URL = f"s3://{BUCKET}/reads/"
SHARDS = {
    "reads/org/octo-org.json",
    "reads/repository/octo-org%2Flegacy.json",
    "reads/user/octocat.json",
}
SLOW = 0.3  # seconds each GetObject waits before it is sent


class Reads:
    """Every GetObject by key, and when each was in flight."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._started = threading.local()

    def before(self, params: dict[str, Any], **_: Any) -> None:
        self._started.at = time.monotonic()
        time.sleep(SLOW)
        with self._lock:
            self.keys[params["Key"]] += 1

    def after(self, **_: Any) -> None:
        with self._lock:
            self.spans.append((self._started.at, time.monotonic()))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen = Reads()
    original = Aws.make_client

    def hooked(self: Aws, service: str, region: str, **credentials: Any) -> Any:
        client = original(self, service, region, **credentials)
        if service == "s3":
            client.meta.events.register("before-parameter-build.s3.GetObject", seen.before)
            client.meta.events.register("after-call.s3.GetObject", seen.after)
        return client

    monkeypatch.setattr(Aws, "make_client", hooked)
    return seen


def test_a_no_op_plan_reads_each_shard_once_and_all_at_once(
    cli: Cli, moto_server: str, reads: Reads
) -> None:
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server).create_bucket(
        Bucket=BUCKET
    )
    cli.state = URL  # type: ignore[assignment]
    cli.env["AWS_ENDPOINT_URL"] = moto_server
    code, out, err = cli.apply()
    assert code == 0, err
    reads.keys.clear()
    reads.spans.clear()
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    assert reads.keys == Counter(dict.fromkeys(SHARDS, 1))  # one per configured target
    # In parallel: every read was in flight at one moment (one after the other, the last
    # would start only after the first had ended).
    assert max(start for start, _ in reads.spans) < min(end for _, end in reads.spans)


def test_the_shard_reads_run_beside_the_github_reads(
    cli: Cli, moto_server: str, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server).create_bucket(
        Bucket=BUCKET
    )
    cli.state = URL  # type: ignore[assignment]
    cli.env["AWS_ENDPOINT_URL"] = moto_server
    assert cli.apply()[0] == 0
    reads.spans.clear()
    listed: list[float] = []
    original = GitHubClient.list_secrets

    def timed(self: GitHubClient, target: TargetRef) -> Any:
        listed.append(time.monotonic())
        return original(self, target)

    monkeypatch.setattr(GitHubClient, "list_secrets", timed)
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    # GitHub was first read while the shard reads (each held 0.3 s) were still in flight;
    # reading the state first, every list would come after the last shard read.
    assert min(listed) < max(end for _, end in reads.spans)
