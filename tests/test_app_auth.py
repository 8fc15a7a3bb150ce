"""GitHub App installation auth end to end: a JWT buys a ghs_ token from the sandbox."""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github.Auth import AppInstallationAuth

from provisioner.doctor import login
from provisioner.github.auth import credentials
from provisioner.sandbox import Sandbox, load_world
from tests.support.e2e import ACR_PASSWORD, CONFIG, Cli
from tests.support.sandbox import GH

APP_ID, INSTALLATION = 4242, 777


@pytest.fixture
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def app_cli(
    tmp_path: Path, app_key: rsa.RSAPrivateKey, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    default = importlib.resources.files("provisioner.sandbox").joinpath("default_world.yaml")
    world = yaml.safe_load(default.read_text())
    public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    world["apps"] = [
        {
            "id": APP_ID,
            "installation_id": INSTALLATION,
            "public_key": public.decode(),
            "permissions": {
                "codespaces_secrets": "write",
                "organization_codespaces_secrets": "write",
            },
        }
    ]
    (tmp_path / "world.yaml").write_text(yaml.safe_dump(world))
    private = app_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "app.pem").write_bytes(private)
    with Sandbox(load_world(tmp_path / "world.yaml")) as sandbox:
        gh = GH(sandbox)
        cli = Cli(tmp_path, gh, capsys)
        del cli.env["GH_TOKEN"]
        cli.env |= {
            "GITHUB_APP_ID": str(APP_ID),
            "GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "app.pem"),
            "GITHUB_APP_INSTALLATION_ID": str(INSTALLATION),
        }
        yield cli
        gh.session.close()


def test_app_installation_token_writes_org_and_repository_secrets(app_cli: Cli) -> None:
    app_cli.write_config(CONFIG.split("  - user: octocat")[0])
    code, out, err = app_cli.apply()
    assert code == 0, err
    secrets = app_cli.gh.secrets()
    assert secrets[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"] == ACR_PASSWORD
    assert len(secrets) == 6
    kinds = {r["token_kind"] for r in app_cli.requests()}
    assert kinds == {"app-jwt", "app-installation"}  # one JWT exchange, then the ghs_ token
    assert app_cli("plan", "--detailed-exitcode")[0] == 0


def test_user_target_is_refused_for_an_app_installation(app_cli: Cli) -> None:
    code, out, err = app_cli.apply()
    assert code == 1
    assert "user:octocat" in out + err and "installation" in (out + err).lower()
    assert not [k for k in app_cli.gh.secrets() if k[0] == "user"]
    assert len(app_cli.gh.secrets()) == 6


def test_a_wrong_app_key_is_a_clear_error(app_cli: Cli) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    Path(app_cli.env["GITHUB_APP_PRIVATE_KEY_FILE"]).write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code, out, err = app_cli("plan")
    assert code == 1
    assert "Traceback" not in err
    # One error, before any target is read (not a 401 on each of them).
    assert err == (
        "error: GitHub refused the App's JWT (401 A JSON web token could not be decoded): "
        "check GITHUB_APP_ID and the private key\n"
    )
    assert [r["path"] for r in app_cli.requests()] == [
        f"/app/installations/{INSTALLATION}/access_tokens"
    ]


def test_a_wrong_app_id_is_one_error_before_any_target_is_read(app_cli: Cli) -> None:
    app_cli.env["GITHUB_APP_ID"] = str(APP_ID + 1)
    code, out, err = app_cli("plan", "--json")
    assert code == 1
    assert json.loads(out)["errors"] == [
        {
            "message": "GitHub refused the App's JWT (401 'Issuer' claim ('iss') must be the "
            "App's ID): check GITHUB_APP_ID and the private key"
        }
    ]
    assert [r["method"] for r in app_cli.requests()] == ["POST"]


def test_a_wrong_installation_is_one_error_and_its_request_shows_under_v(app_cli: Cli) -> None:
    app_cli.env["GITHUB_APP_INSTALLATION_ID"] = str(INSTALLATION + 1)
    code, out, err = app_cli("plan", "-v")
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith(
        f"POST {app_cli.gh.sandbox.url}/app/installations/{INSTALLATION + 1}/access_tokens 404 ("
    )
    assert lines[1:] == [
        f"error: GitHub App {APP_ID} has no installation {INSTALLATION + 1} "
        "(GITHUB_APP_INSTALLATION_ID)"
    ]
    assert "secrets" not in err and out == ""


def test_the_minted_token_is_used_and_never_shown(app_cli: Cli) -> None:
    app_cli.write_config(CONFIG.split("  - user: octocat")[0])
    code, out, err = app_cli("plan", "-v")
    assert code == 0, err
    log = app_cli.requests()
    assert log[0]["token_kind"] == "app-jwt"
    assert {r["token_kind"] for r in log[1:]} == {"app-installation"}
    assert err.splitlines()[0].startswith(f"POST {app_cli.gh.sandbox.url}/app/installations/")
    assert "ghs_" not in out + err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"GITHUB_APP_PRIVATE_KEY": "garbage-KEY-text"},
            "error: GITHUB_APP_PRIVATE_KEY: not a PEM RSA private key",
        ),
        (
            {"GITHUB_APP_PRIVATE_KEY_FILE": "{tmp}/world.yaml"},
            "error: GITHUB_APP_PRIVATE_KEY_FILE {tmp}/world.yaml: not a PEM RSA private key",
        ),
        (
            {"GITHUB_APP_INSTALLATION_ID": "\u00b2"},  # '²' passes str.isdigit()
            "error: GITHUB_APP_ID is set but GITHUB_APP_INSTALLATION_ID is not a number",
        ),
        (
            {"GITHUB_APP_INSTALLATION_ID": "\u0667\u0667\u0667"},  # Arabic-Indic 777
            "error: GITHUB_APP_ID is set but GITHUB_APP_INSTALLATION_ID is not a number",
        ),
    ],
)
def test_unusable_app_settings_are_one_line_errors_naming_the_variable(
    app_cli: Cli, env: dict[str, str], expected: str
) -> None:
    tmp = str(app_cli.tmp)
    app_cli.env |= {k: v.replace("{tmp}", tmp) for k, v in env.items()}
    code, out, err = app_cli("plan")
    assert code == 1
    assert err.startswith(expected.replace("{tmp}", tmp)) and err.count("\n") == 1
    assert "garbage" not in err and "internal error" not in err
    assert app_cli.requests() == []


def test_an_app_client_id_is_accepted_as_the_app_id(app_key: rsa.RSAPrivateKey) -> None:
    pem = app_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    env = {
        "GITHUB_APP_ID": "Iv1.0123456789abcdef",
        "GITHUB_APP_PRIVATE_KEY": pem,
        "GITHUB_APP_INSTALLATION_ID": "777",
    }
    auth = credentials(env, "https://api.github.com")
    assert isinstance(auth, AppInstallationAuth) and auth.app_id == "Iv1.0123456789abcdef"


def test_doctor_fails_the_token_check_for_a_wrong_installation(
    app_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No real registry: every login is answered by a stand-in that accepts.
    monkeypatch.setattr(login, "login", lambda *a, **k: login.LoginResult(True, "stub", 200))
    app_cli.env["GITHUB_APP_INSTALLATION_ID"] = str(INSTALLATION + 1)
    code, out, err = app_cli.without_state("doctor", "--json")
    assert code == 1
    (token,) = [c for c in json.loads(out)["checks"] if c["check"] in ("token", "target")]
    assert token == {
        "check": "token",
        "subject": "",
        "status": "fail",
        "message": f"GitHub App {APP_ID} has no installation {INSTALLATION + 1} "
        "(GITHUB_APP_INSTALLATION_ID)",
        "fix": "set GITHUB_APP_INSTALLATION_ID to the ID of the App's installation on the org",
    }
