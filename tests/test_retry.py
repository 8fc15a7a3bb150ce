"""The retry policy, against a scripted loopback server: what is retried, how long, and when not."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
from github.Auth import Token
from nacl.public import PrivateKey
from urllib3.util.retry import RequestHistory

from provisioner.domain import TargetRef
from provisioner.errors import GitHubError, UsageError
from provisioner.github.client import GitHubClient
from provisioner.github.retry import (
    BudgetedRetry,
    RetryPolicy,
    WaitBudget,
    WaitLimitExceeded,
    make_retry,
)
from provisioner.secret import SecretValue
from tests.support.stub_server import Reply, StubServer

FAST = RetryPolicy(floor=0.05, backoff=0.01, jitter=0.01, cap=1.0, max_wait=30.0)
ORG = TargetRef("org", "octo-org")
LIST = "/orgs/octo-org/codespaces/secrets"
KEY = "/orgs/octo-org/codespaces/secrets/public-key"
PUT = "/orgs/octo-org/codespaces/secrets/ACR_CONTAINER_REGISTRY_PASSWORD"
EMPTY = Reply(200, {"total_count": 0, "secrets": []})
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def client_for(url: str, policy: RetryPolicy = FAST, token: str = "ghp_test") -> GitHubClient:
    return GitHubClient(Token(token), url, write_interval=0, retry=make_retry(policy))


def public_key(key_id: str) -> Reply:
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    return Reply(200, {"key_id": key_id, "key": key})


def test_5xx_is_retried_then_succeeds(stub: StubServer) -> None:
    stub.route("GET", LIST, Reply(502, b"<html>Bad Gateway</html>"), Reply(503), EMPTY)
    assert client_for(stub.url).list_secrets(ORG) == {}
    assert stub.hits("GET", LIST) == 3


@pytest.mark.parametrize("status", [429, 403])
def test_retry_after_is_honoured(stub: StubServer, status: int) -> None:
    stub.route("GET", LIST, Reply(status, {"message": SECONDARY}, {"Retry-After": "1"}), EMPTY)
    start = time.monotonic()
    assert client_for(stub.url).list_secrets(ORG) == {}
    assert time.monotonic() - start >= 1.0
    assert stub.hits("GET", LIST) == 2


def test_secondary_limit_without_header_waits_at_least_the_floor(stub: StubServer) -> None:
    stub.route("GET", LIST, Reply(403, {"message": SECONDARY}), EMPTY)
    start = time.monotonic()
    client = client_for(stub.url, RetryPolicy(floor=0.4, backoff=0.01, jitter=0.0))
    assert client.list_secrets(ORG) == {}
    assert time.monotonic() - start >= 0.4
    assert stub.hits("GET", LIST) == 2


@pytest.mark.parametrize("status", [403, 429])
def test_primary_limit_waits_until_the_reset(stub: StubServer, status: int) -> None:
    reset = int(time.time()) + 1
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    limited = Reply(status, {"message": "API rate limit exceeded for user ID 1."}, headers)
    stub.route("GET", LIST, limited, EMPTY)
    assert client_for(stub.url).list_secrets(ORG) == {}
    assert time.time() >= reset  # never retried before x-ratelimit-reset
    assert stub.hits("GET", LIST) == 2


def test_primary_limit_beyond_max_wait_stops_with_the_reset_time(stub: StubServer) -> None:
    reset = int(time.time()) + 3600
    headers = {
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset),
        "X-RateLimit-Limit": "5000",
    }
    stub.route("GET", LIST, Reply(403, {"message": "API rate limit exceeded"}, headers))
    start = time.monotonic()
    with pytest.raises(GitHubError) as info:
        client_for(stub.url, RetryPolicy(floor=0.05, max_wait=60)).list_secrets(ORG)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert message.startswith("org:octo-org: GET /orgs/octo-org/codespaces/secrets: ")
    assert "primary rate limit (5000 core requests per hour) resets at" in message
    assert time.strftime("%H:%M", time.gmtime(reset)) in message
    assert "exceed --max-wait 60s" in message
    assert "\n" not in message
    assert stub.hits("GET", LIST) == 1


def test_the_wait_budget_is_shared_by_the_whole_run(stub: StubServer) -> None:
    limited = Reply(429, {"message": SECONDARY}, {"Retry-After": "1"})
    stub.route("GET", LIST, limited, EMPTY, limited, EMPTY)
    client = client_for(stub.url, RetryPolicy(floor=0.05, max_wait=1.5))
    assert client.list_secrets(ORG) == {}  # waits 1 s of the 1.5 s
    with pytest.raises(GitHubError, match=r"Retry-After 1s.*exceed --max-wait 1\.5s"):
        client.list_secrets(ORG)


def test_repeated_5xx_gives_up_naming_target_status_and_retries(stub: StubServer) -> None:
    stub.route("PUT", PUT, Reply(502, b"<html>Bad Gateway</html>"))
    stub.route("GET", KEY, public_key("1"))
    client = client_for(stub.url, RetryPolicy(retries=3, floor=0.01, backoff=0.01, jitter=0))
    with pytest.raises(GitHubError) as info:
        client.put_secret(ORG, "ACR_CONTAINER_REGISTRY_PASSWORD", SecretValue("v"), "all")
    assert str(info.value) == f"org:octo-org: PUT {PUT}: 502 (after 3 retries)"
    assert stub.hits("PUT", PUT) == 4


def test_permission_denied_and_not_found_are_not_retried(stub: StubServer) -> None:
    stub.route(
        "GET",
        LIST,
        Reply(403, {"message": "Must have admin rights to Organization."}, {"X-OAuth-Scopes": ""}),
    )
    with pytest.raises(GitHubError) as info:
        client_for(stub.url).list_secrets(ORG)
    assert str(info.value) == (
        "org:octo-org: permission denied: the token lacks the admin:org scope "
        "(as an organization owner); its scopes: none"
    )
    assert stub.hits("GET", LIST) == 1
    stub.route("GET", KEY, Reply(404, {"message": "Not Found"}))
    with pytest.raises(GitHubError, match="no such organization, or not visible to this token"):
        client_for(stub.url).public_key(ORG)
    assert stub.hits("GET", KEY) == 1
    assert stub.hits("GET", "/orgs/octo-org") == 1  # the unscripted org answers 404, unretried


def test_a_refused_connection_fails_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    start = time.monotonic()
    with pytest.raises(GitHubError, match=r"cannot reach http://127\.0\.0\.1:\d+: ConnectionError"):
        client_for(f"http://127.0.0.1:{port}").list_secrets(ORG)
    assert time.monotonic() - start < 10


def test_a_rotated_key_is_fetched_again_once(stub: StubServer) -> None:
    stale = Reply(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "Secret", "field": "key_id", "code": "invalid"}],
        },
    )
    stub.route("GET", KEY, public_key("old"), public_key("new"))
    stub.route("PUT", PUT, stale, Reply(201, {}))
    client = client_for(stub.url)
    client.put_secret(ORG, "ACR_CONTAINER_REGISTRY_PASSWORD", SecretValue("v"), "all")
    puts = [json.loads(s.body) for s in stub.log if s.method == "PUT"]
    assert [p["key_id"] for p in puts] == ["old", "new"]
    assert stub.hits("GET", KEY) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"message": "Validation Failed", "errors": [{"field": "visibility", "code": "invalid"}]},
        {"message": "monkey business: the key is wrong"},  # "key" alone is no key_id rejection
    ],
)
def test_other_422s_are_not_taken_for_a_rotated_key(stub: StubServer, answer: object) -> None:
    stub.route("GET", KEY, public_key("1"))
    stub.route("PUT", PUT, Reply(422, answer))
    with pytest.raises(GitHubError, match="422"):
        client_for(stub.url).put_secret(ORG, "ACR_CONTAINER_REGISTRY_PASSWORD", SecretValue("v"))
    assert (stub.hits("PUT", PUT), stub.hits("GET", KEY)) == (1, 1)


def test_a_key_rejected_twice_is_an_error(stub: StubServer) -> None:
    stub.route("GET", KEY, public_key("1"), public_key("2"))
    stub.route("PUT", PUT, Reply(422, {"message": "key_id 2 is not the current public key"}))
    with pytest.raises(GitHubError, match="rejected the key_id of a public key fetched just now"):
        client_for(stub.url).put_secret(ORG, "ACR_CONTAINER_REGISTRY_PASSWORD", SecretValue("v"))
    assert stub.hits("PUT", PUT) == 2


@pytest.mark.parametrize(
    ("statuses", "low", "high"),
    [
        ((502,), 1.0, 1.5),  # first retry: backoff
        ((502, 502, 502), 4.0, 4.5),  # doubles
        ((502,) * 12, 300.0, 300.5),  # capped
        ((403,), 60.0, 60.5),  # a rate limit with no time named: the floor
        ((429, 429), 120.0, 120.5),  # then doubles
    ],
)
def test_backoff_is_exponential_with_jitter_and_a_cap(
    statuses: tuple[int, ...], low: float, high: float
) -> None:
    policy = RetryPolicy(jitter=0.5)
    history = tuple(RequestHistory("GET", "/", None, s, None) for s in statuses)
    waits = {BudgetedRetry(policy, history=history).get_backoff_time() for _ in range(20)}
    assert all(low <= w <= high for w in waits)
    assert len(waits) > 1  # jitter


def test_retry_floor_from_the_environment() -> None:
    assert RetryPolicy.from_env({}) == RetryPolicy()
    fast = RetryPolicy.from_env({"PROVISION_RETRY_FLOOR": "0.01"})
    assert (fast.floor, fast.backoff, fast.jitter) == (0.01, 0.01, 0.01)
    assert RetryPolicy.from_env({"PROVISION_RETRY_FLOOR": "120"}).floor == 120
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(UsageError, match="PROVISION_RETRY_FLOOR"):
            RetryPolicy.from_env({"PROVISION_RETRY_FLOOR": bad})


@pytest.mark.parametrize(
    ("limit", "spent", "expected"),
    [
        (900.0, 0.0, 30.0),  # the deadline, when the budget has more
        (900.0, 880.0, 20.0),  # never past what the budget has left
        (3.0, 0.0, 5.0),  # but a prompt answer always has its grace
        (0.0, 0.0, 5.0),  # --max-wait 0: never wait to retry, still ask
        (10.0, 12.0, 5.0),  # overdrawn by timed-out attempts in parallel
    ],
)
def test_an_attempt_gets_its_deadline_cut_to_the_budget(
    limit: float, spent: float, expected: float
) -> None:
    budget = WaitBudget(limit)
    budget.charge(spent)
    assert budget.attempt_limit(30.0) == expected


def test_timed_out_attempts_draw_on_the_budget() -> None:
    budget = WaitBudget(10.0)
    budget.charge(4.0)
    budget.reserve(5.0, "GitHub answered 502")
    with pytest.raises(WaitLimitExceeded, match=r"gave up waiting: 2s more would exceed"):
        budget.reserve(2.0, "GitHub answered 502")


@pytest.mark.parametrize(
    ("method", "retried"), [("GET", True), ("HEAD", True), ("PUT", False), ("DELETE", False)]
)
def test_only_a_read_asks_again_after_202(method: str, retried: bool) -> None:
    assert BudgetedRetry(FAST).is_retry(method, 202) is retried
    assert BudgetedRetry(FAST).is_retry(method, 502) is True
