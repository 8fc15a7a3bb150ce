"""End to end: the CLI against the sandbox over real HTTP; plaintext checked on the other side."""

from __future__ import annotations

import json
import stat
from collections import Counter

from tests.support.e2e import (
    ACR_PASSWORD,
    CONFIG,
    HUB_TOKEN,
    Cli,
    assert_bodies_match_openapi,
    kinds,
)


def test_cold_apply_then_no_op_plan(cli: Cli) -> None:
    code, out, err = cli("plan", "--detailed-exitcode")
    assert code == 2, err
    assert "Plan: 9 to create, 0 to update, 0 to delete." in out
    assert "+ ACR_CONTAINER_REGISTRY_PASSWORD" in out
    assert "repositories: octo-org/api, octo-org/web" in out
    cli.reset_log()

    code, out, err = cli.apply()
    assert code == 0, err
    assert "Apply: 9 done, 0 failed, 0 not attempted." in out
    log = cli.requests()
    assert_bodies_match_openapi(log)
    # Budget: the writes, one list + one key per target, one read-back list per written
    # target, repository resolution (the org's listing also names octo-org/api for the user
    # target, so octocat/dotfiles alone is looked up), and one GET /user (user targets only).
    assert kinds(log) == Counter(
        {
            "PUT secret": 9,
            "GET list": 6,
            "GET public-key": 3,
            "GET repo-listing": 1,
            "GET repo-lookup": 1,
            "GET /user": 1,
        }
    )

    secrets = cli.gh.secrets()
    assert secrets[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"] == ACR_PASSWORD
    assert secrets[("org", "octo-org", "ACR_CONTAINER_REGISTRY_USER")]["value"] == "acr-pull"
    assert secrets[("org", "octo-org", "ACR_CONTAINER_REGISTRY_SERVER")]["repositories"] == [
        "octo-org/api",
        "octo-org/web",
    ]
    assert secrets[("org", "octo-org", "ACR_CONTAINER_REGISTRY_SERVER")]["visibility"] == "selected"
    assert (
        secrets[("repository", "octo-org/legacy", "HUB_CONTAINER_REGISTRY_PASSWORD")]["value"]
        == HUB_TOKEN
    )
    assert secrets[("user", "octocat", "HUB_CONTAINER_REGISTRY_USER")]["value"] == "hubber"
    assert secrets[("user", "octocat", "HUB_CONTAINER_REGISTRY_USER")]["repositories"] == [
        "octo-org/api",
        "octocat/dotfiles",
    ]

    assert stat.S_IMODE(cli.state.stat().st_mode) == 0o700
    shards = sorted(cli.state.glob("*/*.json"))
    assert len(shards) == 3  # one per target
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in shards)
    state_text = cli.state_text()
    assert ACR_PASSWORD not in state_text and HUB_TOKEN not in state_text

    cli.reset_log()
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    # The plan asks who the token is before it reads a user target (another user's
    # secrets are never planned). No selected-repositories read: the state recorded each
    # selection, and GitHub's unchanged updated_at proves it (tests/test_recorded_selection.py).
    assert kinds(cli.requests()) == Counter({"GET list": 3, "GET /user": 1})


def test_value_change_plans_exactly_one_update(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.env["ACR_PASSWORD"] = "acr-MARKER-rotated-3"
    code, out, _ = cli("plan", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["summary"] == {"create": 0, "update": 1, "delete": 0, "unchanged": 8}
    assert plan["changes"] == [
        {
            "action": "update",
            "scope": "org",
            "target": "octo-org",
            "secret": "ACR_CONTAINER_REGISTRY_PASSWORD",
            "registry": "ACR",
            "reasons": ["value-changed"],
            "visibility": "selected",
            "repositories": ["octo-org/api", "octo-org/web"],
        }
    ]
    assert cli.apply()[0] == 0
    assert cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"] == (
        "acr-MARKER-rotated-3"
    )
    assert cli("plan")[1].strip() == "No changes."


def test_drift_after_a_change_in_githubs_ui(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.gh.admin(
        "POST",
        "secrets",
        {
            "scope": "repository",
            "target": "octo-org/legacy",
            "name": "HUB_CONTAINER_REGISTRY_USER",
            "value": "someone",
        },
    )
    code, out, _ = cli("plan")
    assert "~ HUB_CONTAINER_REGISTRY_USER" in out and "(drift)" in out
    assert "Plan: 0 to create, 1 to update, 0 to delete." in out
    assert cli.apply()[0] == 0
    assert (
        cli.gh.secrets()[("repository", "octo-org/legacy", "HUB_CONTAINER_REGISTRY_USER")]["value"]
        == "hubber"
    )


def test_policy_change_does_not_rewrite_values(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.write_config(CONFIG.replace("repositories: [api, web]", "repositories: [api, svc-*]"))
    code, out, _ = cli("plan")
    assert out.count("(repositories-changed)") == 3, out
    assert "repositories: octo-org/api, octo-org/svc-auth, octo-org/svc-billing" in out
    cli.reset_log()
    code, out, err = cli.apply()
    assert code == 0, err
    writes = [(r["method"], r["path"]) for r in cli.requests() if r["method"] != "GET"]
    assert writes == [
        ("PUT", f"/orgs/octo-org/codespaces/secrets/ACR_CONTAINER_REGISTRY_{p}/repositories")
        for p in ("PASSWORD", "SERVER", "USER")
    ]
    assert_bodies_match_openapi(cli.requests())
    secret = cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]
    assert secret["value"] == ACR_PASSWORD
    assert secret["repositories"] == ["octo-org/api", "octo-org/svc-auth", "octo-org/svc-billing"]
    assert cli("plan", "--detailed-exitcode")[0] == 0


def test_visibility_change_rewrites_with_policy(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.write_config(
        CONFIG.replace("    repositories: [api, web]\n", "    visibility: private\n", 1)
    )
    code, out, _ = cli("plan")
    assert out.count("(visibility-changed)") == 3
    assert cli.apply()[0] == 0
    secret = cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_USER")]
    assert (secret["visibility"], secret["value"]) == ("private", "acr-pull")
    assert cli("plan", "--detailed-exitcode")[0] == 0


def test_removed_target_deletes_managed_secrets(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.write_config(
        CONFIG.split("  - repository: octo-org/legacy")[0]
        + "  - user: octocat\n    registries: [HUB]\n"
        "    repositories: [octo-org/api, octocat/dotfiles]\n"
    )
    code, out, _ = cli("plan", "--json")
    plan = json.loads(out)
    assert [(c["action"], c["target"], c["reasons"]) for c in plan["changes"]] == [
        ("delete", "octo-org/legacy", ["not-desired"])
    ] * 3
    assert cli.apply()[0] == 0
    assert not [k for k in cli.gh.secrets() if k[1] == "octo-org/legacy"]
    assert cli("plan", "--detailed-exitcode")[0] == 0
    assert "octo-org/legacy" not in cli.state_text()


def test_unmanaged_listed_and_deleted_only_with_prune(cli: Cli) -> None:
    cli.gh.admin(
        "POST",
        "secrets",
        {
            "scope": "repository",
            "target": "octo-org/legacy",
            "name": "OLD_CONTAINER_REGISTRY_USER",
            "value": "old",
        },
    )
    cli.gh.admin(
        "POST",
        "secrets",
        {"scope": "repository", "target": "octo-org/legacy", "name": "NPM_TOKEN", "value": "npm"},
    )
    assert cli.apply()[0] == 0
    code, out, _ = cli("plan", "--json")
    plan = json.loads(out)
    assert plan["unmanaged"] == [
        {
            "scope": "repository",
            "target": "octo-org/legacy",
            "secret": "OLD_CONTAINER_REGISTRY_USER",
        }
    ]
    assert plan["changes"] == []
    assert ("repository", "octo-org/legacy", "OLD_CONTAINER_REGISTRY_USER") in cli.gh.secrets()
    code, out, _ = cli("plan", "--prune")
    assert "- OLD_CONTAINER_REGISTRY_USER" in out and "(prune)" in out
    assert cli.apply("--prune")[0] == 0
    remaining = cli.gh.secrets()
    assert ("repository", "octo-org/legacy", "OLD_CONTAINER_REGISTRY_USER") not in remaining
    assert ("repository", "octo-org/legacy", "NPM_TOKEN") in remaining


def test_a_failing_target_does_not_stop_the_others(cli: Cli) -> None:
    cli.write_config(CONFIG + "  - org: free-org\n    registries: [ACR]\n    visibility: all\n")
    code, out, err = cli.apply()
    assert code == 1
    assert "org:free-org" in err and "need a plan that includes them" in err
    assert "Apply: 9 done, 0 failed, 0 not attempted." in out
    assert len(cli.gh.secrets()) == 9


def test_a_refused_write_is_reported_and_the_rest_applied(cli: Cli) -> None:
    cli.env["GH_TOKEN"] = "ghp_no_org"
    code, out, err = cli.apply("--json")
    assert code == 1
    report = json.loads(out)
    results = Counter((c["scope"], c["result"]) for c in report["changes"])
    assert results[("repository", "ok")] == 3 and results[("user", "ok")] == 3
    assert results[("org", "ok")] == 0
    # The org cannot even be read without admin:org: the error names target and permission.
    assert [e["target"] for e in report["errors"]] == ["octo-org"]
    assert "admin:org" in report["errors"][0]["error"]
    assert "org:octo-org: permission denied" in err
    # The next run with the right token converges.
    cli.env["GH_TOKEN"] = "ghp_sandbox_admin"
    assert cli.apply()[0] == 0
    assert cli("plan", "--detailed-exitcode")[0] == 0


def test_apply_without_yes_and_without_terminal_is_a_usage_error(cli: Cli) -> None:
    code, out, err = cli("apply")
    assert code == 64
    assert "--yes" in err
    assert cli.gh.secrets() == {}


def test_targets_and_registries_filters(cli: Cli) -> None:
    code, out, _ = cli("plan", "--json", "--target", "repository:octo-org/legacy")
    assert {c["target"] for c in json.loads(out)["changes"]} == {"octo-org/legacy"}
    code, out, _ = cli("plan", "--json", "--registry", "acr")
    assert {c["registry"] for c in json.loads(out)["changes"]} == {"ACR"}
    assert cli("plan", "--registry", "NOPE")[0] == 64
    assert cli("plan", "--target", "team:x")[0] == 64


def test_a_registry_removed_from_the_config_can_be_narrowed_to(cli: Cli) -> None:
    """--registry may name a registry only the state still records: its deletion reviewed
    and applied alone, as --target may name a target only the state records."""
    assert cli.apply()[0] == 0
    cli.write_config(CONFIG.split("  HUB:")[0] + "targets:" + CONFIG.split("targets:")[1])
    cli.write_config(cli.config.read_text().split("  - repository:")[0])
    code, out, err = cli("plan", "--json", "--registry", "HUB")
    assert code == 0, err
    changes = json.loads(out)["changes"]
    assert {(c["action"], c["registry"]) for c in changes} == {("delete", "HUB")}
    assert len(changes) == 6
    assert cli.apply("--registry", "HUB")[0] == 0
    assert {name for _, _, name in cli.gh.secrets()} == {
        f"ACR_CONTAINER_REGISTRY_{part}" for part in ("SERVER", "USER", "PASSWORD")
    }
    code, _, err = cli("plan", "--registry", "NOPE")
    assert code == 64 and "no such registry in" in err and "or its state" in err


def test_no_value_in_any_output_or_file(cli: Cli) -> None:
    outputs = [
        cli("plan"),
        cli("plan", "--json"),
        cli.apply("-v"),
        cli.apply("--json"),
        cli("plan", "-v"),
    ]
    cli.env["ACR_PASSWORD"] = "acr-MARKER-next-4"
    outputs += [cli("plan", "-v"), cli.apply("-v", "--json")]
    texts = [o[1] + o[2] for o in outputs]
    texts += [
        p.read_text(errors="replace")
        for p in cli.tmp.rglob("*")
        if p.is_file() and p.name != "hub-token"
    ]
    for text in texts:
        assert "MARKER" not in text
        assert "$argon2id$" not in text or text in cli.state_text()


def test_apply_without_a_terminal_prints_a_line_per_finished_write(cli: Cli) -> None:
    code, out, err = cli.apply()
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert len(lines) == 9
    assert lines[0].startswith("[1/9] ok: create ")
    assert lines[-1].startswith("[9/9] ok: create ")
    assert "org:octo-org ACR_CONTAINER_REGISTRY_PASSWORD" in err
