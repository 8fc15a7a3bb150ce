"""The token never travels over plain http to a host that is not loopback, whatever the source
of the URL (``--api-url``, config ``github.api_url``, ``GITHUB_API_URL``): DESIGN.md section 6.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.errors import ProvisionError
from provisioner.github.auth import api_url
from provisioner.hosts import check_api_url, is_loopback

CONFIG = """\
version: 1
{github}registries:
  ACR: {{server: acr.example.com, username: u, password: {{env: ACR_PASSWORD}}}}
targets:
  - org: octo-org
    registries: [ACR]
    visibility: all
"""
PLAIN = "http://192.0.2.1:8080"  # TEST-NET-1: an address, so no name is ever looked up
REFUSED = "must use https (plain http only for loopback hosts)"
Provision = Callable[..., tuple[int, str]]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("api.github.localhost", True),  # how gh reaches the sandbox (RFC 6761)
        ("github.com", False),
        ("localhost.example.com", False),
        ("mylocalhost", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "url",
    [
        "https://api.github.com",
        "https://api.octocorp.ghe.com/",
        "http://127.0.0.1:8080",
        "http://[::1]:9/api",
        "http://localhost",
        "http://api.github.localhost:8080",
    ],
)
def test_check_api_url_accepts(url: str) -> None:
    assert check_api_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (PLAIN, REFUSED),
        ("http://api.github.com", REFUSED),
        ("http://localhost.example.com", REFUSED),
        ("ftp://api.github.com", "is not an http(s) URL"),
        ("api.github.com", "is not an http(s) URL"),
        ("http://[::1", "is not an http(s) URL"),
    ],
)
def test_check_api_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_api_url(url)


@pytest.mark.parametrize(
    ("flag", "config", "env", "source"),
    [
        (PLAIN, None, {}, "--api-url"),
        (None, PLAIN, {}, "config github.api_url"),
        (None, None, {"GITHUB_API_URL": PLAIN}, "GITHUB_API_URL"),
        # The one that wins is checked, whichever it is.
        (PLAIN, "https://api.github.com", {}, "--api-url"),
        (None, None, {"GITHUB_API_URL": "http://github.example"}, "GITHUB_API_URL"),
    ],
)
def test_every_source_of_the_api_url_is_checked(
    flag: str | None, config: str | None, env: dict[str, str], source: str
) -> None:
    with pytest.raises(ProvisionError) as info:
        api_url(flag, config, env)
    assert str(info.value).startswith(f"{source}: API URL 'http://")
    assert REFUSED in str(info.value)


def test_a_loopback_name_is_accepted_from_every_source() -> None:
    sandbox = "http://api.github.localhost:8080"
    assert api_url(sandbox, None, {}) == sandbox
    assert api_url(None, sandbox, {}) == sandbox
    assert api_url(None, None, {"GITHUB_API_URL": sandbox}) == sandbox


@pytest.fixture
def provision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Provision:
    monkeypatch.setenv("GH_TOKEN", "ghp_MARKER")
    monkeypatch.setenv("ACR_PASSWORD", "acr-MARKER")

    def run(*args: str, config_url: str | None = None) -> tuple[int, str]:
        config = tmp_path / "team.yaml"
        github = f"github:\n  api_url: {config_url}\n" if config_url else ""
        config.write_text(CONFIG.format(github=github))
        code = main(["plan", str(config), "--state", str(tmp_path / "state"), *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err and "MARKER" not in out + err
        return code, err

    return run


def test_plain_http_from_the_flag_is_refused_before_any_connection(provision: Provision) -> None:
    code, err = provision("--api-url", PLAIN)
    assert code == 1
    assert f"error: --api-url: API URL '{PLAIN}' {REFUSED}" in err
    assert "tests never leave loopback" not in err  # no connection was even tried


def test_plain_http_from_the_environment_is_refused(
    provision: Provision, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", PLAIN)
    code, err = provision()
    assert code == 1
    assert f"error: GITHUB_API_URL: API URL '{PLAIN}' {REFUSED}" in err
    assert "tests never leave loopback" not in err


def test_plain_http_from_the_config_is_a_config_error(provision: Provision) -> None:
    code, err = provision(config_url=PLAIN)
    assert code == 1
    assert f"team.yaml:3:12: '{PLAIN}' {REFUSED}" in err, err
    assert "tests never leave loopback" not in err
