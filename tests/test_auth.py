"""Where the token and the API URL come from (DESIGN.md section 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth

from provisioner.errors import ProvisionError
from provisioner.github.auth import api_url, credentials, token_variables
from provisioner.sources import GITHUB_CREDENTIALS
from tests.support.e2e import Cli


@pytest.mark.parametrize(
    ("flag", "config", "env", "expected"),
    [
        (None, None, {}, "https://api.github.com"),
        (
            None,
            None,
            {"GITHUB_API_URL": "https://api.octocorp.ghe.com"},
            "https://api.octocorp.ghe.com",
        ),
        (None, "https://api.c.ghe.com/", {"GITHUB_API_URL": "https://e"}, "https://api.c.ghe.com"),
        ("http://127.0.0.1:8080", "https://api.c.ghe.com", {}, "http://127.0.0.1:8080"),
    ],
)
def test_api_url_precedence(
    flag: str | None, config: str | None, env: dict[str, str], expected: str
) -> None:
    assert api_url(flag, config, env) == expected


@pytest.mark.parametrize("url", ["https://ghe.example.com/api/v3", "ftp://x", "not a url"])
def test_api_url_refusals(url: str) -> None:
    with pytest.raises(ProvisionError) as info:
        api_url(url, None, {})
    if "api/v3" in url:
        assert "GitHub Enterprise Server" in str(info.value) and "no Codespaces" in str(info.value)


def test_token_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")  # no gh
    both = credentials({"GH_TOKEN": "a", "GITHUB_TOKEN": "b"}, "https://api.github.com")
    assert isinstance(both, Auth.Token) and both.token == "a"
    only = credentials({"GITHUB_TOKEN": "b"}, "https://api.github.com")
    assert isinstance(only, Auth.Token) and only.token == "b"
    with pytest.raises(ProvisionError, match="no GitHub credentials"):
        credentials({}, "https://api.github.com")


def test_gh_auth_token_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gh = tmp_path / "gh"
    gh.write_text("#!/bin/sh\n[ \"$1 $2\" = 'auth token' ] && echo gho_from_gh\n")
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    auth = credentials({}, "https://api.github.com")
    assert isinstance(auth, Auth.Token) and auth.token == "gho_from_gh"


def test_github_app_installation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    (tmp_path / "app.pem").write_text(pem)
    env = {
        "GITHUB_APP_ID": "123",
        "GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "app.pem"),
        "GITHUB_APP_INSTALLATION_ID": "456",
    }
    auth = credentials(env, "https://api.github.com")
    assert isinstance(auth, Auth.AppInstallationAuth)
    assert auth.installation_id == 456
    with pytest.raises(ProvisionError, match="GITHUB_APP_INSTALLATION_ID"):
        credentials({**env, "GITHUB_APP_INSTALLATION_ID": ""}, "https://api.github.com")
    with pytest.raises(ProvisionError, match="GITHUB_APP_PRIVATE_KEY"):
        credentials(
            {"GITHUB_APP_ID": "1", "GITHUB_APP_INSTALLATION_ID": "2"}, "https://api.github.com"
        )


# -- GH_ENTERPRISE_TOKEN / GITHUB_ENTERPRISE_TOKEN ------------------------------------------

ALL = {
    "GH_ENTERPRISE_TOKEN": "ghe-1",
    "GITHUB_ENTERPRISE_TOKEN": "ghe-2",
    "GH_TOKEN": "gh-3",
    "GITHUB_TOKEN": "github-4",
}


def without(*names: str) -> dict[str, str]:
    return {k: v for k, v in ALL.items() if k not in names}


@pytest.mark.parametrize(
    ("url", "env", "token"),
    [
        # github.com: the enterprise tokens are never read.
        ("https://api.github.com", ALL, "gh-3"),
        ("https://api.github.com", without("GH_TOKEN"), "github-4"),
        ("http://api.github.localhost", ALL, "gh-3"),  # gh's local github.com
        # Any other host (GHE.com, a sandbox on loopback): GH_ENTERPRISE_TOKEN first.
        ("https://api.acme.ghe.com", ALL, "ghe-1"),
        ("https://api.acme.ghe.com", without("GH_ENTERPRISE_TOKEN"), "ghe-2"),
        ("https://api.acme.ghe.com", {"GH_ENTERPRISE_TOKEN": " ", "GH_TOKEN": "gh-3"}, "gh-3"),
        ("https://api.acme.ghe.com", {"GITHUB_TOKEN": "github-4"}, "github-4"),
        ("http://127.0.0.1:8080", ALL, "ghe-1"),
    ],
)
def test_enterprise_tokens_first_off_github_com(url: str, env: dict[str, str], token: str) -> None:
    auth = credentials(env, url)
    assert isinstance(auth, Auth.Token) and auth.token == token


def test_an_enterprise_token_alone_is_no_credential_for_github_com(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")  # no gh
    env = {"GH_ENTERPRISE_TOKEN": "ghe-1", "GITHUB_ENTERPRISE_TOKEN": "ghe-2"}
    with pytest.raises(ProvisionError) as info:
        credentials(env, "https://api.github.com")
    assert str(info.value).startswith("no GitHub credentials: set GH_TOKEN or GITHUB_TOKEN, ")
    with pytest.raises(ProvisionError) as info:
        credentials({}, "https://api.acme.ghe.com")
    assert str(info.value).startswith(
        "no GitHub credentials: set GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN, GH_TOKEN "
        "or GITHUB_TOKEN, "
    )


def test_command_sources_never_see_a_variable_a_token_is_read_from() -> None:
    every = set(token_variables("https://api.github.com") + token_variables("https://x.ghe.com"))
    assert every == set(ALL) and every <= GITHUB_CREDENTIALS


def test_the_enterprise_token_is_the_one_sent_off_github_com(cli: Cli) -> None:
    # The sandbox (loopback, not github.com) tells its tokens apart by kind and by rights.
    cli.env |= {"GH_ENTERPRISE_TOKEN": "github_pat_fine", "GITHUB_ENTERPRISE_TOKEN": "ghp_no_org"}
    code, _, err = cli("plan")
    assert code == 0, err
    assert {r["token_kind"] for r in cli.requests()} == {"fine-grained"}
    code, out, _ = cli.without_state("doctor", "--json")
    token = next(c for c in json.loads(out)["checks"] if c["check"] == "token")
    assert token["message"] == "fine-grained personal access token from GH_ENTERPRISE_TOKEN"

    del cli.env["GH_ENTERPRISE_TOKEN"]  # then GITHUB_ENTERPRISE_TOKEN, before GH_TOKEN
    cli.reset_log()
    code, _, err = cli("plan")
    assert code == 1
    assert "org:octo-org: permission denied: the token lacks the admin:org scope" in err
    assert {r["token_kind"] for r in cli.requests()} == {"classic"}


# -- a rejected token names where it came from ---------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "GH_TOKEN", "GITHUB_TOKEN", "gh auth token"],
)
def test_a_rejected_token_names_the_variable_it_came_from(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    del cli.env["GH_TOKEN"]
    if source == "gh auth token":  # a real gh stand-in on PATH, as the fallback runs it
        gh = tmp_path / "bin" / "gh"
        gh.parent.mkdir()
        gh.write_text("#!/bin/sh\necho gho_not_a_sandbox_token\n")
        gh.chmod(0o755)
        monkeypatch.setenv("PATH", str(gh.parent))
        renew = "the token from gh auth token is rejected: log in again with gh auth login"
    else:
        monkeypatch.setenv("PATH", "")
        cli.env[source] = "ghp_not_a_sandbox_token"
        renew = f"replace or renew the token in {source} (invalid, expired or revoked)"
    code, out, err = cli("plan")
    assert code == 1
    assert (
        "error: org:octo-org: GitHub rejected the token (401 Bad credentials): " + renew
    ) in err.splitlines()
    assert "not_a_sandbox_token" not in out + err
    if source != "GH_TOKEN":
        assert "GH_TOKEN" not in err
