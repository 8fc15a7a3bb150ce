"""Repositories by name: globs skip archived repositories; unknown names are errors naming them."""

from __future__ import annotations

import json

from tests.support.e2e import CONFIG, Cli


def test_glob_skips_archived_repositories(cli: Cli) -> None:
    cli.write_config(CONFIG.replace("repositories: [api, web]", 'repositories: ["*svc*"]'))
    code, out, err = cli("plan", "--json", "--target", "org:octo-org")
    assert code == 0, err
    repos = {tuple(c["repositories"]) for c in json.loads(out)["changes"]}
    assert repos == {("octo-org/svc-auth", "octo-org/svc-billing")}  # not octo-org/old-svc


def test_archived_repository_by_name_is_allowed(cli: Cli) -> None:
    cli.write_config(CONFIG.replace("repositories: [api, web]", "repositories: [old-svc, api]"))
    assert cli.apply()[0] == 0
    secret = cli.gh.secrets()[("org", "octo-org", "ACR_CONTAINER_REGISTRY_USER")]
    assert secret["repositories"] == ["octo-org/api", "octo-org/old-svc"]


def test_unknown_repository_is_an_error_naming_it(cli: Cli) -> None:
    cli.write_config(CONFIG.replace("repositories: [api, web]", "repositories: [api, nope]"))
    code, out, err = cli("plan")
    assert code == 1
    assert "org:octo-org: unknown repository octo-org/nope" in err
    code, out, err = cli.apply()
    assert code == 1
    assert not [k for k in cli.gh.secrets() if k[0] == "org"]
    # The other targets were still applied.
    assert len(cli.gh.secrets()) == 6


def test_glob_matching_nothing_is_an_error(cli: Cli) -> None:
    cli.write_config(CONFIG.replace("repositories: [api, web]", 'repositories: ["zzz-*"]'))
    code, _, err = cli("plan")
    assert code == 1 and "repository pattern 'zzz-*' matches no repository" in err


def test_user_repositories_by_owner_and_name(cli: Cli) -> None:
    cli.write_config(CONFIG.replace("[octo-org/api, octocat/dotfiles]", "[octocat/nope]"))
    code, _, err = cli("plan")
    assert code == 1 and "user:octocat: unknown repository octocat/nope" in err
