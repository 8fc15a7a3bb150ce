"""``provision plan`` end to end against the sandbox: --force-rotate previews apply's rotation,
repository changes read as a diff, --format text|json|markdown, the console's width, and the
counts and hints around the plan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner.cli import main
from provisioner.render.plan import REWRITE_NOTE
from tests.support.e2e import CONFIG, Cli

ROTATING = """\
version: 1
registries:
  ACR:
    server: mycompany.azurecr.io
    username: acr-pull
    password: {env: ACR_PASSWORD}
    rotate_after: 6h
targets:
  - org: octo-org
    registries: [ACR]
    repositories: [api, web]
"""
PASSWORD = "ACR_CONTAINER_REGISTRY_PASSWORD"


def writes(cli: Cli) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in cli.requests() if r["method"] != "GET"]


def summary(changes: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    return [(c["action"], c["secret"], c["reasons"]) for c in changes]


def test_plan_force_rotate_previews_what_apply_force_rotate_writes(cli: Cli) -> None:
    cli.write_config(ROTATING)
    assert cli.apply()[0] == 0
    assert cli("plan", "--detailed-exitcode")[0] == 0  # just written: nothing is due
    cli.reset_log()

    code, out, err = cli("plan", "--force-rotate", "--detailed-exitcode")
    assert code == 2, err
    (line,) = [line for line in out.splitlines() if line.startswith("  ~ ")]
    assert line.startswith(f"  ~ {PASSWORD}") and "(rotation-due; age 0m)" in line
    assert "Plan: 0 to create, 1 to update, 0 to delete." in out
    code, out, _ = cli("plan", "--force-rotate", "--json")
    preview = summary(json.loads(out)["changes"])
    assert preview == [("update", PASSWORD, ["rotation-due"])]
    assert writes(cli) == []  # plan writes nothing, forced or not

    code, out, err = cli.apply("--force-rotate", "--json")
    assert code == 0, err
    assert summary(json.loads(out)["changes"]) == preview
    assert writes(cli) == [("PUT", f"/orgs/octo-org/codespaces/secrets/{PASSWORD}")]


def test_repository_changes_show_what_is_added_and_removed(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.write_config(CONFIG.replace("repositories: [api, web]", "repositories: [api, svc-*]"))
    code, out, err = cli("plan")
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index("  ~ ACR_CONTAINER_REGISTRY_PASSWORD  (repositories-changed)")
    assert lines[at + 1 : at + 4] == [
        "      + octo-org/svc-auth",
        "      + octo-org/svc-billing",
        "      - octo-org/web",
    ]
    assert out.count("      - octo-org/web") == 3  # one per secret of the registry
    # The new list itself is shown once, under the target.
    assert out.count("repositories: octo-org/api, octo-org/svc-auth, octo-org/svc-billing") == 1
    document = json.loads(cli("plan", "--json")[1])
    assert {tuple(c["repositories"]) for c in document["changes"]} == {
        ("octo-org/api", "octo-org/svc-auth", "octo-org/svc-billing")
    }
    assert {k for c in document["changes"] for k in c} == {
        "action",
        "scope",
        "target",
        "secret",
        "registry",
        "reasons",
        "visibility",
        "repositories",
    }


def test_a_rotating_password_rewritten_for_a_policy_change_says_why(cli: Cli) -> None:
    cli.write_config(ROTATING)
    assert cli.apply()[0] == 0
    cli.write_config(ROTATING.replace("[api, web]", "[api]"))
    code, out, _ = cli("plan", "--format", "text")
    (password,) = [line for line in out.splitlines() if f"~ {PASSWORD}" in line]
    assert password.endswith(f"(repositories-changed; {REWRITE_NOTE})")
    (user,) = [line for line in out.splitlines() if "~ ACR_CONTAINER_REGISTRY_USER" in line]
    assert user.endswith("(repositories-changed)")
    document = json.loads(cli("plan", "--json")[1])
    assert {c["secret"]: c["reasons"] for c in document["changes"]}[PASSWORD] == [
        "repositories-changed"
    ]


def test_format_markdown_json_and_text(cli: Cli) -> None:
    cli.env["FORCE_COLOR"] = "1"  # even asked for colour, markdown never has an ANSI code
    code, out, err = cli("plan", "--format", "markdown", "--detailed-exitcode")
    assert code == 2, err
    assert out.startswith("### provision plan\n\n**Plan: 9 to create, 0 to update, 0 to delete.**")
    assert out.count("| secret | action | reasons | policy |") == 3
    assert "| `ACR_CONTAINER_REGISTRY_PASSWORD` | create | missing | visibility `selected`" in out
    assert "\x1b" not in out
    as_json = json.loads(cli("plan", "--json")[1])
    assert json.loads(cli("plan", "--format", "json")[1]) == as_json
    assert json.loads(cli("plan", "--format", "json", "--json")[1]) == as_json
    code, out, _ = cli("plan", "--format", "text")
    assert code == 0 and out.startswith("org:octo-org\n")


@pytest.mark.parametrize(
    "flags",
    [["--json", "--format", "text"], ["--format", "markdown", "--json"], ["--format", "yaml"]],
)
def test_format_usage_errors_exit_64(cli: Cli, flags: list[str]) -> None:
    code, out, err = cli("plan", *flags)
    assert code == 64
    assert "Traceback" not in err
    if "--json" in flags:  # asked for JSON: the error is one JSON document
        assert "--format" in json.loads(out)["errors"][0]["message"]
    else:
        assert out == ""
    assert "--format" in err
    assert cli.requests() == []  # refused before anything is read


def test_the_plan_fits_the_console_width_from_columns(cli: Cli) -> None:
    cli.env["COLUMNS"] = "44"
    code, out, err = cli("plan")
    assert code == 0, err
    lines = out.splitlines()
    assert [line for line in lines if len(line) > 44] == []
    assert "  repositories: octo-org/api, octo-org/web" in lines
    at = lines.index("  repositories: octo-org/api,")  # the user's list, wrapped under itself
    assert lines[at + 1] == "                octocat/dotfiles"
    assert "  + ACR_CONTAINER_REGISTRY_PASSWORD" in lines and "      (missing)" in lines


def test_unmanaged_hint_only_without_prune(cli: Cli) -> None:
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
    assert "(deleted only with --prune):" in cli("plan")[1]
    out = cli("plan", "--prune")[1]
    assert "Unmanaged registry secrets:\n" in out and "deleted only with" not in out
    assert "--prune" not in cli("plan", "--prune", "--format", "markdown")[1]


def test_counts_say_one_in_the_singular(cli: Cli) -> None:
    cli.gh.admin(
        "POST",
        "secrets",
        {
            "scope": "repository",
            "target": "octo-org/legacy",
            "name": "HUB_CONTAINER_REGISTRY_USER",
            "value": "hubber",
        },
    )
    code, out, err = cli("plan", "--target", "repository:octo-org/legacy")
    assert ": 1 existing secret plans as value-unknown" in err
    cli.write_config(ROTATING)
    cli.capsys.readouterr()
    assert main(["validate", str(cli.config)]) == 0
    assert cli.capsys.readouterr().out.endswith(": valid (1 registry, 1 target, 3 secrets)\n")


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
@pytest.mark.parametrize("output_format", ["json", "markdown", "text"])
def test_an_out_file_that_cannot_be_written_is_the_only_output(
    cli: Cli, where: str, output_format: str
) -> None:
    folder = cli.tmp / "plans"
    folder.mkdir()
    out = folder / "missing" / "plan.json" if where == "missing folder" else folder
    code, stdout, err = cli("plan", "--format", output_format, "--out", str(out))
    assert code == 1
    message = f"{out}: cannot write the plan: "
    message += "No such file or directory" if where == "missing folder" else "Is a directory"
    if output_format == "json":  # exactly one document: the error
        assert json.loads(stdout) == {"format_version": 1, "errors": [{"message": message}]}
    else:
        assert stdout == ""
    assert err == f"error: {message}\n"
    assert list(folder.iterdir()) == []  # no half-written plan nor temporary file


def test_out_naming_the_config_is_refused_and_the_config_kept(cli: Cli) -> None:
    before = cli.config.read_text()
    alias = cli.tmp / "same.yaml"
    alias.symlink_to(cli.config)
    for out in (cli.config, alias):
        code, stdout, err = cli("plan", "--json", "--out", str(out))
        assert code == 64, err
        message = json.loads(stdout)["errors"][0]["message"]
        assert (
            message == f"--out {out}: that is the config file; save the plan to a file of its own"
        )
        assert cli.config.read_text() == before
    assert cli.requests() == []  # refused before GitHub is read


def test_a_saved_plan_replaces_the_old_one_whole(cli: Cli) -> None:
    out = cli.tmp / "plan.json"
    out.write_text("old")
    out.chmod(0o644)
    code, stdout, err = cli("plan", "--json", "--out", str(out))
    assert code == 0, err
    assert json.loads(out.read_text())["kind"] and out.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in cli.tmp.glob(".plan.json*")] == []
    assert json.loads(stdout)["summary"]["create"] == 9


def test_a_target_error_under_json_carries_message_as_every_error_document(cli: Cli) -> None:
    cli.env["GH_TOKEN"] = "ghp_not_a_sandbox_token"
    code, out, err = cli("plan", "--json")
    assert code == 1
    errors = json.loads(out)["errors"]
    assert {(e["scope"], e["target"]) for e in errors} == {
        ("org", "octo-org"),
        ("repository", "octo-org/legacy"),
        ("user", "octocat"),
    }
    for e in errors:
        assert set(e) == {"message", "scope", "target", "error"}
        assert e["message"] == e["error"] and "401 Bad credentials" in e["message"]


def test_a_value_error_under_json_carries_message_and_the_secret(cli: Cli) -> None:
    del cli.env["ACR_PASSWORD"]
    code, out, err = cli("plan", "--json")
    assert code == 1
    (error,) = json.loads(out)["errors"]
    assert error["secret"] == "ACR_CONTAINER_REGISTRY_PASSWORD"
    assert error["message"] == error["error"] and "ACR_PASSWORD" in error["message"]
