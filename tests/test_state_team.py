"""Sharded state, its migration, the state commands and saved plans (over the sandbox)."""

from __future__ import annotations

import json
import shutil
import stat
import time

from provisioner import state
from provisioner.domain import TargetRef
from provisioner.state.local import LocalBackend
from tests.support.e2e import ACR_PASSWORD, HUB_TOKEN, Cli


def test_a_single_document_state_migrates_into_shards_losing_nothing(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    before = state.load(cli.state, "team")
    assert len(before) == 9
    # The pre-sharding form: one document at the --state path.
    single = {
        "format_version": 1,
        "config": "team",
        "secrets": cli.state_entries(),
    }
    shutil.rmtree(cli.state)
    cli.state.write_text(json.dumps(single))
    assert cli("plan", "--detailed-exitcode")[0] == 0  # read as it is, nothing planned
    assert cli.state.is_file()  # plan writes nothing
    assert cli.apply()[0] == 0
    assert cli.state.is_dir() and len(list(cli.state.glob("*/*.json"))) == 3
    assert state.load(cli.state, "team") == before
    assert not list(cli.tmp.glob("state.unsharded"))
    # The identity's single file of the previous default migrates the same way.
    shutil.rmtree(cli.state)
    cli.state.mkdir()
    (cli.state / "state.json").write_text(json.dumps(single))
    assert cli("plan", "--detailed-exitcode")[0] == 0
    assert cli.apply()[0] == 0
    assert not (cli.state / "state.json").exists()
    assert state.load(cli.state, "team") == before


def test_state_list_rm_and_unlock(cli: Cli) -> None:
    cli.env["GITHUB_REPOSITORY"] = "octo-org/infra"
    cli.env["GITHUB_RUN_ID"] = "42"
    cli.env["GITHUB_ACTOR"] = "mona"
    assert cli.apply()[0] == 0
    code, out, err = _state(cli, "list", "--json")
    assert code == 0, err
    rows = json.loads(out)["secrets"]
    assert len(rows) == 9
    row = next(r for r in rows if r["secret"] == "ACR_CONTAINER_REGISTRY_PASSWORD")
    assert row["scope"] == "org" and row["target"] == "octo-org" and row["registry"] == "ACR"
    assert row["written_by"] == "https://github.com/octo-org/infra/actions/runs/42"
    assert row["actor"] == "mona" and row["written_at"]
    assert ACR_PASSWORD not in out and "$argon2id$" not in out
    code, out, err = _state(cli, "list")
    assert code == 0 and "org:octo-org  ACR_CONTAINER_REGISTRY_USER  ACR" in out

    before = cli.gh.secrets()
    code, out, err = _state(cli, "rm", "repository:octo-org/legacy", "HUB_CONTAINER_REGISTRY_USER")
    assert code == 0, err
    assert "1 secret(s) no longer managed" in err
    code, out, err = _state(cli, "rm", "org:octo-org")
    assert code == 0, err
    assert cli.gh.secrets() == before  # nothing deleted on GitHub
    assert len(state.load(cli.state, "team")) == 5
    assert _state(cli, "rm", "org:nobody")[0] == 64  # names nothing, as an unknown secret
    assert _state(cli, "rm", "repository:octo-org/legacy", "NOPE_CONTAINER_REGISTRY_USER")[0] == 64

    # unlock refuses a wrong ID; a live local lock cannot be broken (it ends with its process)
    store = state.Store(LocalBackend(cli.state), "team")
    with store.locked([TargetRef("user", "octocat")]) as holder:
        code, out, err = _state(cli, "unlock", "not-the-id")
        assert code == 1 and f"no lock with ID not-the-id (locks held: {holder.lock_id})" in err
        code, out, err = _state(cli, "unlock", holder.lock_id)
        assert code == 1 and "held by a live process" in err
    # A run that died leaves its holder's name: unlock with its ID removes it.
    sidecar = cli.state / "user" / "octocat.json.lock.holder"
    sidecar.write_text(holder.text())
    assert _state(cli, "unlock", holder.lock_id)[0] == 0
    assert not sidecar.exists()


def _state(cli: Cli, *args: str) -> tuple[int, str, str]:
    """``provision state SUB CONFIG ... --state DIR`` in-process."""
    import os

    from provisioner.cli import main

    cli.capsys.readouterr()
    saved = dict(os.environ)
    os.environ.update(cli.env)
    try:
        argv = ["state", args[0], str(cli.config), *args[1:], "--state", str(cli.state)]
        code = main(argv)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = cli.capsys.readouterr()
    return code, out, err


def test_a_saved_plan_holds_no_value_and_applies_exactly(cli: Cli) -> None:
    plan_file = cli.tmp / "plan.json"
    code, out, err = cli("plan", "--out", str(plan_file))
    assert code == 0, err
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    text = plan_file.read_text()
    for leak in (ACR_PASSWORD, HUB_TOKEN, "hubber", "$argon2id$", "fingerprint", "encrypted"):
        assert leak not in text
    code, out, err = _apply_file(cli, plan_file)
    assert code == 0, err
    assert "Apply: 9 done" in out
    assert cli("plan", "--detailed-exitcode")[0] == 0
    # Fingerprints of this run's values never reach the plan either.
    code, out, err = cli("plan", "--out", str(plan_file))
    assert code == 0
    for entry in cli.state_entries():
        assert str(entry["fingerprint"]) not in plan_file.read_text()


def test_a_stale_saved_plan_is_refused_and_writes_nothing(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    plan_file = cli.tmp / "plan.json"
    # 1. A source's value changed since the plan: apply compares it with the state's
    # fingerprint in memory (the plan stores none), so the no-change plan no longer holds.
    assert cli("plan", "--out", str(plan_file))[0] == 0
    cli.env["ACR_PASSWORD"] = "yet-another-one-111"
    code, out, err = _apply_file(cli, plan_file)
    assert code == 1 and "the plan is stale:" in err and "nothing was written" in err
    assert (
        cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"]
        == ACR_PASSWORD
    )
    # 2. A secret updated on GitHub since the plan.
    assert cli("plan", "--out", str(plan_file))[0] == 0
    time.sleep(1.1)  # GitHub timestamps have whole seconds
    cli.gh.put_secret("/repos/octo-org/legacy", "HUB_CONTAINER_REGISTRY_USER", "someone")
    code, out, err = _apply_file(cli, plan_file)
    assert code == 1 and "changed on GitHub since the plan" in err
    # 3. The state changed (nothing on GitHub did): said so, not blamed on GitHub.
    cli.env["ACR_PASSWORD"] = ACR_PASSWORD
    assert cli.apply()[0] == 0  # the "someone" above is overwritten
    assert cli("plan", "--out", str(plan_file))[0] == 0
    assert _state(cli, "rm", "org:octo-org")[0] == 0
    code, out, err = _apply_file(cli, plan_file)
    assert code == 1 and "the plan is stale: the changes differ" in err, err
    assert "on GitHub" not in err
    # 4. The config changed.
    assert cli("plan", "--out", str(plan_file))[0] == 0
    cli.write_config(cli.config.read_text() + "\n# edited\n")
    code, out, err = _apply_file(cli, plan_file)
    assert code == 1 and f"the config {cli.config} changed" in err
    assert (
        cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"]
        == ACR_PASSWORD
    )


def _apply_file(cli: Cli, plan_file: object) -> tuple[int, str, str]:
    import os

    from provisioner.cli import main

    cli.capsys.readouterr()
    saved = dict(os.environ)
    os.environ.update(cli.env)
    try:
        argv = ["apply", str(plan_file), "--yes", "--write-interval", "0"]
        code = main([*argv, "--api-url", cli.gh.sandbox.url, "--state", str(cli.state)])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = cli.capsys.readouterr()
    return code, out, err
