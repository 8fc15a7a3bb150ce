"""Truth tables for the config rules: each case names the exact line:column of its problem."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from provisioner.config import (
    CommandSource,
    Config,
    EnvSource,
    Literal,
    OrgTarget,
    RepositoryTarget,
    UserTarget,
    load_config,
)
from provisioner.errors import ConfigError
from provisioner.hosts import is_private_ecr_host

# Registry cases start on line 7; ACR (lines 3-6) is always there for the target to use.
REGISTRY_DOC = """\
version: 1
registries:
  ACR:
    server: mycompany.azurecr.io
    username: pull
    password: {{env: ACR_PASSWORD}}
{case}targets:
  - repository: octo-org/api
    registries: [ACR]
"""

# Target cases start on line 12.
TARGET_DOC = """\
version: 1
registries:
  ACR:
    server: mycompany.azurecr.io
    username: pull
    password: {{env: ACR_PASSWORD}}
  GAR:
    server: us-docker.pkg.dev
    username: oauth2accesstoken
    password: {{command: [gcloud, auth, print-access-token]}}
targets:
{case}"""


def run(tmp_path: Path, text: str) -> tuple[list[str], list[str], Config | None]:
    """Load ``text``; return (problems, warnings, config) without the file name prefix."""
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    prefix = f"{path}:"
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert all(p.startswith(prefix) for p in exc.problems), exc.problems
        return [p.removeprefix(prefix) for p in exc.problems], [], None
    return [], [str(w).removeprefix(prefix) for w in config.warnings], config


def assert_reported(lines: list[str], where: str, message: str) -> None:
    assert any(line.startswith(f"{where}: ") and message in line for line in lines), (
        f"expected {where}: ...{message}... in:\n" + "\n".join(lines)
    )


REGISTRY_ERRORS = [
    (
        "unknown key",
        "  X:\n    server: s\n    usrname: u\n    password: {env: P}\n",
        "9:5",
        "unknown key 'usrname' (did you mean 'username'?)",
    ),
    (
        "wrong type",
        "  X:\n    server: 5\n    username: u\n    password: {env: P}\n",
        "8:13",
        "expected a string (a literal) or a value source mapping",
    ),
    (
        "missing password",
        "  X:\n    server: s\n    username: u\n",
        "8:5",
        "missing required key 'password'",
    ),
    (
        "missing server",
        "  X:\n    username: u\n    password: {env: P}\n",
        "8:5",
        "missing required key 'server'",
    ),
    (
        "password literal",
        "  X:\n    server: s\n    username: u\n    password: hunter2\n",
        "10:15",
        "a password can never be a literal",
    ),
    (
        "leading digit",
        "  1X:\n    server: s\n    username: u\n    password: {env: P}\n",
        "7:3",
        "registry ID '1X' must not start with a digit",
    ),
    (
        "hyphen",
        "  MY-REG:\n    server: s\n    username: u\n    password: {env: P}\n",
        "7:3",
        "may contain only letters, digits and '_'",
    ),
    (
        "GITHUB id",
        "  github:\n    server: s\n    username: u\n    password: {env: P}\n",
        "7:3",
        "'GITHUB_CONTAINER_REGISTRY_SERVER' must not start with 'GITHUB_'",
    ),
    (
        "GITHUB_ prefix",
        "  GITHUB_X:\n    server: s\n    username: u\n    password: {env: P}\n",
        "7:3",
        "must not start with 'GITHUB_'",
    ),
    (
        "case duplicate",
        "  acr:\n    server: s\n    username: u\n    password: {env: P}\n",
        "7:3",
        "registry IDs 'ACR' and 'acr' differ only in case",
    ),
    (
        "duplicate YAML key",
        "  ACR:\n    server: s\n",
        "7:3",
        "duplicate key 'ACR' (first defined on line 3)",
    ),
    (
        "two sources",
        "  X:\n    server: s\n    username: {env: A, file: b}\n    password: {env: P}\n",
        "9:15",
        "takes exactly one of env, file, command, aws_secretsmanager, aws_ssm; got env and file",
    ),
    (
        "no source",
        "  X:\n    server: s\n    username: u\n    password: {enb: P}\n",
        "10:15",
        "needs one of env, file, command, aws_secretsmanager, aws_ssm (did you mean 'env'?)",
    ),
    (
        "unknown source key",
        "  X:\n    server: s\n    username: u\n    password: {env: P, kye: f}\n",
        "10:24",
        "unknown key 'kye' (did you mean 'key'?)",
    ),
    (
        "empty command",
        "  X:\n    server: s\n    username: u\n    password: {command: []}\n",
        "10:25",
        "must not be empty",
    ),
    (
        "zero timeout",
        "  X:\n    server: s\n    username: u\n    password: {command: [a], timeout: 0}\n",
        "10:39",
        "must be greater than 0",
    ),
    (
        "bad ecr mode",
        "  X:\n    ecr: {mode: tokn}\n",
        "8:17",
        "must be 'token' or 'swap', got 'tokn'",
    ),
    (
        "ecr without mode",
        "  X:\n    ecr: {region: us-east-1}\n",
        "8:10",
        "missing required key 'mode' (token or swap)",
    ),
    (
        "registry_id number",
        "  X:\n    ecr: {mode: token, registry_id: 123456789012}\n",
        "8:37",
        "expected a string, got a number (YAML reads unquoted digits as a number): quote it",
    ),
    (
        "registry_id short",
        "  X:\n    ecr: {mode: token, registry_id: '12345'}\n",
        "8:37",
        "'12345' is not a 12-digit AWS account ID",
    ),
    (
        "token server",
        "  X:\n    ecr: {mode: token}\n    server: s\n",
        "9:5",
        "'server' is not allowed with ecr.mode: token",
    ),
    (
        "token username",
        "  X:\n    ecr: {mode: token}\n    username: AWS\n",
        "9:5",
        "'username' is not allowed with ecr.mode: token",
    ),
    (
        "token password",
        "  X:\n    ecr: {mode: token}\n    password: {env: P}\n",
        "9:5",
        "'password' is not allowed with ecr.mode: token",
    ),
    (
        "token rotate 12h",
        "  X:\n    ecr: {mode: token, rotate_after: 12h}\n",
        "8:38",
        "must be shorter than 12h",
    ),
    (
        "token rotate 1d",
        "  X:\n    ecr: {mode: token, rotate_after: 1d}\n",
        "8:38",
        "must be shorter than 12h",
    ),
    (
        "token top rotate_after",
        "  X:\n    ecr: {mode: token}\n    rotate_after: 1h\n",
        "9:5",
        "for ecr.mode: token, set rotate_after under 'ecr:'",
    ),
    (
        "swap ecr.rotate_after",
        "  X:\n    ecr: {mode: swap, rotate_after: 1h}\n    server: 123456789012.dkr.ecr.us-east-1"
        ".amazonaws.com\n    username: {env: A}\n    password: {env: P}\n",
        "8:23",
        "ecr.rotate_after applies to mode: token only",
    ),
    (
        "swap ecr.region",
        "  X:\n    ecr: {mode: swap, region: eu-west-1}\n    server: 123456789012.dkr.ecr.us-east-1"
        ".amazonaws.com\n    username: {env: A}\n    password: {env: P}\n",
        "8:23",
        "ecr.region applies to mode: token only; with mode: swap the server names",
    ),
    (
        "swap ecr.registry_id",
        "  X:\n    ecr: {mode: swap, registry_id: '123456789012'}\n    server: 123456789012.dkr."
        "ecr.us-east-1.amazonaws.com\n    username: {env: A}\n    password: {env: P}\n",
        "8:23",
        "ecr.registry_id applies to mode: token only",
    ),
    (
        "swap needs credentials",
        "  X:\n    ecr: {mode: swap}\n",
        "8:5",
        "missing required key 'server'",
    ),
    (
        "swap not ECR",
        "  X:\n    ecr: {mode: swap}\n    server: mycompany.azurecr.io\n"
        "    username: {env: A}\n    password: {env: P}\n",
        "9:13",
        "'mycompany.azurecr.io' is not a private ECR registry host",
    ),
    (
        "duration words",
        "  X:\n    server: s\n    username: u\n    password: {env: P}\n    rotate_after: 6 hours\n",
        "11:19",
        "expected a duration like '6h'",
    ),
    (
        "duration zero",
        "  X:\n    server: s\n    username: u\n    password: {env: P}\n    rotate_after: 0s\n",
        "11:19",
        "a duration must be longer than zero",
    ),
    (
        "duration number",
        "  X:\n    server: s\n    username: u\n    password: {env: P}\n    rotate_after: 3600\n",
        "11:19",
        "expected a duration like '6h', '45m'",
    ),
    (
        "duration negative",
        "  X:\n    server: s\n    username: u\n    password: {env: P}\n    rotate_after: -1h\n",
        "11:19",
        "expected a duration",
    ),
    (
        "duration order",
        "  X:\n    server: s\n    username: u\n    password: {env: P}\n    rotate_after: 30m1h\n",
        "11:19",
        "expected a duration",
    ),
    (
        "region boolean",
        "  X:\n    ecr: {mode: token, region: on}\n",
        "8:32",
        "expected a string, got a boolean (YAML reads unquoted yes, no, on, off as booleans)",
    ),
    ("not a mapping", "  X: [server]\n", "7:6", "expected a mapping, got a list"),
    (
        "yes is a boolean",
        "  X:\n    server: s\n    username: yes\n    password: {env: P}\n",
        "9:15",
        "expected a string (a literal) or a value source mapping such as {env: NAME}, got a"
        " boolean",
    ),
]


@pytest.mark.parametrize(
    ("case", "where", "message"),
    [pytest.param(c, w, m, id=name) for name, c, w, m in REGISTRY_ERRORS],
)
def test_registry_rule_errors(tmp_path: Path, case: str, where: str, message: str) -> None:
    problems, _, _ = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert_reported(problems, where, message)


REGISTRY_VALID = [
    (
        "literal server and username",
        "  X:\n    server: s\n    username: u\n    password: {env: P}\n",
    ),
    (
        "all sources",
        "  X:\n    server: {file: server.txt}\n    username: {aws_ssm: /u, region: eu-west-1}\n"
        "    password: {aws_secretsmanager: prod/x, key: secret, region: us-east-1}\n",
    ),
    (
        "command with timeout",
        "  X:\n    server: s\n    username: u\n"
        "    password: {command: [gcloud, auth, print-access-token], timeout: 10}\n",
    ),
    ("token minimal", "  ECR:\n    ecr: {mode: token}\n"),
    (
        "token rotate 11h59m",
        "  ECR:\n    ecr: {mode: token, rotate_after: 11h59m, registry_id: "
        "'123456789012', region: us-east-1}\n",
    ),
    (
        "swap with source server",
        "  X:\n    ecr: {mode: swap}\n    server: {env: ECR_SERVER}\n"
        "    username: {env: A}\n    password: {env: P}\n",
    ),
    (
        "swap with rotate_after",
        "  X:\n    ecr: {mode: swap}\n    server: https://123456789012.dkr.ecr"
        ".eu-west-1.amazonaws.com/\n    username: AKIAEXAMPLE\n    password: {env: P}\n"
        "    rotate_after: 30d\n",
    ),
    (
        "durations",
        "  X:\n    server: s\n    username: u\n    password: {env: P}\n    rotate_after: 1h30m\n",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=n) for n, c in REGISTRY_VALID])
def test_registry_rule_valid(tmp_path: Path, case: str) -> None:
    problems, warnings, config = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert problems == []
    assert warnings == []
    assert config is not None


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ('"x .io"', "has a space or a control character"),
        ('"gs://bucket/x"', "has the scheme 'gs'"),
        ('"registry.example.com:99999"', "has a port that is not a number"),
        ('"https://user@registry.example.com"', "has a user, a query or a fragment"),
        ('"-bad.example.com"', "has no valid host name"),
        ('"a..example.com"', "has no valid host name"),
    ],
)
def test_a_server_that_is_not_a_registry_address(tmp_path: Path, server: str, message: str) -> None:
    """A codespace's docker login gets SERVER as written: a typo there would fail only in the
    codespace, at every start."""
    case = f"  OTHER:\n    server: {server}\n    username: u\n    password: {{env: P}}\n"
    problems, _, _ = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert_reported(problems, "8:13", "is not a registry address: it " + message)


@pytest.mark.parametrize(
    "server",
    ["localhost:5000", "127.0.0.1:5000", "[::1]:5000", "http://localhost:5000", "Quay.IO/v2/"],
)
def test_registry_addresses_of_every_form_are_accepted(tmp_path: Path, server: str) -> None:
    case = f"  OTHER:\n    server: '{server}'\n    username: u\n    password: {{env: P}}\n"
    problems, warnings, _ = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert (problems, warnings) == ([], [])


@pytest.mark.parametrize(
    ("server", "where"),
    [
        ("ghcr.io", "8:13"),
        ("https://ghcr.io/", "8:13"),
        ("GHCR.IO", "8:13"),
        ("npm.pkg.github.com", "8:13"),
    ],
)
def test_github_package_registries_warn(tmp_path: Path, server: str, where: str) -> None:
    case = f"  GHCR:\n    server: {server}\n    username: u\n    password: {{env: P}}\n"
    problems, warnings, _ = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert problems == []
    assert len(warnings) == 1
    assert_reported(warnings, where, "warning: ")
    assert "package-level access" in warnings[0]


def test_asia_access_key_warns(tmp_path: Path) -> None:
    case = (
        "  ECR_KEYS:\n    ecr: {mode: swap}\n"
        "    server: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n"
        "    username: ASIAIOSFODNN7EXAMPLE\n    password: {env: P}\n"
    )
    problems, warnings, _ = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert problems == []
    assert_reported(warnings, "10:15", "warning: this access key ID starts with 'ASIA'")


GOOD_ECR_HOSTS = [
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "123456789012.dkr.ecr.us-west-2.amazonaws.com",
    "https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
    "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/",
    "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
    "210987654321.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
    "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
    "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
    "123456789012.dkr-ecr.us-west-2.on.aws",
    "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws",
    "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
    "210987654321.dkr.ecr.us-iso-east-1.c2s.ic.gov",
    "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
    "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
    "123456789012.dkr.ecr.us-isof-east-1.csp.hci.ic.gov",
    "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
]
BAD_ECR_HOSTS = [
    "public.ecr.aws",
    "https://public.ecr.aws",
    "ecr-public.aws.com",
    "12345678901.dkr.ecr.us-east-1.amazonaws.com",
    "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
    "123456789012.dkr.ecr.us-west-2.amazonaws.com.fake.example.com",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com",
    "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com.fake.example.com",
    "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn.fake.example.com.cn",
    "123456789012.dkr-ecr.us-west-2.on.aws.com.cn",
    ".dkr.ecr.not-real.amazonaws.com",
    "not.ecr.io",
    "http://123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com\n",
    "x123456789012.dkr.ecr.us-east-1.amazonaws.com",
]


@pytest.mark.parametrize("host", GOOD_ECR_HOSTS)
def test_swap_accepts_private_ecr_hosts(tmp_path: Path, host: str) -> None:
    assert is_private_ecr_host(host)
    case = (
        f"  ECR_KEYS:\n    ecr: {{mode: swap}}\n    server: '{host}'\n"
        "    username: {env: A}\n    password: {env: P}\n"
    )
    problems, warnings, _ = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert (problems, warnings) == ([], [])


@pytest.mark.parametrize("host", BAD_ECR_HOSTS)
def test_swap_rejects_other_hosts(tmp_path: Path, host: str) -> None:
    assert not is_private_ecr_host(host)
    quoted = host.replace("\n", "\\n")
    case = (
        f'  ECR_KEYS:\n    ecr: {{mode: swap}}\n    server: "{quoted}"\n'
        "    username: {env: A}\n    password: {env: P}\n"
    )
    problems, _, _ = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert_reported(problems, "9:13", "is not a private ECR registry host")


TARGET_ERRORS = [
    (
        "org visibility required",
        "  - org: octo-org\n    registries: [ACR]\n",
        "12:5",
        "missing required key 'visibility'",
    ),
    (
        "org repositories need selected",
        "  - org: octo-org\n    registries: [ACR]\n    visibility: all\n    repositories: [api]\n",
        "15:5",
        "'repositories' is only allowed with visibility: selected (this target has "
        "visibility: all)",
    ),
    (
        "org private with repositories",
        "  - org: octo-org\n    registries: [ACR]\n    visibility: private\n"
        "    repositories: [api]\n",
        "15:5",
        "only allowed with visibility: selected",
    ),
    (
        "org selected needs repositories",
        "  - org: octo-org\n    registries: [ACR]\n    visibility: selected\n",
        "14:17",
        "visibility: selected needs 'repositories'",
    ),
    (
        "org bad visibility",
        "  - org: octo-org\n    registries: [ACR]\n    visibility: public\n",
        "14:17",
        "must be 'all', 'private' or 'selected', got 'public'",
    ),
    (
        "org repository with owner",
        "  - org: octo-org\n    registries: [ACR]\n    repositories: [api, octo-org/web]\n",
        "14:25",
        "'octo-org/web': list repositories of an org by name (no 'owner/')",
    ),
    (
        "org typo",
        "  - org: octo-org\n    registries: [ACR]\n    visiblity: all\n",
        "14:5",
        "unknown key 'visiblity' (did you mean 'visibility'?)",
    ),
    (
        "user needs repositories",
        "  - user: octocat\n    registries: [ACR]\n",
        "12:5",
        "missing required key 'repositories'",
    ),
    (
        "user empty repositories",
        "  - user: octocat\n    registries: [ACR]\n    repositories: []\n",
        "14:19",
        "must not be empty",
    ),
    (
        "user repository not owner/name",
        "  - user: octocat\n    registries: [ACR]\n    repositories: [octo-org/api, dotfiles]\n",
        "14:34",
        "'dotfiles' is not an 'owner/name' repository",
    ),
    (
        "repository not owner/name",
        "  - repository: legacy\n    registries: [ACR]\n",
        "12:17",
        "'legacy' is not an 'owner/name' repository",
    ),
    (
        "no target kind",
        "  - registries: [ACR]\n    organization: octo-org\n",
        "12:5",
        "a target needs one of 'org', 'repository' or 'user'",
    ),
    (
        "two target kinds",
        "  - org: octo-org\n    user: octocat\n    registries: [ACR]\n",
        "13:5",
        "a target takes exactly one of 'org', 'repository' or 'user'; got 'org' and 'user'",
    ),
    ("target not a mapping", "  - octo-org\n", "12:5", "expected a mapping, got a string"),
    (
        "registries missing",
        "  - repository: octo-org/api\n",
        "12:5",
        "missing required key 'registries'",
    ),
    (
        "registries empty",
        "  - repository: octo-org/api\n    registries: []\n",
        "13:17",
        "must not be empty",
    ),
    (
        "unknown registry",
        "  - repository: octo-org/api\n    registries: [ACR, ACRR]\n",
        "13:23",
        "unknown registry 'ACRR' (did you mean 'ACR'?)",
    ),
    (
        "registry reference case",
        "  - repository: octo-org/api\n    registries: [gar]\n",
        "13:18",
        "unknown registry 'gar' (did you mean 'GAR'? IDs are case-sensitive here)",
    ),
    (
        "registry twice",
        "  - repository: octo-org/api\n    registries: [ACR, GAR, ACR]\n",
        "13:28",
        "the same secret name twice on one target: ACR_CONTAINER_REGISTRY_*",
    ),
    (
        "same org twice",
        "  - org: octo-org\n    registries: [ACR]\n    visibility: all\n"
        "  - org: Octo-Org\n    registries: [GAR, ACR]\n    visibility: private\n",
        "16:23",
        "the same secret name twice on one target: ACR_CONTAINER_REGISTRY_* (registry "
        "'ACR') on org:Octo-Org again (see line 13)",
    ),
    (
        "same repository twice",
        "  - repository: octo-org/api\n    registries: [GAR]\n"
        "  - repository: octo-org/API\n    registries: [GAR]\n",
        "15:18",
        "the same secret name twice on one target",
    ),
]


@pytest.mark.parametrize(
    ("case", "where", "message"),
    [pytest.param(c, w, m, id=name) for name, c, w, m in TARGET_ERRORS],
)
def test_target_rule_errors(tmp_path: Path, case: str, where: str, message: str) -> None:
    problems, _, _ = run(tmp_path, TARGET_DOC.format(case=case))
    assert_reported(problems, where, message)


TARGET_VALID = [
    ("org all", "  - org: octo-org\n    registries: [ACR]\n    visibility: all\n"),
    ("org private", "  - org: octo-org\n    registries: [ACR]\n    visibility: private\n"),
    (
        "org globs",
        "  - org: octo-org\n    registries: [ACR]\n    repositories: ['svc-*', api, "
        "'web?', '[ab]*']\n",
    ),
    (
        "two users' repositories",
        "  - user: octocat\n    registries: [ACR, GAR]\n"
        "    repositories: [octo-org/api, octocat/dotfiles]\n",
    ),
    (
        "same target, other registries",
        "  - repository: octo-org/api\n    registries: [ACR]\n"
        "  - repository: octo-org/api\n    registries: [GAR]\n",
    ),
    (
        "org and repository",
        "  - org: octo-org\n    registries: [ACR]\n    visibility: all\n"
        "  - repository: octo-org/api\n    registries: [ACR]\n",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=n) for n, c in TARGET_VALID])
def test_target_rule_valid(tmp_path: Path, case: str) -> None:
    problems, warnings, config = run(tmp_path, TARGET_DOC.format(case=case))
    assert (problems, warnings) == ([], [])
    assert config is not None


TOP_ERRORS = [
    (
        "unknown top key",
        "version: 1\nregistry: {}\n",
        "2:1",
        "unknown key 'registry' (did you mean 'registries'?)",
    ),
    ("version missing", "registries: {}\n", "1:1", "missing required key 'version'"),
    ("version 2", "version: 2\n", "1:10", "unsupported version 2: expected 1"),
    ("version string", "version: '1'\n", "1:10", "unsupported version '1'"),
    ("registries missing", "version: 1\n", "1:1", "missing required key 'registries'"),
    ("registries empty", "version: 1\nregistries: {}\n", "2:13", "registries: at least one entry"),
    (
        "registries a list",
        "version: 1\nregistries: [ACR]\n",
        "2:13",
        "expected a mapping of registry IDs, got a list",
    ),
    ("targets missing", "version: 1\n", "1:1", "missing required key 'targets'"),
    ("targets empty", "version: 1\ntargets: []\n", "2:10", "targets: at least one entry"),
    (
        "targets a mapping",
        "version: 1\ntargets: {org: x}\n",
        "2:10",
        "expected a list of targets, got a mapping",
    ),
    (
        "github http",
        "version: 1\ngithub: {api_url: 'http://example.com'}\n",
        "2:19",
        "must use https (plain http only for loopback hosts)",
    ),
    (
        "github not a URL",
        "version: 1\ngithub: {api_url: api.github.com}\n",
        "2:19",
        "'api.github.com' is not an http(s) URL",
    ),
    (
        "github unknown key",
        "version: 1\ngithub: {apiurl: x}\n",
        "2:10",
        "unknown key 'apiurl' (did you mean 'api_url'?)",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [pytest.param(t, w, m, id=name) for name, t, w, m in TOP_ERRORS],
)
def test_top_level_errors(tmp_path: Path, text: str, where: str, message: str) -> None:
    problems, _, _ = run(tmp_path, text)
    assert_reported(problems, where, message)


@pytest.mark.parametrize(
    "api_url", ["https://api.octocorp.ghe.com", "http://127.0.0.1:8080", "http://localhost:9/api"]
)
def test_github_api_url_valid(tmp_path: Path, api_url: str) -> None:
    text = TARGET_DOC.format(case="  - repository: octo-org/api\n    registries: [ACR]\n")
    text = text.replace("version: 1\n", f"version: 1\ngithub:\n  api_url: {api_url}\n")
    problems, _, config = run(tmp_path, text)
    assert problems == []
    assert config is not None and config.github.api_url == api_url


def test_every_problem_reported_at_once_sorted(tmp_path: Path) -> None:
    text = """\
version: 1
registries:
  BAD-ID:
    server: s
    username: u
    password: literal
  GOOD:
    server: s
    username: {env: U}
    password: {env: P}
    rotate_after: soon
targets:
  - org: octo-org
    registries: [GOOD, MISSING]
    visiblity: all
  - user: octocat
    registries: [GOOD]
"""
    problems, _, _ = run(tmp_path, text)
    assert problems == [
        "3:3: invalid registry ID: registry ID 'BAD-ID' may contain only letters, digits and '_'",
        "6:15: a password can never be a literal: use a value source such as {env: NAME}, "
        "{file: PATH}, {command: [...]}, {aws_secretsmanager: ID} or {aws_ssm: NAME}",
        "11:19: expected a duration like '6h', '45m', '90s', '1h30m' or '2d', got 'soon'",
        "13:5: missing required key 'visibility' (all, private or selected; it defaults to "
        "selected only when 'repositories' is given)",
        # Found in the same pass though the target failed validation for another reason.
        "14:24: unknown registry 'MISSING'",
        "15:5: unknown key 'visiblity' (did you mean 'visibility'?)",
        "16:5: missing required key 'repositories' (a user secret is visible to the listed "
        "repositories only)",
    ]


def test_parsed_model(tmp_path: Path) -> None:
    text = TARGET_DOC.format(
        case="  - org: octo-org\n    registries: [ACR, GAR]\n    repositories: [api]\n"
        "  - repository: octo-org/legacy\n    registries: [GAR]\n"
        "  - user: octocat\n    registries: [ACR]\n    repositories: [octo-org/api]\n"
    ).replace("version: 1\n", "version: 1\n# a comment\n")
    _, _, config = run(tmp_path, text)
    assert config is not None
    assert list(config.registries) == ["ACR", "GAR"]
    acr, gar = config.registries["ACR"], config.registries["GAR"]
    assert acr.server == Literal(value="mycompany.azurecr.io")
    assert acr.password == EnvSource(env="ACR_PASSWORD")
    assert gar.password == CommandSource(command=("gcloud", "auth", "print-access-token"))
    assert not acr.is_ecr_token and acr.rotation_period is None
    assert len({acr.password, gar.password, EnvSource(env="ACR_PASSWORD")}) == 2  # hashable
    org, repo, user = config.targets
    assert isinstance(org, OrgTarget) and org.visibility == "selected"
    assert org.repositories == ("api",) and org.registries == ("ACR", "GAR")
    assert isinstance(repo, RepositoryTarget) and isinstance(user, UserTarget)
    assert [t.label for t in config.targets] == [
        "org:octo-org",
        "repository:octo-org/legacy",
        "user:octocat",
    ]
    assert [(t.scope, t.name) for t in config.targets][1] == ("repository", "octo-org/legacy")
    assert config.base_dir == tmp_path
    assert config.path == tmp_path / "config.yaml"


@pytest.mark.parametrize(
    ("ecr", "top", "period"),
    [
        ("{mode: token}", "", timedelta(hours=6)),
        ("{mode: token, rotate_after: 2h}", "", timedelta(hours=2)),
        ("{mode: token, rotate_after: 90s}", "", timedelta(seconds=90)),
        ("{mode: swap}", "    rotate_after: 2d\n", timedelta(days=2)),
        ("{mode: swap}", "", None),
    ],
)
def test_rotation_period(tmp_path: Path, ecr: str, top: str, period: timedelta | None) -> None:
    creds = (
        "    server: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n"
        "    username: {env: A}\n    password: {env: P}\n"
    )
    case = f"  ECR:\n    ecr: {ecr}\n{creds if 'swap' in ecr else ''}{top}"
    problems, _, config = run(tmp_path, REGISTRY_DOC.format(case=case))
    assert problems == []
    assert config is not None
    registry = config.registries["ECR"]
    assert registry.is_ecr_token == ("token" in ecr)
    assert registry.rotation_period == period


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as excinfo:
        load_config(missing)
    assert excinfo.value.problems == [f"{missing}: cannot read: No such file or directory"]
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path)
    assert excinfo.value.problems == [f"{tmp_path}: cannot read: Is a directory"]


def test_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text("version: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_config(Path("c.yaml"))
    assert "c.yaml:1:10: unsupported version 2: expected 1" in excinfo.value.problems


@pytest.mark.parametrize("name", ["team.yaml", "example.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    config = load_config(Path(__file__).parents[2] / "configs" / name)
    assert config.warnings == ()
