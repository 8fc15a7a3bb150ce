"""Which API URL a run talks to (DESIGN.md section 6), whatever its source (``--api-url``, config
``github.api_url``, ``GITHUB_API_URL``, ``GH_HOST``): never plain http to a host that is not
loopback, never a web address (refused naming the API's), ``GH_HOST`` mapped as gh does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.errors import ProvisionError
from provisioner.github.auth import api_url
from provisioner.hosts import api_url_for_host, check_api_url, is_dotcom, is_loopback

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


# -- web addresses given as the API URL -----------------------------------------------------

WEB = {
    "https://github.com": "'https://github.com' is GitHub's web address; "
    "the API is https://api.github.com",
    "https://github.com/": "is GitHub's web address; the API is https://api.github.com",
    "https://www.github.com/octo-org": "is GitHub's web address; the API is https://api.github.com",
    "http://github.com": "is GitHub's web address; the API is https://api.github.com",
    "https://acme.ghe.com": "'https://acme.ghe.com' is a GHE.com web address; "
    "the API is https://api.acme.ghe.com",
    "https://ACME.ghe.com/": "is a GHE.com web address; the API is https://api.acme.ghe.com",
}


@pytest.mark.parametrize(("url", "message"), WEB.items())
def test_a_web_address_is_refused_naming_the_api(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_api_url(url)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://api.acme.ghe.com", "https://api.github.com/", "https://uploads.github.com"]
)
def test_api_hosts_are_no_web_addresses(url: str) -> None:
    assert check_api_url(url) == url


def test_a_web_address_from_the_flag_fails_at_once(provision: Provision) -> None:
    code, err = provision("--api-url", "https://github.com")
    assert code == 1
    assert err.strip() == (
        "error: --api-url: API URL 'https://github.com' is GitHub's web address; "
        "the API is https://api.github.com"
    )


def test_a_web_address_from_the_environment_fails_at_once(
    provision: Provision, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "https://acme.ghe.com")
    code, err = provision()
    assert code == 1
    assert err.strip() == (
        "error: GITHUB_API_URL: API URL 'https://acme.ghe.com' is a GHE.com web address; "
        "the API is https://api.acme.ghe.com"
    )


def test_a_web_address_in_the_config_is_a_config_error(provision: Provision) -> None:
    code, err = provision(config_url="https://acme.ghe.com")
    assert code == 1
    assert (
        "team.yaml:3:12: 'https://acme.ghe.com' is a GHE.com web address; "
        "the API is https://api.acme.ghe.com"
    ) in err, err
    assert "tests never leave loopback" not in err and "cannot reach" not in err


# -- GH_HOST ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("github.com", "https://api.github.com"),
        ("GitHub.com.", "https://api.github.com"),
        ("acme.ghe.com", "https://api.acme.ghe.com"),
        (" Acme.GHE.com ", "https://api.acme.ghe.com"),
        ("github.localhost", "http://api.github.localhost"),  # gh's local github.com
        ("ghes.example.com", "https://ghes.example.com/api/v3"),  # Enterprise Server
        ("ghe.com", "https://ghe.com/api/v3"),  # no tenant: not GHE.com
    ],
)
def test_gh_host_maps_to_its_api_url_as_gh_does(host: str, url: str) -> None:
    assert api_url_for_host(host) == url


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("https://acme.ghe.com", "expected a host name such as github.com or acme.ghe.com"),
        ("localhost:8080", "expected a host name"),
        (".", "expected a host name"),
        ("api.github.com", "'api.github.com' is an API host; GH_HOST takes the web host: github"),
        ("api.acme.ghe.com", "GH_HOST takes the web host: acme.ghe.com"),
    ],
)
def test_gh_host_that_is_no_web_host_is_refused(host: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        api_url_for_host(host)


@pytest.mark.parametrize(
    ("flag", "config", "env", "expected"),
    [
        (None, None, {}, "https://api.github.com"),
        (None, None, {"GH_HOST": "acme.ghe.com"}, "https://api.acme.ghe.com"),
        (None, None, {"GH_HOST": "github.com"}, "https://api.github.com"),
        (None, None, {"GH_HOST": ""}, "https://api.github.com"),
        (
            None,
            None,
            {"GH_HOST": "acme.ghe.com", "GITHUB_API_URL": "https://api.b.ghe.com"},
            "https://api.b.ghe.com",
        ),
        (None, "https://api.c.ghe.com", {"GH_HOST": "acme.ghe.com"}, "https://api.c.ghe.com"),
        (
            "http://127.0.0.1:8080",
            "https://api.c.ghe.com",
            {"GH_HOST": "acme.ghe.com", "GITHUB_API_URL": "https://api.b.ghe.com"},
            "http://127.0.0.1:8080",
        ),
    ],
)
def test_precedence_flag_config_env_gh_host_default(
    flag: str | None, config: str | None, env: dict[str, str], expected: str
) -> None:
    assert api_url(flag, config, env) == expected


def test_gh_host_of_an_enterprise_server_is_refused_as_one() -> None:
    with pytest.raises(ProvisionError) as info:
        api_url(None, None, {"GH_HOST": "ghes.example.com"})
    assert str(info.value) == (
        "GH_HOST=ghes.example.com: API URL 'https://ghes.example.com/api/v3' looks like GitHub "
        "Enterprise Server, which has no Codespaces; use api.github.com or "
        "https://api.SUBDOMAIN.ghe.com"
    )


def test_gh_host_through_the_cli(provision: Provision, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_HOST", "https://acme.ghe.com")
    code, err = provision()
    assert code == 1
    assert err.startswith("error: GH_HOST: expected a host name such as github.com"), err
    monkeypatch.setenv("GH_HOST", "ghes.example.com")
    code, err = provision()
    assert code == 1
    assert "GH_HOST=ghes.example.com: API URL" in err and "GitHub Enterprise Server" in err
    assert "tests never leave loopback" not in err  # refused before any connection


@pytest.mark.parametrize(
    ("host", "dotcom"),
    [
        ("github.com", True),
        ("api.github.com", True),
        ("API.GitHub.com", True),
        ("github.localhost", True),
        ("api.github.localhost", True),
        ("acme.ghe.com", False),
        ("api.acme.ghe.com", False),
        ("127.0.0.1", False),
        ("notgithub.com", False),
        ("github.com.evil.example", False),
    ],
)
def test_is_dotcom(host: str, dotcom: bool) -> None:
    assert is_dotcom(host) is dotcom
