"""Where the token and the API URL come from (DESIGN.md section 6)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth

from provisioner.errors import ProvisionError
from provisioner.github.auth import api_url, credentials


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
