"""The selection our write set, recorded in the state, stands in for a read only while
GitHub's updated_at proves it: a selection changed since (in the UI, by another tool) is read,
planned and restored; a record without GitHub's proof is never trusted."""

from __future__ import annotations

from typing import Any

from tests.support.e2e import ACR_PASSWORD, Cli, kinds

ACR_USER = "ACR_CONTAINER_REGISTRY_USER"
HUB_USER = "HUB_CONTAINER_REGISTRY_USER"


def _repo_id(cli: Cli, full_name: str) -> int:
    response = cli.gh("GET", f"/repos/{full_name}")
    assert response.status_code == 200, response.text
    repo_id: int = response.json()["id"]
    return repo_id


def _selection(cli: Cli, scope: str, target: str, name: str) -> list[str]:
    selection: list[str] = cli.gh.secrets()[(scope, target, name)]["repositories"]
    return selection


def test_the_state_records_each_selection_and_a_no_op_plan_reads_none(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    recorded = {(e["scope"], e["secret"]): e.get("repositories") for e in cli.state_entries()}
    assert recorded[("org", ACR_USER)] == ["octo-org/api", "octo-org/web"]
    assert recorded[("user", HUB_USER)] == ["octo-org/api", "octocat/dotfiles"]
    assert recorded[("repository", HUB_USER)] is None  # a repository secret has no selection
    cli.reset_log()
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    assert "GET repositories" not in kinds(cli.requests())


def test_a_repository_added_in_githubs_ui_is_seen_and_taken_back(cli: Cli) -> None:
    """The leak this must never hide: a repository granted a registry password behind the
    config's back. GitHub bumps updated_at, so the selection is read again."""
    assert cli.apply()[0] == 0
    extra = _repo_id(cli, "octo-org/svc-auth")
    path = f"/orgs/octo-org/codespaces/secrets/{ACR_USER}/repositories/{extra}"
    assert cli.gh("PUT", path).status_code == 204
    user_path = f"/user/codespaces/secrets/{HUB_USER}/repositories/{extra}"
    assert cli.gh("PUT", user_path).status_code == 204

    cli.reset_log()
    code, out, err = cli("plan", "--detailed-exitcode")
    assert code == 2, err
    assert out.count("repositories-changed") == 2, out
    assert "- octo-org/svc-auth" in out, out
    assert kinds(cli.requests())["GET repositories"] == 2  # only the two that changed

    assert cli.apply()[0] == 0
    assert _selection(cli, "org", "octo-org", ACR_USER) == ["octo-org/api", "octo-org/web"]
    assert _selection(cli, "user", "octocat", HUB_USER) == ["octo-org/api", "octocat/dotfiles"]
    assert cli("plan", "--detailed-exitcode")[0] == 0


def test_a_repository_removed_in_githubs_ui_is_seen_and_put_back(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    web = _repo_id(cli, "octo-org/web")
    path = f"/orgs/octo-org/codespaces/secrets/{ACR_USER}/repositories/{web}"
    assert cli.gh("DELETE", path).status_code == 204
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2 and "repositories-changed" in out and "+ octo-org/web" in out, out
    assert cli.apply()[0] == 0
    assert _selection(cli, "org", "octo-org", ACR_USER) == ["octo-org/api", "octo-org/web"]
    assert cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")]["value"] == (
        ACR_PASSWORD
    )


def test_a_recorded_selection_without_githubs_updated_at_is_read(cli: Cli) -> None:
    """A record that disagrees with GitHub's updated_at (edited, restored from an old copy) is
    not proof: every selection is read, and the plan is GitHub's truth."""
    assert cli.apply()[0] == 0

    def wrong_record(entry: dict[str, Any]) -> None:
        if entry.get("repositories") is not None:
            entry["repositories"] = ["octo-org/api"]
            entry["updated_at"] = "2020-01-01T00:00:00+00:00"

    cli.edit_state(wrong_record)
    cli.reset_log()
    code, out, err = cli("plan")
    assert code == 0, err
    assert kinds(cli.requests())["GET repositories"] == 6
    assert "repositories-changed" not in out  # GitHub holds [api, web], as the config says


def test_a_state_from_before_the_record_reads_every_selection(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.edit_state(lambda entry: entry.pop("repositories", None))
    cli.reset_log()
    code, out, err = cli("plan", "--detailed-exitcode")
    assert (code, out.strip()) == (0, "No changes."), err
    assert kinds(cli.requests())["GET repositories"] == 6


def test_a_changed_config_plans_against_the_recorded_selection(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    cli.write_config(
        cli.config.read_text().replace("repositories: [api, web]", "repositories: [api]")
    )
    cli.reset_log()
    code, out, _ = cli("plan", "--detailed-exitcode")
    assert code == 2 and out.count("repositories-changed") == 3, out
    assert "- octo-org/web" in out, out
    assert "GET repositories" not in kinds(cli.requests())
    assert cli.apply()[0] == 0
    assert _selection(cli, "org", "octo-org", ACR_USER) == ["octo-org/api"]
    assert cli("plan", "--detailed-exitcode")[0] == 0
