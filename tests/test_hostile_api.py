"""Broken and hostile GitHub answers (a scripted loopback server): one clear error, exit 1.

Never a traceback, never an internal error, nothing written to the state, the target named.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from github.Auth import Token

from provisioner.cli import main
from provisioner.domain import TargetRef
from provisioner.errors import GitHubError
from provisioner.github.client import GitHubClient
from tests.support.stub_server import Reply, StubServer

CONFIG = """\
version: 1
registries:
  ACR: {server: acr.example.com, username: u, password: {env: ACR_PASSWORD}}
targets:
  - org: octo-org
    registries: [ACR]
    visibility: all
"""
LIST = "/orgs/octo-org/codespaces/secrets"
KEY = "/orgs/octo-org/codespaces/secrets/public-key"
EMPTY = Reply(200, {"total_count": 0, "secrets": []})
Provision = Callable[..., tuple[int, str, str]]
ELSEWHERE = "http://elsewhere.invalid:8080/orgs/octo-org/codespaces/secrets"

LIST_ANSWERS = {
    "HTML instead of JSON": (Reply(200, b"<html>hello</html>"), "answer is not JSON"),
    "truncated JSON": (Reply(200, b'{"total_count": 1, "secrets": [{"na'), "answer is not JSON"),
    "empty body": (Reply(200, None), "unexpected answer (no list)"),
    "no secrets list": (Reply(200, {"total_count": 0}), "unexpected answer (no list)"),
    "secrets of the wrong type": (Reply(200, {"secrets": "all of them"}), "(no list)"),
    "a secret without updated_at": (
        Reply(200, {"secrets": [{"name": "ACR_CONTAINER_REGISTRY_USER"}]}),
        "unexpected secret in GitHub's list",
    ),
    "a timestamp of the wrong type": (
        Reply(200, {"secrets": [{"name": "X", "updated_at": 12, "visibility": "all"}]}),
        "unexpected secret in GitHub's list",
    ),
    "a visibility of the wrong type": (
        Reply(
            200, {"secrets": [{"name": "X", "updated_at": "2024-01-01T00:00:00Z", "visibility": 3}]}
        ),
        "unexpected secret in GitHub's list",
    ),
    "a secret that is not an object": (Reply(200, {"secrets": [42]}), "unexpected secret"),
    "a timestamp without a time zone": (
        Reply(200, {"secrets": [{"name": "X", "updated_at": "2024-01-01T00:00:00"}]}),
        "unexpected secret in GitHub's list",
    ),
    "an unexpected status": (Reply(418, {"message": "I'm a teapot"}), "418 I'm a teapot"),
    "a 1xx-free odd success": (Reply(299, b"?"), "answer is not JSON"),
    "a 5xx that never ends": (Reply(500, b"<html>oops</html>"), "500 (after 8 retries)"),
    "a redirect to another host (301)": (
        Reply(301, None, {"Location": ELSEWHERE}),
        "redirected to another host or scheme; not followed",
    ),
    "a redirect to itself (301)": (
        Reply(301, None, {"Location": LIST}),
        "redirect loop (followed 0 redirects, then back to /orgs/octo-org/codespaces/secrets)",
    ),
    "a redirect to another host (307)": (
        Reply(307, None, {"Location": ELSEWHERE}),
        "307 (redirect to elsewhere.invalid:8080); not followed",
    ),
    "a next-page link to another host": (
        Reply(200, {"secrets": []}, {"Link": f'<{ELSEWHERE}?page=2>; rel="next"'}),
        "next-page link points to another host",
    ),
    "a body cut off mid-way, every time": (
        Reply(200, {"total_count": 0, "secrets": []}, drop=True),
        "the connection broke before the answer was complete (IncompleteRead) (after 3 retries)",
    ),
    "a body that does not decode per its Content-Encoding": (
        Reply(200, b"not gzip at all", {"Content-Encoding": "gzip"}),
        "GET /orgs/octo-org/codespaces/secrets: GitHub's answer does not decode per its",
    ),
    "malformed rate-limit headers": (
        Reply(200, {"secrets": []}, {"X-RateLimit-Remaining": "lots", "X-RateLimit-Limit": "x"}),
        "malformed headers",
    ),
    "a 401": (Reply(401, {"message": "Bad credentials"}), "GitHub rejected the token"),
}

KEY_ANSWERS = {
    "a key of the wrong type": (Reply(200, {"key_id": "1", "key": 42}), "unexpected public key"),
    "a key without key_id": (Reply(200, {"key": "AAAA"}), "unexpected public key"),
    "a key that is not base64": (
        Reply(200, {"key_id": "1", "key": "not base64!"}),
        "not a valid base64 X25519 key",
    ),
    "a key of the wrong length": (
        Reply(200, {"key_id": "1", "key": "AAAA"}),
        "not a valid base64 X25519 key",
    ),
    "a key that is a list": (Reply(200, ["key"]), "unexpected public key"),
}


@pytest.fixture
def provision(
    stub: StubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Provision:
    config = tmp_path / "team.yaml"
    config.write_text(CONFIG)
    state = tmp_path / "state.json"
    monkeypatch.setenv("GH_TOKEN", "ghp_test")
    monkeypatch.setenv("ACR_PASSWORD", "acr-MARKER")
    monkeypatch.setenv("PROVISION_RETRY_FLOOR", "0.001")

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([argv[0], str(config), "--api-url", stub.url, "--state", str(state), *argv[1:]])
        out, err = capsys.readouterr()
        assert not list(state.glob("*/*.json"))  # no shard written (lock files may be)
        return code, out, err

    return call


def check(code: int, out: str, err: str, expected: str) -> None:
    assert code == 1
    assert "Traceback" not in out + err and "internal error" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    lines += [line for line in out.splitlines() if line.strip().startswith("FAILED")]
    assert any(expected in line for line in lines), (expected, out, err)
    assert "MARKER" not in out + err


@pytest.mark.parametrize("name", sorted(LIST_ANSWERS))
def test_a_broken_list_answer(stub: StubServer, provision: Provision, name: str) -> None:
    reply, expected = LIST_ANSWERS[name]
    stub.route("GET", LIST, reply)
    code, out, err = provision("plan")
    check(code, out, err, expected)
    assert "org:octo-org" in err or "GitHub rejected the token" in err


@pytest.mark.parametrize("name", sorted(KEY_ANSWERS))
def test_a_broken_public_key_answer(stub: StubServer, provision: Provision, name: str) -> None:
    reply, expected = KEY_ANSWERS[name]
    stub.route("GET", LIST, EMPTY)
    stub.route("GET", KEY, reply)
    code, out, err = provision("apply", "--yes", "--write-interval", "0")
    check(code, out, err, expected)
    assert "org:octo-org" in out + err
    assert not [s for s in stub.log if s.method == "PUT"]  # nothing written


def test_a_hung_answer_gives_up_within_max_wait(stub: StubServer, provision: Provision) -> None:
    # Accepts the connection, reads the request, never answers (until the stub stops).
    stub.route("GET", LIST, Reply(hang=True))
    start = time.monotonic()
    code, out, err = provision("plan", "--max-wait", "3")
    elapsed = time.monotonic() - start
    check(code, out, err, "org:octo-org: GET /orgs/octo-org/codespaces/secrets: no complete answer")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "gave up waiting" in errors[0], err
    assert "gave up waiting: --max-wait 3s is spent (already waited 5" in errors[0]
    assert elapsed < 15, elapsed


def test_once_max_wait_is_spent_on_a_hung_github_nothing_more_is_sent(
    stub: StubServer, provision: Provision, tmp_path: Path
) -> None:
    """Each attempt gets at least 5 s even when --max-wait is spent, but not each of the writes
    left after GitHub stopped answering: the run overdraws its budget by one grace, not one per
    request (a hung write on each of three targets took 15 s against --max-wait 3)."""
    import base64

    from nacl.public import PrivateKey

    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    repos = ("octo-org/a", "octo-org/b", "octo-org/c")
    config = CONFIG.split("targets:")[0] + "targets:\n"
    for repo in repos:
        config += f"  - repository: {repo}\n    registries: [ACR]\n"
        secrets = f"/repos/{repo}/codespaces/secrets"
        stub.route("GET", secrets, EMPTY)
        stub.route("GET", f"{secrets}/public-key", Reply(200, {"key_id": "1", "key": key}))
        for part in ("SERVER", "USER", "PASSWORD"):
            stub.route("PUT", f"{secrets}/ACR_CONTAINER_REGISTRY_{part}", Reply(hang=True))
    (tmp_path / "team.yaml").write_text(config)
    start = time.monotonic()
    code, out, err = provision("apply", "--yes", "--write-interval", "0", "--max-wait", "3")
    elapsed = time.monotonic() - start
    assert code == 1 and "Traceback" not in err
    assert "Apply: 0 done, 3 failed, 6 not attempted." in out, out
    said = " ".join(out.split())  # the report wraps its error column
    assert said.count("not sent: an earlier request timed out and --max-wait 3s is spent") == 2
    assert sum(1 for s in stub.log if s.method == "PUT") == 1  # one hung write, then no more
    assert elapsed < 9, elapsed  # one 5 s attempt, then at once (was 15 s)


# -- a 404 on the org's Codespaces secrets: the org's own page tells what it can ----------

NOT_FOUND = Reply(404, {"message": "Not Found"}, {"X-OAuth-Scopes": "repo"})
PLAN_OR_OWNER = (
    "404: the organization exists, but its Codespaces secrets are not available: organization "
    "Codespaces secrets need a plan that includes them (the org may be on GitHub Free), or the "
    "token is not an owner of the org"
)


def test_a_404_names_admin_org_when_the_scopes_visibly_lack_it(
    stub: StubServer, provision: Provision
) -> None:
    stub.route("GET", LIST, NOT_FOUND)
    stub.route("GET", "/orgs/octo-org", Reply(200, {"login": "octo-org"}))
    code, out, err = provision("plan")
    check(
        code,
        out,
        err,
        f"org:octo-org: GET {LIST}: {PLAN_OR_OWNER}; and the token lacks the admin:org scope "
        "(its scopes: repo)",
    )


def test_the_org_is_asked_about_once_per_run(stub: StubServer) -> None:
    stub.route("GET", LIST, Reply(404, {"message": "Not Found"}))
    stub.route("GET", KEY, Reply(404, {"message": "Not Found"}))
    stub.route("GET", "/orgs/octo-org", Reply(200, {"login": "octo-org"}))
    client = GitHubClient(Token("ghp_test"), stub.url, write_interval=0)
    org = TargetRef("org", "octo-org")
    for read in (client.list_secrets, client.public_key):
        with pytest.raises(GitHubError, match=re.escape(PLAN_OR_OWNER)):
            read(org)
    assert stub.hits("GET", "/orgs/octo-org") == 1


def test_when_the_org_page_cannot_be_read_nothing_is_told_apart(
    stub: StubServer, provision: Provision
) -> None:
    stub.route("GET", LIST, Reply(404, {"message": "Not Found"}))
    stub.route("GET", "/orgs/octo-org", Reply(403, {"message": "Forbidden"}))
    code, out, err = provision("plan")
    check(
        code,
        out,
        err,
        f"org:octo-org: GET {LIST}: 404: organization not found, no admin access, or its plan "
        "has no organization Codespaces secrets (the token needs the admin:org scope",
    )


def test_githubs_message_is_shown_with_its_control_characters_escaped() -> None:
    from provisioner.github.answers import error_message

    assert error_message({"message": "Bad\x1b[2J\x1b]0;pwned\x07 credentials\nmore"}) == (
        "Bad\\x1b[2J\\x1b]0;pwned\\x07 credentials"
    )


def test_status_keeps_to_max_wait(
    stub: StubServer, provision: Provision, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status reads GitHub as plan does, so --max-wait bounds its waiting too (it had no such
    flag, and PROVISION_MAX_WAIT was not read: a long Retry-After was waited out)."""
    stub.route("GET", LIST, Reply(429, {"message": "slow down"}, {"Retry-After": "100000"}))
    for args in (("--max-wait", "1"), ()):
        if not args:
            monkeypatch.setenv("PROVISION_MAX_WAIT", "1")
        code, out, err = provision("status", *args)
        assert code == 1 and "Traceback" not in out + err
        assert "exceed --max-wait 1s" in out + err, out + err
