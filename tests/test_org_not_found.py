"""A 404 on an organization's Codespaces secrets, explained by what ``GET /orgs/{org}`` tells.

GitHub answers 404 alike for an org that does not exist (or is hidden from the token) and
for one whose plan has no Codespaces secrets; the org's own page tells them apart. The
admin:org scope is named only when the token's scopes lack it.
"""

from __future__ import annotations

import json

import pytest

from tests.support.e2e import Cli

CONFIG = """\
version: 1
registries:
  ACR: {{server: acr.example.com, username: u, password: {{env: ACR_PASSWORD}}}}
targets:
  - org: {org}
    registries: [ACR]
    visibility: all
"""
LIST = "GET /orgs/{org}/codespaces/secrets"
MISSING = (
    "org:ghost-org: GET /orgs/ghost-org/codespaces/secrets: 404: "
    "no such organization, or not visible to this token"
)
FREE = (
    "org:free-org: GET /orgs/free-org/codespaces/secrets: 404: the organization exists, but "
    "its Codespaces secrets are not available: organization Codespaces secrets need a plan "
    "that includes them (the org may be on GitHub Free), or the token is not an owner of the org"
)
FREE_NO_SCOPE = (
    "org:free-org: permission denied: the token lacks the admin:org scope "
    "(as an organization owner); its scopes: codespace, repo"
)


@pytest.mark.parametrize(
    ("org", "token", "message"),
    [
        ("ghost-org", "ghp_sandbox_admin", MISSING),
        ("free-org", "ghp_sandbox_admin", FREE),
        ("free-org", "ghp_no_org", FREE_NO_SCOPE),
    ],
)
def test_plan_and_doctor_tell_the_three_cases_apart(
    cli: Cli, org: str, token: str, message: str
) -> None:
    cli.write_config(CONFIG.format(org=org))
    cli.env["GH_TOKEN"] = token
    code, _, err = cli("plan")
    assert code == 1
    assert f"error: {message}\n" in err, err
    assert "Traceback" not in err

    code, out, _ = cli.without_state("doctor", "--json")
    assert code == 1
    target = next(c for c in json.loads(out)["checks"] if c["check"] == "target")
    assert (target["status"], target["message"]) == ("fail", message)
    # "give the token admin:org" only to a token that lacks it.
    assert ("admin:org" in target.get("fix", "")) is (token == "ghp_no_org")
