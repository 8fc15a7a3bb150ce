"""Values a plan would write are read at plan time: too large or unreadable is a plan error."""

from __future__ import annotations

import json
import re

from tests.support.e2e import CONFIG, Cli


def test_a_value_over_48_kb_is_an_error_at_plan_time(cli: Cli) -> None:
    (cli.tmp / "hub-token").write_text("x" * (48 * 1024 + 1))
    code, out, err = cli("plan")
    assert code == 1
    assert "GitHub limits secrets to 49152 bytes" in err
    assert (
        "(needed by repository:octo-org/legacy HUB_CONTAINER_REGISTRY_PASSWORD and 1 more)" in err
    )
    assert "x" * 100 not in out + err
    code, out, err = cli("plan", "--json")
    errors = json.loads(out)["errors"]
    assert {(e["target"], e["secret"]) for e in errors} == {
        ("octo-org/legacy", "HUB_CONTAINER_REGISTRY_PASSWORD"),
        ("octocat", "HUB_CONTAINER_REGISTRY_PASSWORD"),
    }
    # A registry's three secrets are written together: HUB is written on neither target
    # (its SERVER and USER would be no use without the PASSWORD); ACR is written.
    code, out, err = cli.apply()
    assert code == 1 and "Apply: 3 done, 6 failed, 0 not attempted." in out
    assert {name for _, _, name in cli.gh.secrets()} == {
        "ACR_CONTAINER_REGISTRY_SERVER",
        "ACR_CONTAINER_REGISTRY_USER",
        "ACR_CONTAINER_REGISTRY_PASSWORD",
    }
    code, out, err = cli.apply("--json")
    failed = [c for c in json.loads(out)["changes"] if c["result"] == "failed"]
    assert {c["secret"] for c in failed} == {
        "HUB_CONTAINER_REGISTRY_SERVER",
        "HUB_CONTAINER_REGISTRY_USER",
        "HUB_CONTAINER_REGISTRY_PASSWORD",
    }
    assert all("not written: HUB_CONTAINER_REGISTRY_PASSWORD" in c["error"] for c in failed)


def test_an_unreadable_source_fails_the_plan_naming_the_secrets(cli: Cli) -> None:
    del cli.env["ACR_PASSWORD"]
    code, out, err = cli("plan", "--detailed-exitcode")
    assert code == 1  # an error, never 2 (changes pending)
    assert (
        "env ACR_PASSWORD: the environment variable is unset or empty "
        "(needed by org:octo-org ACR_CONTAINER_REGISTRY_PASSWORD)" in err
    )


def test_a_source_that_fails_when_compared_fails_only_its_registry_on_its_target(
    cli: Cli,
) -> None:
    """With a state, a value is read to compare it with its fingerprint: a source that fails
    then is the plan's error naming the secret, not the end of the run; apply writes the other
    targets' changes, and none of that registry's three secrets on that target."""
    assert cli.apply()[0] == 0
    before = cli.gh.secrets()
    cli.write_config(
        CONFIG.replace(
            "{env: ACR_PASSWORD}", "{command: [sh, -c, 'echo gone >&2; exit 3']}"
        ).replace("username: acr-pull", "username: acr-pull-2")
    )
    cli.env["HUB_USER"] = "hubber-2"
    code, out, err = cli("plan")
    assert code == 1
    assert re.search(r"~ ACR_CONTAINER_REGISTRY_PASSWORD +\(value-unknown\)", out), out
    assert "status 3: gone (needed by org:octo-org ACR_CONTAINER_REGISTRY_PASSWORD)" in err
    code, out, err = cli.apply("--json")
    assert code == 1, err
    results = {c["secret"] + "@" + c["target"]: c["result"] for c in json.loads(out)["changes"]}
    assert results == {
        "ACR_CONTAINER_REGISTRY_USER@octo-org": "failed",
        "ACR_CONTAINER_REGISTRY_PASSWORD@octo-org": "failed",
        "HUB_CONTAINER_REGISTRY_USER@octo-org/legacy": "ok",
        "HUB_CONTAINER_REGISTRY_USER@octocat": "ok",
    }
    after = cli.gh.secrets()
    org = [k for k in before if k[1] == "octo-org"]
    assert all(after[k] == before[k] for k in org)  # neither the new USER nor any PASSWORD
    assert {after[k]["value"] for k in after if k[2] == "HUB_CONTAINER_REGISTRY_USER"} == {
        "hubber-2"
    }


def test_a_no_op_plan_reads_no_value(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    witness = cli.tmp / "ran"
    cli.write_config(CONFIG.replace("{env: ACR_PASSWORD}", f"{{command: [touch, {witness}]}}", 1))
    # The password's source changed, so the state cannot tell: the plan must compare it...
    code, out, _ = cli("plan")
    assert witness.exists()
    witness.unlink()
    # ...but a target whose secrets are all unchanged by state needs no value at all.
    code, out, _ = cli("plan", "--target", "repository:octo-org/legacy")
    assert (code, out.strip()) == (0, "No changes.")
    assert not witness.exists()


def test_github_actions_masks_keep_json_stdout_a_single_document(cli: Cli) -> None:
    cli.env["GITHUB_ACTIONS"] = "true"
    code, out, err = cli("plan", "--json")
    assert code == 0
    json.loads(out)  # nothing but the document on stdout
    assert "::add-mask::acr-MARKER-password-1" in err
    code, out, err = cli("plan")
    assert out.startswith("::add-mask::")  # masked before anything else prints
    assert out.index("::add-mask::acr-MARKER-password-1") < out.index("Plan:")
