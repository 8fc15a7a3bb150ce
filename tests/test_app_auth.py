"""GitHub App installation auth end to end: a JWT buys a ghs_ token from the sandbox."""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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
    assert "org:octo-org: GitHub rejected the token (401 A JSON web token" in err
    assert "check GITHUB_APP_ID, the App's private key and GITHUB_APP_INSTALLATION_ID" in err
