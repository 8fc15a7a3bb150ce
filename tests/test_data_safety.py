"""Never lose a managed secret: each way a run could delete or blank one, end to end.

Every test runs the CLI against the sandbox over real HTTP and checks what GitHub holds
afterwards (decrypted on the sandbox side), not what the tool says it did.
"""

from __future__ import annotations

import json
import shutil

from provisioner import crypto
from provisioner.secret import SecretValue
from tests.support.e2e import ACR_PASSWORD, CONFIG, Cli

ORG_PREFIX = "/orgs/octo-org"
REPO_PREFIX = "/repos/octo-org/legacy"


def _state(cli: Cli) -> dict[str, object]:
    """Every shard's entries as one pre-sharding document (what _write_state writes back)."""
    shards = [json.loads(p.read_text()) for p in sorted(cli.state.glob("*/*.json"))]
    config = shards[0]["config"] if shards else None
    secrets = [e for s in shards for e in s["secrets"]]
    return {"format_version": 1, "config": config, "secrets": secrets}


def _write_state(cli: Cli, document: dict[str, object]) -> None:
    """Replace the state by one pre-sharding document at --state (read, then migrated)."""
    import shutil

    if cli.state.is_dir():
        shutil.rmtree(cli.state)
    cli.state.write_text(json.dumps(document))


# -- 1. target names are case-insensitive -------------------------------------------------


def test_respelling_a_target_plans_no_change_and_deletes_nothing(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    before = cli.gh.secrets()
    cli.write_config(
        CONFIG.replace("org: octo-org", "org: Octo-Org").replace(
            "repository: octo-org/legacy", "repository: Octo-Org/Legacy"
        )
    )
    code, out, err = cli("plan", "--detailed-exitcode", "--prune")
    assert (code, out.strip()) == (0, "No changes."), out + err
    code, out, err = cli.apply("--prune")
    assert code == 0, err
    assert cli.gh.secrets().keys() == before.keys()
    # --target matches whatever the spelling.
    code, out, err = cli("plan", "--target", "org:OCTO-ORG", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err


def test_a_state_entry_spelled_differently_is_the_same_secret(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    document = _state(cli)
    for entry in document["secrets"]:  # type: ignore[attr-defined]
        entry["target"] = entry["target"].upper()
        entry["secret"] = entry["secret"].lower()
    _write_state(cli, document)
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), out + err


# -- 4. only registry secrets are ever deleted ----------------------------------------------


def test_a_state_entry_that_is_no_registry_secret_is_never_deleted(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    assert cli.gh.put_secret(REPO_PREFIX, "DATABASE_URL", "postgres://keep-me").status_code == 201
    assert cli.gh.put_secret(ORG_PREFIX, "NPM_TOKEN", "npm-keep", visibility="all").ok
    document = _state(cli)
    planted = [
        {"scope": "repository", "target": "octo-org/legacy", "secret": "DATABASE_URL"},
        {"scope": "org", "target": "octo-org", "secret": "NPM_TOKEN"},
    ]
    for entry in planted:
        entry.update(
            registry=None,
            fingerprint=crypto.fingerprint(SecretValue("x")),
            updated_at="2020-01-01T00:00:00+00:00",
        )
    document["secrets"] += planted  # type: ignore[operator]
    _write_state(cli, document)
    # The org is no longer configured either: its state entries alone would plan deletes.
    cli.write_config(CONFIG.split("  - org: octo-org")[0] + CONFIG.split("web]\n", 1)[1])
    code, out, err = cli.apply("--allow-mass-delete")
    assert code == 0, err
    secrets = cli.gh.secrets()
    assert secrets[("repository", "octo-org/legacy", "DATABASE_URL")]["value"] == (
        "postgres://keep-me"
    )
    assert secrets[("org", "octo-org", "NPM_TOKEN")]["value"] == "npm-keep"
    assert "DATABASE_URL: the state lists it, but it is not a" in err
    assert "ignored (never deleted)" in err


# -- 5. state identity ------------------------------------------------------------------------


def test_a_state_recorded_for_another_config_is_refused(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    assert _state(cli)["config"] == "team"
    other = cli.tmp / "other.yaml"
    other.write_text(CONFIG.replace("version: 1\n", "version: 1\nname: other-team\n"))
    cli.config = other
    before = cli.gh.secrets()
    for command in ("plan", "apply"):
        code, out, err = cli.apply("--prune") if command == "apply" else cli("plan")
        assert code == 1
        assert "belongs to the config named 'team', not to 'other-team'" in err
    assert cli.gh.secrets() == before


def test_the_default_state_follows_the_config_name(cli: Cli) -> None:
    named = CONFIG.replace("version: 1\n", "version: 1\nname: platform\n")
    cli.write_config(named)
    cli.state = None  # type: ignore[assignment]
    code, out, err = cli.without_state("apply", "--yes", "--write-interval", "0")
    assert code == 0, err
    path = cli.tmp / ".provision" / "platform" / "org" / "octo-org.json"
    assert json.loads(path.read_text())["config"] == "platform"
    # Renaming the file keeps the state (and so plans nothing).
    renamed = cli.tmp / "renamed.yaml"
    cli.config.rename(renamed)
    cli.config = renamed
    code, out, err = cli.without_state("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err


def test_a_legacy_default_state_is_read_and_moved_without_loss(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    legacy = cli.tmp / ".provision" / "team.state.json"
    legacy.parent.mkdir()
    legacy.write_text(json.dumps(_state(cli)))
    cli.state = None  # type: ignore[assignment]
    code, out, err = cli.without_state("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    assert legacy.exists()  # plan writes nothing
    code, out, err = cli.without_state("apply", "--yes")
    assert code == 0, err
    assert not legacy.exists()
    moved = sorted((cli.tmp / ".provision" / "team").glob("*/*.json"))
    assert sum(len(json.loads(p.read_text())["secrets"]) for p in moved) == 9


def test_a_plan_without_state_says_so_in_one_line(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    import shutil

    shutil.rmtree(cli.state)
    code, out, err = cli("plan")
    assert code == 0
    assert f"no state at {cli.state}: 9 existing secrets plan as value-unknown" in err
    assert err.count("no state at") == 1


# -- 6. the safety valve ------------------------------------------------------------------


MANY = """\
version: 1
registries:
{registries}
targets:
  - repository: octo-org/legacy
    registries: [{ids}]
"""


def _many(count: int) -> str:
    ids = [f"R{i}" for i in range(count)]
    registries = "".join(
        f"  {i}: {{server: r{i}.example.com, username: u{i}, password: {{env: ACR_PASSWORD}}}}\n"
        for i in ids
    )
    return MANY.format(registries=registries.rstrip("\n"), ids=", ".join(ids))


def test_mass_delete_is_refused_without_the_flag(cli: Cli) -> None:
    cli.write_config(_many(4))  # 12 managed secrets
    assert cli.apply()[0] == 0
    cli.write_config(_many(2))  # would delete 6 of 12 (50%)
    code, out, err = cli("plan")
    assert code == 0
    assert "deletes 6 secrets, more than 30% of the 12 it manages there" in err
    code, out, err = cli.apply()
    assert code == 1
    assert "apply refused" in err and "--allow-mass-delete" in err
    assert len(cli.gh.secrets()) == 12
    code, out, err = cli.apply("--allow-mass-delete")
    assert code == 0, err
    assert len(cli.gh.secrets()) == 6


def test_prunes_count_toward_the_valve_and_are_said_to_be_prunes(cli: Cli) -> None:
    cli.write_config(_many(4))  # 12 managed secrets
    assert cli.apply()[0] == 0
    for name in ("OLD_A", "OLD_B"):
        for part in ("USER", "PASSWORD"):
            secret = f"{name}_CONTAINER_REGISTRY_{part}"
            assert cli.gh.put_secret(REPO_PREFIX, secret, "v").status_code == 201
    code, out, err = cli.apply("--prune")
    assert code == 1
    said = "deletes 4 secrets (4 of them pruned, not managed), more than 30% of the 12 it manages"
    assert said in err
    assert len(cli.gh.secrets()) == 16


def test_deleting_a_small_share_needs_no_flag(cli: Cli) -> None:
    cli.write_config(_many(4))
    assert cli.apply()[0] == 0
    cli.write_config(_many(3))  # 3 of 12: 25%
    code, out, err = cli.apply()
    assert code == 0, err
    assert len(cli.gh.secrets()) == 9


# -- 7. a user target that is not the token's user -----------------------------------------


def test_another_users_target_fails_the_plan_without_reading_it(cli: Cli) -> None:
    cli.write_config(CONFIG.replace("user: octocat", "user: hubot"))
    cli.reset_log()
    code, out, err = cli("plan", "--prune")
    assert code == 1
    assert "user:hubot: the token belongs to 'octocat'" in err
    assert "user:hubot" not in out
    paths = {r["path"] for r in cli.requests()}
    assert "/user/codespaces/secrets" not in paths


# -- 8. --target naming nothing -------------------------------------------------------------


def test_a_target_in_neither_config_nor_state_is_a_usage_error(cli: Cli) -> None:
    code, out, err = cli("plan", "--target", "org:octo-orgg")
    assert code == 64
    assert "--target org:octo-orgg: no such target" in err
    code, out, err = cli.apply("--target", "repository:octo-org/legacyy")
    assert code == 64


def test_a_target_known_only_from_state_may_be_named(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.write_config(CONFIG.replace("  - repository: octo-org/legacy\n    registries: [HUB]\n", ""))
    code, out, err = cli("plan", "--target", "repository:octo-org/legacy", "--json")
    assert code == 0, err
    assert json.loads(out)["summary"]["delete"] == 3


# -- 15. hostile state ------------------------------------------------------------------


def test_foreign_fingerprint_costs_are_never_computed(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    document = _state(cli)
    # Every entry, a literal's (BLAKE2b when written) too, planted as argon2id at a foreign cost.
    foreign = crypto.fingerprint(SecretValue("x")).replace("t=3,", "t=4294967295,")
    for entry in document["secrets"]:  # type: ignore[attr-defined]
        entry["fingerprint"] = foreign
    _write_state(cli, document)
    code, out, err = cli("plan", "--json")  # would run for ever if computed
    assert code == 0, err
    changes = json.loads(out)["changes"]
    assert len(changes) == 9
    assert {tuple(c["reasons"]) for c in changes} == {("value-unknown",)}


def test_a_naive_timestamp_or_deep_nesting_in_state_is_a_clean_error(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    document = _state(cli)
    document["secrets"][0]["updated_at"] = "2024-01-01T00:00:00"  # type: ignore[index]
    _write_state(cli, document)
    code, out, err = cli("plan")
    assert code == 1
    assert "has no time zone" in err and "internal error" not in err
    cli.state.write_text("[" * 100_000 + "]" * 100_000)
    code, out, err = cli("plan")
    assert code == 1
    assert "the state is damaged" in err and "internal error" not in err


def test_a_state_refused_by_plan_is_one_line_not_a_traceback(cli: Cli) -> None:
    """plan starts value checks as the state's shards land: a shard that cannot be used must
    end the run with its one line, not also a pool's logged traceback (a real process: the
    test harness would capture the log record instead)."""
    from tests.faults.conftest import spawn

    assert cli.apply()[0] == 0
    (cli.state / "org" / "octo-org.json").write_text("{not json")
    for args in ((), ("--json",)):
        out, err = spawn(cli, "plan", *args).communicate(timeout=60)
        assert "Traceback" not in err and "exception calling callback" not in err, err
        assert err.count("\n") == 1 and "the state is damaged" in err, err
    cli.write_config("name: another-config\n" + CONFIG)  # a state recorded for another config
    shutil.rmtree(cli.state / "org")
    process = spawn(cli, "plan")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and out == ""
    assert "Traceback" not in err and err.count("\n") == 1, err


# -- 16. GitHub's 100 secrets per target ------------------------------------------------------


def test_a_plan_past_100_secrets_on_a_target_is_an_error_before_any_write(cli: Cli) -> None:
    for i in range(98):
        assert cli.gh.put_secret(REPO_PREFIX, f"OTHER_{i}", "v").status_code == 201
    code, out, err = cli.apply()
    assert code == 1
    assert "repository:octo-org/legacy: the plan would leave 101 Codespaces secrets" in err
    legacy = [k for k in cli.gh.secrets() if k[1] == "octo-org/legacy"]
    assert len(legacy) == 98  # nothing written there
    # The other targets are still written.
    assert ("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD") in cli.gh.secrets()
    assert cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"] == (
        ACR_PASSWORD
    )
