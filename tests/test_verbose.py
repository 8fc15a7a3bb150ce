"""``-v``: one line per request on stderr, once answered: method, full URL, final status, time.

DESIGN.md section 2: request lines, never bodies; no token or value in them either.
"""

from __future__ import annotations

import re

from provisioner.github.answers import request_line
from tests.support.e2e import ACR_PASSWORD, HUB_TOKEN, Cli

LINE = re.compile(r"(GET|PUT|DELETE) (?P<url>\S+) (?P<status>\d{3}|failed) \(\d+ ms\)")


def request_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if LINE.fullmatch(line)]


def test_plan_v_prints_full_urls_with_their_statuses(cli: Cli) -> None:
    code, _, err = cli("plan", "-v")
    assert code == 0, err
    base = cli.gh.sandbox.url  # http://127.0.0.1:PORT: scheme, host and port in every line
    lines = request_lines(err)
    assert len(lines) == len(cli.requests())  # one line per request, none for anything else
    assert all(line.split()[1].startswith(base + "/") for line in lines), lines
    assert f"GET {base}/orgs/octo-org/codespaces/secrets?per_page=100 200 (" in err
    assert f"GET {base}/user 200 (" in err
    assert "ghp_sandbox_admin" not in err


def test_apply_v_prints_writes_with_the_status_github_gave(cli: Cli) -> None:
    code, _, err = cli.apply("-v")
    assert code == 0, err
    base = cli.gh.sandbox.url
    puts = [line for line in request_lines(err) if line.startswith("PUT ")]
    assert len(puts) == 9
    secret = "ACR_CONTAINER_REGISTRY_PASSWORD"
    assert f"PUT {base}/orgs/octo-org/codespaces/secrets/{secret} 201 (" in err
    for hidden in ("ghp_sandbox_admin", ACR_PASSWORD, HUB_TOKEN, "encrypted_value", "key_id"):
        assert hidden not in err


def test_a_retried_request_is_one_line_with_its_final_status(cli: Cli) -> None:
    cli.env["PROVISION_RETRY_FLOOR"] = "0.001"
    cli.gh.admin("POST", "faults", {"fail_every": 2})  # every second request: 502
    code, _, err = cli("plan", "-v")
    assert code == 0, err
    statuses = [line.split()[2] for line in request_lines(err)]
    assert set(statuses) == {"200"}  # the 502s were retried: the final answers are 200
    assert len(statuses) < len(cli.requests())  # lines per request, not per attempt


def test_without_v_there_are_no_request_lines(cli: Cli) -> None:
    code, _, err = cli("plan")
    assert code == 0, err
    assert request_lines(err) == []


def test_the_line_leaves_out_credentials_in_the_url_and_says_when_nothing_came_back() -> None:
    line = request_line("GET", "https://u:pw@api.example.com:8443/user", {"page": 2}, None, 0.0125)
    assert line == "GET https://api.example.com:8443/user?page=2 failed (12 ms)"
    assert request_line("GET", "http://[::1]:9/x?a=1", {"b": 2}, 404, 1) == (
        "GET http://[::1]:9/x?a=1&b=2 404 (1000 ms)"
    )
