"""Each fault knob of the sandbox against a full apply: decrypted end state and exit code."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from provisioner.github.client import GitHubClient
from tests.faults.conftest import EXPECTED, assert_converged, faults, successful_puts, values
from tests.support.e2e import CONFIG, Cli, kinds


def test_secondary_limit_on_the_first_writes_is_retried_without_duplicates(fcli: Cli) -> None:
    faults(fcli, secondary_limit_writes=4, retry_after=0)
    code, out, err = fcli.apply("--json")
    assert code == 0, err
    report = json.loads(out)
    assert {c["result"] for c in report["changes"]} == {"ok"}
    log = fcli.requests()
    refused = [r for r in log if r["status"] == 403]
    assert len(refused) == 4 and all(r["method"] == "PUT" for r in refused)
    # Each secret was created exactly once: a refused write changed nothing, its retry did.
    assert set(successful_puts(fcli).values()) == {1}
    assert "secondary rate limit" in err and "retrying in" in err
    assert_converged(fcli)


def test_retry_after_is_waited(fcli: Cli) -> None:
    faults(fcli, secondary_limit_writes=2, retry_after=1)
    start = time.monotonic()
    code, _, err = fcli.apply()
    assert code == 0, err
    assert time.monotonic() - start >= 2.0
    assert "Retry-After 1s" in err
    assert_converged(fcli)


def test_502_every_third_request_converges(fcli: Cli) -> None:
    faults(fcli, fail_every=3)
    code, out, err = fcli.apply()
    assert code == 0, err
    assert "Apply: 9 done, 0 failed, 0 not attempted." in out
    assert sum(1 for r in fcli.requests() if r["status"] == 502) >= 5
    # A write retried after a 502 is the same idempotent PUT: never a second secret.
    assert all(n >= 1 for n in successful_puts(fcli).values())
    assert values(fcli) == EXPECTED
    faults(fcli, fail_every=3)  # a plan under the same faults reads through them too
    code, out, err = fcli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    assert_converged(fcli)


def test_latency(fcli: Cli) -> None:
    faults(fcli, latency=0.05)
    code, _, err = fcli.apply()
    assert code == 0, err
    assert_converged(fcli)


def test_key_rotation_after_some_writes_is_recovered(fcli: Cli) -> None:
    faults(fcli, rotate_key_after_writes=2)
    code, out, err = fcli.apply()
    assert code == 0, err
    log = fcli.requests()
    stale = [r for r in log if r["status"] == 422]
    assert stale and all(r["method"] == "PUT" for r in stale)
    # One extra key fetch per rejected target, no more.
    assert kinds(log)["GET public-key"] == 3 + len(stale)
    assert_converged(fcli)


def test_keys_rotated_mid_run_are_recovered(fcli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = GitHubClient.put_secret
    calls = 0

    def put_then_rotate(self: GitHubClient, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        real_put(self, *args, **kwargs)
        calls += 1
        if calls in (1, 5):  # GitHub rotates every key twice during the run
            faults(fcli, rotate_keys=True)

    monkeypatch.setattr(GitHubClient, "put_secret", put_then_rotate)
    code, _, err = fcli.apply()
    assert code == 0, err
    assert sum(1 for r in fcli.requests() if r["status"] == 422) >= 2
    assert_converged(fcli)


def test_a_missing_org_among_good_ones(fcli: Cli) -> None:
    fcli.write_config(
        CONFIG
        + "  - org: free-org\n    registries: [ACR]\n    visibility: all\n"
        + "  - org: ghost-org\n    registries: [ACR]\n    visibility: private\n"
    )
    code, out, err = fcli.apply("--json")
    assert code == 1
    report = json.loads(out)
    assert sorted(e["target"] for e in report["errors"]) == ["free-org", "ghost-org"]
    errors = {e["target"]: e["error"] for e in report["errors"]}
    assert "need a plan that includes them" in errors["free-org"]
    assert "no such organization, or not visible to this token" in errors["ghost-org"]
    assert "admin:org" not in errors["free-org"] + errors["ghost-org"]  # the token has it
    assert Counter(c["result"] for c in report["changes"]) == {"ok": 9}
    assert values(fcli) == EXPECTED
    fcli.write_config(CONFIG)
    assert_converged(fcli)


def test_a_token_without_admin_org(fcli: Cli) -> None:
    fcli.env["GH_TOKEN"] = "ghp_no_org"
    code, out, err = fcli.apply()
    assert code == 1
    assert "org:octo-org: permission denied: the token lacks the admin:org scope" in err
    assert "Apply: 6 done, 0 failed, 0 not attempted." in out
    assert {k for k in values(fcli) if k[0] == "org"} == set()
    assert len(values(fcli)) == 6
    state = fcli.state_text()
    assert "octo-org/legacy" in state and '"scope": "org"' not in state
    fcli.env["GH_TOKEN"] = "ghp_sandbox_admin"
    assert fcli.apply()[0] == 0
    assert_converged(fcli)


def test_an_app_installation_token_is_refused_user_targets(fcli: Cli) -> None:
    fcli.env["GH_TOKEN"] = "ghs_app_installation"
    code, out, err = fcli.apply()
    assert code == 1
    assert "user:octocat: a GitHub App installation token cannot manage user Codespaces" in err
    assert not [k for k in fcli.requests() if k["path"].startswith("/user/codespaces")]
    assert {k[0] for k in values(fcli)} == {"org", "repository"}
    fcli.env["GH_TOKEN"] = "github_pat_fine"  # fine-grained: all three levels
    assert fcli.apply()[0] == 0
    assert_converged(fcli)


def test_writes_refused_until_the_retries_run_out_fail_and_the_next_run_converges(
    fcli: Cli,
) -> None:
    faults(fcli, secondary_limit_writes=1000, retry_after=0)
    code, out, err = fcli.apply("--json")
    assert code == 1
    report = json.loads(out)
    results = Counter((c["target"], c["result"]) for c in report["changes"])
    # The first write of each target fails (after the retries), the rest are not attempted.
    assert results == {
        ("octo-org", "failed"): 1,
        ("octo-org", "not-attempted"): 2,
        ("octo-org/legacy", "failed"): 1,
        ("octo-org/legacy", "not-attempted"): 2,
        ("octocat", "failed"): 1,
        ("octocat", "not-attempted"): 2,
    }
    failed = [c for c in report["changes"] if c["result"] == "failed"]
    for change in failed:
        assert change["error"].startswith(f"{change['scope']}:{change['target']}: PUT ")
        assert "secondary rate limit" in change["error"] and "after 8 retries" in change["error"]
    assert values(fcli) == {}
    assert fcli.state_entries() == []
    faults(fcli, secondary_limit_writes=0)
    assert fcli.apply()[0] == 0
    assert_converged(fcli)


def test_a_wait_beyond_max_wait_stops_that_target_naming_the_limit(fcli: Cli) -> None:
    faults(fcli, secondary_limit_writes=1000, retry_after=30)
    start = time.monotonic()
    code, out, err = fcli.apply("--max-wait", "5")
    assert code == 1
    assert time.monotonic() - start < 20
    assert "Retry-After 30s" in out and "would exceed --max-wait 5s" in out
    assert "Apply: 0 done, 3 failed, 6 not attempted." in out
    faults(fcli, secondary_limit_writes=0)
    assert fcli.apply()[0] == 0
    assert_converged(fcli)


def test_a_partial_apply_records_only_what_succeeded(fcli: Cli) -> None:
    # The org's writes are refused (rate limit, no retries left), the others succeed.
    fcli.write_config(CONFIG)
    faults(fcli, secondary_limit_writes=9, retry_after=0)
    code, out, err = fcli.apply("--json", "--max-wait", "0")
    report = json.loads(out)
    done = {
        (c["scope"], c["target"], c["secret"]) for c in report["changes"] if c["result"] == "ok"
    }
    assert (code, len(done)) == (1, 6)  # one target's first write used up the refusals
    assert set(values(fcli)) == done
    recorded = {(e["scope"], e["target"], e["secret"]) for e in fcli.state_entries()}
    assert recorded == done
    faults(fcli, secondary_limit_writes=0)
    assert fcli.apply()[0] == 0
    assert_converged(fcli)
