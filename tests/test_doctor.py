"""``provision doctor``: real registry logins (distribution registry, a Bearer-token server),
token and target checks against the sandbox, shadowing, and the exit code of each outcome."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.config import load_config
from provisioner.doctor import checks as doctor
from provisioner.doctor import login as registry_login
from provisioner.errors import SourceError
from provisioner.secret import SecretValue
from provisioner.sources import EcrTokenPart, Resolver
from tests.support.registry import PASSWORD, Registry, TokenRegistry
from tests.support.sandbox import GH

WRONG = "wrong-MARKER-password-0"


# -- registry_login ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "base"),
    [
        ("https://index.docker.io/v1/", "https://registry-1.docker.io"),
        ("docker.io", "https://registry-1.docker.io"),
        ("mycompany.azurecr.io", "https://mycompany.azurecr.io"),
        ("https://us-docker.pkg.dev/", "https://us-docker.pkg.dev"),
        ("localhost:5000", "https://localhost:5000"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://[::1]:5000/", "http://[::1]:5000"),
    ],
)
def test_registry_base(server: str, base: str) -> None:
    assert registry_login.registry_base(server) == base


@pytest.mark.parametrize("server", ["http://registry.example.com", "ftp://x.io", "https://"])
def test_registry_base_refuses(server: str) -> None:
    with pytest.raises(ValueError):
        registry_login.registry_base(server)


def test_parse_challenge() -> None:
    scheme, params = registry_login.parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope=x'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "x",
    }


def login(url: str, user: str, password: str) -> registry_login.LoginResult:
    return registry_login.login(url, SecretValue(user), SecretValue(password))


def test_basic_login_against_the_real_registry(docker_registry: Registry) -> None:
    ok = login(docker_registry.url, docker_registry.user, docker_registry.password)
    assert ok.ok and ok.status == 200
    bad = login(docker_registry.url, docker_registry.user, WRONG)
    assert not bad.ok and bad.status == 401
    assert "rejected the credentials (HTTP 401)" in bad.detail and WRONG not in bad.detail


def test_bearer_token_flow(token_registry: TokenRegistry) -> None:
    ok = login(token_registry.url, token_registry.user, token_registry.password)
    assert ok.ok, ok.detail
    assert [r["path"] for r in token_registry.requests] == ["/v2/", "/token", "/v2/"]
    assert token_registry.requests[1]["query"] == {
        "service": ["token-registry"],
        "scope": ["registry:catalog:*"],
    }
    bad = login(token_registry.url, token_registry.user, WRONG)
    assert not bad.ok and "token service 127.0.0.1 refused the credentials (HTTP 401)" in bad.detail
    assert WRONG not in bad.detail


def test_unreachable_registry_is_a_failure_not_a_crash() -> None:
    result = login("http://127.0.0.1:9", "u", "p")
    assert not result.ok and result.status is None and "cannot reach 127.0.0.1:9" in result.detail


# -- the command ---------------------------------------------------------------------------


def config_for(registry_url: str, extra_registries: str = "", targets: str = "") -> str:
    return f"""\
version: 1
registries:
  LOCAL:
    server: {registry_url}
    username: puller
    password: {{env: REG_PASSWORD}}
{extra_registries}targets:
  - repository: octo-org/api
    registries: [LOCAL]
{targets}"""


def run_doctor(
    tmp_path: Path,
    gh: GH,
    capsys: pytest.CaptureFixture[str],
    config: str,
    env: dict[str, str],
    *args: str,
) -> tuple[int, str, str]:
    path = tmp_path / "team.yaml"
    path.write_text(config)
    capsys.readouterr()
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        code = main(["doctor", str(path), "--api-url", gh.sandbox.url, *args])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = capsys.readouterr()
    return code, out, err


ADMIN = {"GH_TOKEN": "ghp_sandbox_admin", "REG_PASSWORD": PASSWORD}


def test_doctor_passes_with_the_right_password(
    tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str], docker_registry: Registry
) -> None:
    code, out, err = run_doctor(tmp_path, gh, capsys, config_for(docker_registry.url), ADMIN)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("ok    token")
    assert "classic token from GH_TOKEN; scopes: admin:org, codespace, repo" in lines[0]
    assert any(line.startswith("ok    target repository:octo-org/api") for line in lines), out
    assert any(line.startswith("ok    registry LOCAL") and "login ok" in line for line in lines)
    assert lines[-1] == "Doctor: 3 ok, 0 warnings, 0 failed."


def test_doctor_fails_naming_the_registry_with_a_wrong_password(
    tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str], docker_registry: Registry
) -> None:
    env = {**ADMIN, "REG_PASSWORD": WRONG}
    code, out, err = run_doctor(tmp_path, gh, capsys, config_for(docker_registry.url), env)
    assert code == 1
    (line,) = [x for x in out.splitlines() if x.startswith("fail")]
    assert line.startswith("fail  registry LOCAL") and "HTTP 401" in line
    assert "fix: check the username and password sources of LOCAL" in out
    assert WRONG not in out + err and PASSWORD not in out + err
    code, out, _ = run_doctor(tmp_path, gh, capsys, config_for(docker_registry.url), env, "--json")
    document = json.loads(out)
    assert code == 1 and document["summary"]["fail"] == 1
    assert [c["subject"] for c in document["checks"] if c["status"] == "fail"] == ["LOCAL"]


def test_doctor_bearer_registry_through_the_cli(
    tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str], token_registry: TokenRegistry
) -> None:
    code, out, err = run_doctor(tmp_path, gh, capsys, config_for(token_registry.url), ADMIN)
    assert code == 0, out + err
    assert "token from http://127.0.0.1" in out


GHCR = """\
  GHCR:
    server: ghcr.io
    username: octocat
    password: {env: REG_PASSWORD}
"""


@pytest.mark.parametrize(
    ("case", "env", "code", "expected"),
    [
        ("warn only: ghcr.io needs no secret", ADMIN, 0, "warn  registry GHCR"),
        ("no token at all", {"REG_PASSWORD": "x"}, 1, "fail  token"),
        ("source unset", {"GH_TOKEN": "ghp_sandbox_admin"}, 1, "env REG_PASSWORD"),
        ("token without admin:org", {**ADMIN, "GH_TOKEN": "ghp_no_org"}, 1, "fail  target org"),
        (
            "App token on a user target",
            {**ADMIN, "GH_TOKEN": "ghs_app_installation"},
            1,
            "fail  target user:octocat",
        ),
    ],
)
def test_doctor_exit_code_per_outcome(
    tmp_path: Path,
    gh: GH,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    env: dict[str, str],
    code: int,
    expected: str,
) -> None:
    # No real registry here: every login is answered by a stand-in that accepts.
    monkeypatch.setattr(
        registry_login, "login", lambda *a, **k: registry_login.LoginResult(True, "stub", 200)
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no `gh` to fall back on
    targets = ""
    if "admin:org" in case:
        targets = "  - org: octo-org\n    registries: [LOCAL]\n    visibility: all\n"
    if "user" in case:
        targets = "  - user: octocat\n    registries: [LOCAL]\n    repositories: [octo-org/api]\n"
    extra = GHCR if "ghcr" in case else ""
    config = config_for("registry.example.com", extra, targets)
    if extra:
        config = config.replace("registries: [LOCAL]", "registries: [LOCAL, GHCR]")
    got, out, err = run_doctor(tmp_path, gh, capsys, config, env)
    assert got == code, out + err
    assert expected in out, out


def test_shadowing_names_the_level_that_wins(
    tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        registry_login, "login", lambda *a, **k: registry_login.LoginResult(True, "stub", 200)
    )
    # An old repository-level secret, set by hand, under the org secret the config writes.
    response = gh.put_secret("/repos/octo-org/api", "LOCAL_CONTAINER_REGISTRY_USER", "old-user")
    assert response.status_code in (201, 204)
    targets = (
        "  - org: octo-org\n    registries: [LOCAL]\n    repositories: [api, web]\n"
        "  - user: octocat\n    registries: [LOCAL]\n    repositories: [octo-org/web]\n"
    )
    config = config_for("registry.example.com", "", targets).replace(
        "  - repository: octo-org/api\n    registries: [LOCAL]\n", ""
    )
    code, out, err = run_doctor(tmp_path, gh, capsys, config, ADMIN)
    assert code == 0, out + err
    shadows = [line for line in out.splitlines() if line.startswith("warn  shadow")]
    assert any(
        "LOCAL_CONTAINER_REGISTRY_USER" in line
        and "repository:octo-org/api shadows org:octo-org in octo-org/api" in line
        and "the repository secret wins over the organization one" in line
        for line in shadows
    ), out
    assert any(
        "LOCAL_CONTAINER_REGISTRY_*" in line
        and "user:octocat shadows org:octo-org in octo-org/web" in line
        and "the user secret wins over the organization one" in line
        for line in shadows
    ), out


# -- registry checks with a resolver (ECR modes) --------------------------------------------


ECR_TOKEN = """\
version: 1
registries:
  ECR:
    ecr: {mode: token, region: us-east-1}
targets:
  - repository: octo-org/api
    registries: [ECR]
"""


def test_ecr_token_mode_logs_in_with_the_minted_token(
    tmp_path: Path, token_registry: TokenRegistry
) -> None:
    (tmp_path / "c.yaml").write_text(ECR_TOKEN)
    config = load_config(tmp_path / "c.yaml")
    token_registry.user = "AWS"
    parts = {"SERVER": token_registry.url, "PASSWORD": token_registry.password}
    resolver = Resolver(tmp_path, {}, {EcrTokenPart: lambda part: parts[part.part]})
    check = doctor.registry_check("ECR", config, resolver, registry_login.login)
    assert check.status == "ok", check


def test_ecr_source_error_is_a_failure_with_its_message(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(ECR_TOKEN)
    config = load_config(tmp_path / "c.yaml")

    def no_aws(part: EcrTokenPart) -> str:
        raise SourceError("ECR authorization token (us-east-1): no AWS credentials")

    resolver = Resolver(tmp_path, {}, {EcrTokenPart: no_aws})
    check = doctor.registry_check("ECR", config, resolver, registry_login.login)
    assert check.status == "fail" and "no AWS credentials" in check.message


def test_swap_mode_server_must_be_an_ecr_host(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "version: 1\nregistries:\n  KEYS:\n    ecr: {mode: swap}\n    server: {env: SERVER}\n"
        "    username: {env: KEY_ID}\n    password: {env: SECRET_KEY}\n"
        "targets:\n  - repository: octo-org/api\n    registries: [KEYS]\n"
    )
    config = load_config(tmp_path / "c.yaml")
    env = {"SERVER": "mycompany.azurecr.io", "KEY_ID": "AKIAEXAMPLE", "SECRET_KEY": "s"}
    check = doctor.registry_check("KEYS", config, Resolver(tmp_path, env), registry_login.login)
    assert check.status == "fail" and "not a private ECR registry host" in check.message
    env["SERVER"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    check = doctor.registry_check("KEYS", config, Resolver(tmp_path, env), registry_login.login)
    assert check.status == "warn" and "swap" in check.message


@pytest.fixture
def accepting_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real registry: every login is answered by a stand-in that accepts."""
    monkeypatch.setattr(
        registry_login, "login", lambda *a, **k: registry_login.LoginResult(True, "stub", 200)
    )


@pytest.mark.usefixtures("accepting_login")
def test_doctor_a_rejected_token_is_renewed_where_it_came_from_not_given_a_scope(
    tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"GH_ENTERPRISE_TOKEN": "ghp_not_a_sandbox_token", "REG_PASSWORD": "x"}
    code, out, err = run_doctor(tmp_path, gh, capsys, config_for("registry.example.com"), env)
    assert code == 1
    checks = {(c["check"], c["subject"]): c for c in run_json(tmp_path, gh, capsys, env)}
    renew = "replace or renew the token in GH_ENTERPRISE_TOKEN (invalid, expired or revoked)"
    token = checks[("token", "")]
    assert token["status"] == "fail" and token["fix"] == renew
    assert token["message"].endswith("from GH_ENTERPRISE_TOKEN: GitHub rejected it (401)")
    target = checks[("target", "repository:octo-org/api")]
    assert target["status"] == "fail" and target["fix"] == renew
    assert "give the token" not in out and "GH_TOKEN" not in out


def run_json(
    tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str
) -> list[dict[str, str]]:
    config = config_for("registry.example.com")
    _, out, _ = run_doctor(tmp_path, gh, capsys, config, env, "--json", *args)
    found: list[dict[str, str]] = json.loads(out)["checks"]
    return found


@pytest.mark.usefixtures("accepting_login")
def test_doctor_a_web_address_as_api_url_is_its_own_check_not_the_tokens(
    tmp_path: Path, gh: GH, capsys: pytest.CaptureFixture[str]
) -> None:
    # The last --api-url wins: the sandbox's, then GitHub's web address.
    found = run_json(tmp_path, gh, capsys, ADMIN, "--api-url", "https://github.com")
    failed = [c for c in found if c["status"] == "fail"]
    assert failed == [
        {
            "check": "api-url",
            "subject": "",
            "status": "fail",
            "message": "--api-url: API URL 'https://github.com' is GitHub's web address; "
            "the API is https://api.github.com",
            "fix": doctor.API_URL_FIX,
        }
    ]
    assert not [c for c in found if c["check"] in ("token", "target")]
