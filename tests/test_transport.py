"""Bounded time, no loops (DESIGN.md section 7), against a scripted loopback server.

Every attempt has a total deadline (a trickling body included), a dropped answer is retried,
and what PyGithub would loop on forever (a 301 chain coming back, 202 Accepted, a next-page
link already read) is a bounded error after a few requests.
"""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest
from github.Auth import Token

from provisioner.domain import TargetRef
from provisioner.errors import GitHubError
from provisioner.github.client import GitHubClient
from provisioner.github.retry import BudgetedRetry, RetryPolicy, WaitBudget
from provisioner.secret import SecretValue
from tests.support.stub_server import Reply, StubServer
from tests.test_retry import KEY, LIST, ORG, PUT, public_key

FAST = RetryPolicy(floor=0.01, backoff=0.01, jitter=0.0, cap=0.1, max_wait=30.0)
SECRET = {"name": "X", "updated_at": "2024-01-01T00:00:00Z", "visibility": "all"}
ONE = Reply(200, {"total_count": 1, "secrets": [SECRET]})
NAME = "ACR_CONTAINER_REGISTRY_PASSWORD"


def client_for(
    url: str, *, timeout: int = 30, policy: RetryPolicy = FAST, budget: WaitBudget | None = None
) -> GitHubClient:
    retry = BudgetedRetry(policy, budget or WaitBudget(policy.max_wait))
    return GitHubClient(Token("ghp_test"), url, write_interval=0, retry=retry, timeout=timeout)


def test_a_trickling_body_is_cut_at_the_deadline_and_retried(stub: StubServer) -> None:
    # ~60 bytes at 0.2 s each would take 12 s; the socket timeout (1 s) never fires.
    stub.route("GET", LIST, Reply(200, {"total_count": 0, "secrets": []}, trickle=0.2), ONE)
    start = time.monotonic()
    assert list(client_for(stub.url, timeout=1).list_secrets(ORG)) == ["X"]
    assert 1.0 <= time.monotonic() - start < 4
    assert stub.hits("GET", LIST) == 2


def test_an_answer_that_never_completes_names_the_deadline(stub: StubServer) -> None:
    stub.route("GET", LIST, Reply(200, {"total_count": 0, "secrets": []}, trickle=0.2))
    client = client_for(stub.url, timeout=1, policy=RetryPolicy(retries=1, backoff=0.01))
    start = time.monotonic()
    with pytest.raises(GitHubError) as info:
        client.list_secrets(ORG)
    assert str(info.value) == (
        f"org:octo-org: GET {LIST}: no complete answer within 1s (after 1 retry)"
    )
    assert time.monotonic() - start < 5
    assert stub.hits("GET", LIST) == 2


def test_no_attempt_outlasts_the_budget_and_timeouts_draw_on_it(stub: StubServer) -> None:
    stub.route("GET", LIST, Reply(hang=True))
    client = client_for(stub.url, budget=WaitBudget(limit=1.0, grace=0.2))  # timeout 30 s
    start = time.monotonic()
    with pytest.raises(GitHubError) as info:
        client.list_secrets(ORG)
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert message.startswith(f"org:octo-org: GET {LIST}: no complete answer within 1s; ")
    assert "gave up waiting" in message and "--max-wait 1s is spent (already waited 1" in message
    assert client.retry.budget.spent >= 1.0
    assert stub.hits("GET", LIST) == 1


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE"])
def test_a_connection_dropped_mid_body_is_retried(stub: StubServer, verb: str) -> None:
    client = client_for(stub.url)
    secret = f"{LIST}/{NAME}"
    if verb == "GET":
        stub.route("GET", LIST, Reply(200, {"total_count": 1, "secrets": [SECRET]}, drop=True), ONE)
        assert list(client.list_secrets(ORG)) == ["X"]
    elif verb == "PUT":
        stub.route("GET", KEY, public_key("1"))
        stub.route("PUT", PUT, Reply(201, {"created": True}, drop=True), Reply(201, {}))
        client.put_secret(ORG, NAME, SecretValue("v"), "all")
    else:
        stub.route("DELETE", secret, Reply(200, {"deleted": True}, drop=True), Reply(204))
        client.delete_secret(ORG, NAME)
    assert stub.hits(verb, LIST if verb == "GET" else secret) == 2


def test_a_compressed_answer_is_decoded(stub: StubServer) -> None:
    body = gzip.compress(json.dumps({"total_count": 1, "secrets": [SECRET]}).encode())
    stub.route("GET", LIST, Reply(200, body, {"Content-Encoding": "gzip"}))
    assert list(client_for(stub.url).list_secrets(ORG)) == ["X"]


def test_a_delete_whose_answer_was_lost_and_then_404s_is_done(stub: StubServer) -> None:
    secret = f"{LIST}/{NAME}"
    stub.route("DELETE", secret, Reply(204, drop=True), Reply(404, {"message": "Not Found"}))
    client_for(stub.url).delete_secret(ORG, NAME)
    assert stub.hits("DELETE", secret) == 2


def test_a_delete_of_a_secret_already_gone_is_done(stub: StubServer) -> None:
    # Deleted by someone else since the plan read it: the goal is reached (as Terraform).
    secret = f"{LIST}/{NAME}"
    stub.route("DELETE", secret, Reply(404, {"message": "Not Found"}))
    client_for(stub.url).delete_secret(ORG, NAME)
    assert stub.hits("DELETE", secret) == 1


def test_other_delete_failures_still_fail(stub: StubServer) -> None:
    secret = f"{LIST}/{NAME}"
    stub.route("DELETE", secret, Reply(422, {"message": "Validation Failed"}))
    with pytest.raises(GitHubError, match="422 Validation Failed"):
        client_for(stub.url).delete_secret(ORG, NAME)


def test_a_redirect_loop_is_an_error_after_few_requests(stub: StubServer) -> None:
    elsewhere = "/orgs/octo-org/codespaces/elsewhere"
    stub.route("GET", LIST, Reply(301, None, {"Location": f"{stub.url}{elsewhere}"}))
    stub.route("GET", elsewhere, Reply(301, None, {"Location": f"{stub.url}{LIST}"}))
    with pytest.raises(GitHubError) as info:
        client_for(stub.url).list_secrets(ORG)
    assert str(info.value) == (
        f"org:octo-org: GET {LIST}: redirect loop (followed 1 redirect, then back to {LIST})"
    )
    assert len(stub.log) == 2


def test_a_redirect_to_itself_is_a_loop_not_another_host(stub: StubServer) -> None:
    stub.route("GET", LIST, Reply(301, None, {"Location": f"{LIST}?moved=1"}))  # relative
    with pytest.raises(GitHubError, match=r"redirect loop \(followed 0 redirects, then back to"):
        client_for(stub.url).list_secrets(ORG)
    assert len(stub.log) == 1


def test_a_long_redirect_chain_is_cut(stub: StubServer) -> None:
    paths = [f"/hop/{i}" for i in range(10)]
    stub.route("GET", LIST, Reply(301, None, {"Location": paths[0]}))
    for here, there in pairwise(paths):
        stub.route("GET", here, Reply(301, None, {"Location": there}))
    with pytest.raises(GitHubError, match=r"too many redirects \(followed 5\)"):
        client_for(stub.url).list_secrets(ORG)
    assert len(stub.log) == 6


def test_a_moved_path_is_still_followed_once(stub: StubServer) -> None:
    moved = "/orgs/octo-org-renamed/codespaces/secrets"
    stub.route("GET", LIST, Reply(301, None, {"Location": f"{stub.url}{moved}"}))
    stub.route("GET", moved, ONE)
    assert list(client_for(stub.url).list_secrets(ORG)) == ["X"]
    assert [s.path for s in stub.log] == [LIST, moved]


def test_202_accepted_is_retried_within_bounds(stub: StubServer) -> None:
    stub.route("GET", LIST, Reply(202, None), ONE)
    assert list(client_for(stub.url).list_secrets(ORG)) == ["X"]
    assert stub.hits("GET", LIST) == 2


def test_an_endless_202_is_a_bounded_error(stub: StubServer) -> None:
    # Ten 202s, then an answer: PyGithub alone would sit through them all (2 s each).
    stub.route("GET", LIST, *[Reply(202, None)] * 10, ONE)
    start = time.monotonic()
    with pytest.raises(GitHubError) as info:
        client_for(stub.url).list_secrets(ORG)
    assert str(info.value) == (
        f"org:octo-org: GET {LIST}: GitHub kept answering 202 Accepted (still processing) "
        "(after 8 retries)"
    )
    assert time.monotonic() - start < 5
    assert stub.hits("GET", LIST) == 9


def test_a_next_page_link_already_followed_is_an_error(stub: StubServer) -> None:
    def page(number: int) -> Reply:
        link = f'<{stub.url}{LIST}?per_page=100&page={number}>; rel="next"'
        return Reply(200, {"secrets": [SECRET]}, {"Link": link})

    # Page 1 links to 2, page 2 back to 1; after a few rounds the script ends the list, so
    # that a client which loops still stops.
    stub.route("GET", LIST, page(2), *[page(1)] * 5, ONE)
    with pytest.raises(GitHubError) as info:
        client_for(stub.url).list_secrets(ORG)
    assert str(info.value) == (
        f"org:octo-org: GET {LIST}: pagination loop: GitHub's next-page link leads back to a "
        "page already read (after 2 pages)"
    )
    assert stub.hits("GET", LIST) == 2


def test_a_next_page_link_to_the_same_page_is_an_error(stub: StubServer) -> None:
    link = f'<{stub.url}{LIST}?page=1&per_page=100>; rel="next"'
    stub.route("GET", LIST, Reply(200, {"secrets": [SECRET]}, {"Link": link}), *[ONE] * 3)
    with pytest.raises(GitHubError, match="pagination loop"):
        client_for(stub.url).list_secrets(ORG)
    assert stub.hits("GET", LIST) == 1


def test_pages_are_still_followed(stub: StubServer) -> None:
    link = f'<{stub.url}{LIST}?per_page=100&page=2>; rel="next"'
    other = {**SECRET, "name": "Y"}
    stub.route(
        "GET",
        LIST,
        Reply(200, {"secrets": [SECRET]}, {"Link": link}),
        Reply(200, {"secrets": [other]}),
    )
    assert sorted(client_for(stub.url).list_secrets(ORG)) == ["X", "Y"]
    assert stub.hits("GET", LIST) == 2


def test_a_connection_shared_by_threads_keeps_each_request(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyGithub's own connection keeps a request on the shared object between request() and
    # getresponse(): a thread in between swaps its request in. A pause there makes it certain.
    targets = [TargetRef("org", f"org-{i}") for i in range(6)]
    for target in targets:
        path = f"/orgs/{target.name}/codespaces/secrets"
        stub.route("GET", path, Reply(200, {"secrets": [{**SECRET, "name": target.name}]}))
    client = client_for(stub.url)
    connection_class = client._requester._Requester__connectionClass  # type: ignore[attr-defined]
    request = connection_class.request

    def slow_request(self: object, *args: object, **kwargs: object) -> None:
        request(self, *args, **kwargs)
        time.sleep(0.02)

    monkeypatch.setattr(connection_class, "request", slow_request)
    with ThreadPoolExecutor(max_workers=6) as pool:
        found = list(pool.map(lambda t: list(client.list_secrets(t)), targets * 3))
    assert found == [[t.name.upper()] for t in targets * 3]


# -- the environment's proxy settings are honoured (corporate networks) -------------------------


def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_a_proxy_from_the_environment_carries_every_request(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_proxy_variables(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", stub.url)
    stub.route("GET", LIST, ONE, ONE)
    client = client_for("http://127.0.0.2:9")  # nothing listens there: only the proxy answers
    assert list(client.list_secrets(ORG)) == ["X"]
    assert list(client.list_secrets(ORG)) == ["X"]
    assert stub.hits("GET", LIST) == 2
    assert all(s.headers.get("Authorization") == "token ghp_test" for s in stub.log)


def test_no_proxy_still_sends_its_hosts_direct(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_proxy_variables(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.2:9")  # a proxy that is not there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    stub.route("GET", LIST, ONE)
    assert list(client_for(stub.url).list_secrets(ORG)) == ["X"]
