"""The sandbox GitHub emulator, over real HTTP: auth, secrets at three levels, faults, admin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from provisioner.errors import ProvisionError
from provisioner.sandbox import Sandbox, World, load_world
from provisioner.sandbox.server import check_loopback
from tests.support import openapi
from tests.support.sandbox import ADMIN, GH, seal

ORG = "/orgs/octo-org"
REPO = "/repos/octo-org/api"
USER = "/user"
API_ID, WEB_ID, DOTFILES_ID = 1296269, 1296270, 1296275
FINE, APP, NO_ORG = "github_pat_fine", "ghs_app_installation", "ghp_no_org"


# -- world file ------------------------------------------------------------------------------
def test_default_world_is_packaged() -> None:
    world = load_world(None)
    assert world.user.login == "octocat"
    assert {(o.login, o.codespaces) for o in world.orgs} == {
        ("octo-org", True),
        ("free-org", False),
    }
    names = {r.full_name for r in world.repositories}
    assert names == {
        "octo-org/api",
        "octo-org/web",
        "octo-org/legacy",
        "octo-org/svc-auth",
        "octo-org/svc-billing",
        "octo-org/old-svc",
        "octocat/dotfiles",
    }
    assert world.repo("octo-org/old-svc").archived  # type: ignore[union-attr]
    assert {t.token for t in world.tokens} == {ADMIN, NO_ORG, FINE, APP}
    assert world.secrets == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "user: {login: a, id: 1}\ntokens: []\nrepos: []\n",
            "world.yaml:1: world: unknown key 'repos'",
        ),
        ("user: {login: a, id: 1}\ntokens:\n  - {token: t, kind: oauth}\n", "world.yaml:3:"),
        ("user: {login: a, id: x}\ntokens: []\n", "world.yaml:1: user: id must be an integer"),
        (
            "user: {login: a, id: 1}\ntokens: []\nrepositories:\n  - {full_name: b/c, id: 2}\n",
            "world.yaml:4: repositories[0]: owner 'b' is neither",
        ),
        ("user: [\n", "world.yaml:2: invalid YAML"),
        (
            "user: {login: a, id: 1}\ntokens: []\norgs: [{login: o, id: 2}]\n"
            "repositories: [{full_name: a/r, id: 3}]\nsecrets:\n"
            "  - {scope: org, target: o, name: X, value: v, repositories: [a/r]}\n",
            "world.yaml:6: secrets[0]: unknown repository 'a/r' for org o",
        ),
        ("user: {login: a, id: 1}\n", "missing key 'tokens'"),
    ],
)
def test_bad_world_files_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(text)
    with pytest.raises(ProvisionError) as info:
        load_world(path)
    assert expected.replace("world.yaml", str(path)) in str(info.value)


def test_missing_world_file_is_a_provision_error(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="cannot read world file"):
        load_world(tmp_path / "absent.yaml")


def test_world_seed_secrets_are_served(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(
        "user: {login: octocat, id: 1}\n"
        "orgs: [{login: octo-org, id: 2}]\n"
        "repositories: [{full_name: octo-org/legacy, id: 3}]\n"
        "tokens: [{token: t, kind: classic, scopes: [repo]}]\n"
        "secrets:\n"
        "  - {scope: repository, target: octo-org/legacy, name: old_user, value: x}\n"
    )
    with Sandbox(load_world(path)) as sb:
        client = GH(sb)
        listed = client("GET", "/repos/octo-org/legacy/codespaces/secrets", "t").json()
        assert [s["name"] for s in listed["secrets"]] == ["OLD_USER"]
        assert client.admin("GET", "secrets")[0]["value"] == "x"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_refuses_non_loopback_hosts(world: World, host: str) -> None:
    with pytest.raises(ProvisionError, match="loopback"):
        Sandbox(world, host=host)


def test_accepts_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        check_loopback(host)


# -- authentication and permissions -------------------------------------------------------------
@pytest.mark.parametrize("authorization", [None, "token nope", "Bearer nope", "Basic abc"])
def test_bad_credentials(gh: GH, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = gh("GET", f"{ORG}/codespaces/secrets", None, headers=headers)
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"
    assert "documentation_url" in response.json()
    assert "X-OAuth-Scopes" not in response.headers


def test_bearer_scheme_works(gh: GH) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    assert gh("GET", "/user", None, headers=headers).status_code == 200


def test_common_headers(gh: GH) -> None:
    first = gh("GET", "/user")
    second = gh("GET", "/user")
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.headers["X-OAuth-Scopes"] == "repo, admin:org, codespace"
    assert first.headers["X-RateLimit-Limit"] == "5000"
    assert first.headers["X-RateLimit-Resource"] == "core"
    assert int(second.headers["X-RateLimit-Remaining"]) == (
        int(first.headers["X-RateLimit-Remaining"]) - 1
    )
    assert int(second.headers["X-RateLimit-Used"]) == int(first.headers["X-RateLimit-Used"]) + 1
    assert int(first.headers["X-RateLimit-Reset"]) > time.time()
    assert first.headers["X-GitHub-Request-Id"] != second.headers["X-GitHub-Request-Id"]
    fine = gh("GET", f"{REPO}/codespaces/secrets", FINE)
    assert "X-OAuth-Scopes" not in fine.headers
    assert fine.headers["X-RateLimit-Remaining"] == "4999"  # counted per token


def test_rate_limit_endpoint_does_not_count(gh: GH) -> None:
    body = gh("GET", "/rate_limit").json()
    again = gh("GET", "/rate_limit").json()
    assert body["resources"]["core"]["used"] == again["rate"]["used"] == 0


@pytest.mark.parametrize(
    ("token", "method", "path", "status", "message"),
    [
        (NO_ORG, "GET", f"{ORG}/codespaces/secrets", 403, "Must have admin rights"),
        (NO_ORG, "GET", f"{REPO}/codespaces/secrets", 200, None),
        (NO_ORG, "GET", f"{USER}/codespaces/secrets", 200, None),
        (FINE, "GET", f"{ORG}/codespaces/secrets", 200, None),
        (FINE, "GET", f"{USER}/codespaces/secrets/public-key", 200, None),
        (APP, "GET", f"{REPO}/codespaces/secrets", 200, None),
        (APP, "GET", f"{ORG}/codespaces/secrets/public-key", 200, None),
        (APP, "GET", f"{USER}/codespaces/secrets", 403, "Resource not accessible by integration"),
        (APP, "GET", f"{USER}/codespaces/secrets/public-key", 403, "by integration"),
        (APP, "DELETE", f"{USER}/codespaces/secrets/X", 403, "by integration"),
        (APP, "GET", "/user", 403, "by integration"),
        (APP, "GET", "/user/repos", 403, "by integration"),
        (APP, "GET", "/repos/octo-org/api", 200, None),
    ],
)
def test_permissions_per_token_kind(
    gh: GH, token: str, method: str, path: str, status: int, message: str | None
) -> None:
    response = gh(method, path, token)
    assert response.status_code == status, response.text
    if message:
        assert message in response.json()["message"]


def test_classic_refusal_names_the_accepted_scope(gh: GH) -> None:
    response = gh("GET", f"{ORG}/codespaces/secrets", NO_ORG)
    assert response.status_code == 403
    assert response.json()["message"] == "Must have admin rights to Organization."
    assert response.headers["X-Accepted-OAuth-Scopes"] == "admin:org"
    assert response.headers["X-OAuth-Scopes"] == "repo, codespace"


LIMITED_WORLD = """\
user: {login: octocat, id: 1}
orgs: [{login: octo-org, id: 2}]
repositories: [{full_name: octo-org/api, id: 3}]
tokens:
  - {token: secrets_only, kind: classic, scopes: ["codespace:secrets"]}
  - {token: org_read, kind: fine-grained, permissions: {organization_codespaces_secrets: read}}
  - {token: repo_read, kind: fine-grained, permissions: {codespaces_secrets: read}}
  - {token: user_read, kind: fine-grained, permissions: {codespaces_user_secrets: read}}
"""


@pytest.mark.parametrize(
    ("token", "method", "path", "status", "accepted"),
    [
        ("secrets_only", "GET", f"{USER}/codespaces/secrets", 200, None),
        ("secrets_only", "GET", f"{REPO}/codespaces/secrets", 403, None),
        ("org_read", "GET", f"{ORG}/codespaces/secrets", 200, None),
        ("org_read", "DELETE", f"{ORG}/codespaces/secrets/X", 403, "=write"),
        ("repo_read", "GET", f"{REPO}/codespaces/secrets", 403, "codespaces_secrets=write"),
        ("user_read", "GET", f"{USER}/codespaces/secrets", 200, None),
        ("user_read", "PUT", f"{USER}/codespaces/secrets/X/repositories", 403, "=write"),
        ("user_read", "GET", f"{ORG}/codespaces/secrets", 403, None),
    ],
)
def test_scopes_and_fine_grained_levels(
    tmp_path: Path, token: str, method: str, path: str, status: int, accepted: str | None
) -> None:
    (tmp_path / "w.yaml").write_text(LIMITED_WORLD)
    with Sandbox(load_world(tmp_path / "w.yaml")) as sb:
        response = GH(sb)(method, path, token, json={"selected_repository_ids": []})
    assert response.status_code == status, response.text
    if status == 403 and token != "secrets_only":
        assert response.json()["message"] == "Resource not accessible by personal access token"
    if accepted:
        assert accepted in response.headers["X-Accepted-GitHub-Permissions"]


# -- secrets: create, update, keys --------------------------------------------------------------
@pytest.mark.parametrize(
    ("prefix", "scope", "target", "extra"),
    [
        (REPO, "repository", "octo-org/api", {}),
        (ORG, "org", "octo-org", {"visibility": "all"}),
        (USER, "user", "octocat", {"selected_repository_ids": [API_ID]}),
    ],
)
def test_create_201_then_update_204_decrypted_on_the_server(
    gh: GH, prefix: str, scope: str, target: str, extra: dict[str, Any]
) -> None:
    created = gh.put_secret(prefix, "acr_container_registry_password", "s3cret", **extra)
    assert created.status_code == 201, created.text
    assert created.json() == {}
    stored = gh.secrets()[(scope, target, "ACR_CONTAINER_REGISTRY_PASSWORD")]
    assert stored["value"] == "s3cret"
    updated = gh.put_secret(prefix, "ACR_CONTAINER_REGISTRY_PASSWORD", "n3w ✓", **extra)
    assert updated.status_code == 204
    assert updated.content == b""
    again = gh.secrets()[(scope, target, "ACR_CONTAINER_REGISTRY_PASSWORD")]
    assert again["value"] == "n3w ✓"
    assert again["created_at"] == stored["created_at"]
    assert again["updated_at"] > stored["updated_at"]
    got = gh("GET", f"{prefix}/codespaces/secrets/Acr_Container_Registry_Password").json()
    assert got["name"] == "ACR_CONTAINER_REGISTRY_PASSWORD"
    assert got["updated_at"] == again["updated_at"]
    assert (
        gh("DELETE", f"{prefix}/codespaces/secrets/acr_container_registry_password").status_code
        == 204
    )
    assert (
        gh("DELETE", f"{prefix}/codespaces/secrets/ACR_CONTAINER_REGISTRY_PASSWORD").status_code
        == 404
    )


def test_each_target_has_its_own_key(gh: GH) -> None:
    keys = [gh.key(p)["key_id"] for p in (REPO, "/repos/octo-org/web", ORG, USER)]
    assert len(set(keys)) == 4
    assert all(k.isdigit() for k in keys)
    assert gh.key(REPO) == gh.key(REPO)  # stable until rotated
    web_key = gh.key("/repos/octo-org/web")
    body = {"encrypted_value": seal(web_key["key"], "v"), "key_id": web_key["key_id"]}
    response = gh("PUT", f"{REPO}/codespaces/secrets/X", json=body)
    assert response.status_code == 422
    assert "key_id" in response.json()["message"]


def test_stale_key_id_after_rotation_is_422(gh: GH, sandbox: Sandbox) -> None:
    old = gh.key(ORG)
    sandbox.store.rotate_keys()
    body = {"encrypted_value": seal(old["key"], "v"), "key_id": old["key_id"], "visibility": "all"}
    response = gh("PUT", f"{ORG}/codespaces/secrets/X", json=body)
    assert response.status_code == 422
    assert "key_id" in response.json()["message"]
    assert response.json()["errors"][0]["field"] == "key_id"
    new = gh.key(ORG)
    assert new["key_id"] != old["key_id"]
    assert gh.put_secret(ORG, "X", "v", visibility="all").status_code == 201


def test_rotate_keys_through_admin_api(gh: GH) -> None:
    old = gh.key(USER)["key_id"]
    gh.admin("POST", "faults", {"rotate_keys": True})
    assert gh.key(USER)["key_id"] != old


@pytest.mark.parametrize(
    "encrypted_value", ["not base64!", "AAAA", "aGVsbG8gd29ybGQgdGhpcyBpcyBub3Qgc2VhbGVk"]
)
def test_undecryptable_value_is_422(gh: GH, encrypted_value: str) -> None:
    key = gh.key(REPO)
    body = {"encrypted_value": encrypted_value, "key_id": key["key_id"]}
    response = gh("PUT", f"{REPO}/codespaces/secrets/X", json=body)
    assert response.status_code == 422
    assert gh.secrets() == {}


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "1ABC", "A-B"])
def test_invalid_secret_names_are_422(gh: GH, name: str) -> None:
    assert gh.put_secret(REPO, name, "v").status_code == 422


def test_non_json_body_is_400(gh: GH) -> None:
    response = gh("PUT", f"{REPO}/codespaces/secrets/X", data=b"{nope")
    assert response.status_code == 400
    assert response.json()["message"] == "Problems parsing JSON"


def test_repo_level_has_at_most_100_secrets(gh: GH, sandbox: Sandbox) -> None:
    for i in range(100):
        sandbox.store.set_secret("repository", "octo-org/api", f"S{i}", "v")
    assert gh.put_secret(REPO, "ONE_MORE", "v").status_code == 422
    assert gh.put_secret(REPO, "S1", "v").status_code == 204


# -- org visibility and selected repositories ---------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"visibility": "public"},
        {"visibility": "all", "selected_repository_ids": [API_ID]},
        {"visibility": "selected", "selected_repository_ids": [DOTFILES_ID]},  # not the org's
        {"visibility": "selected", "selected_repository_ids": [str(API_ID)]},  # strings: no
        {"visibility": "selected", "selected_repository_ids": [999]},
        {"visibility": "selected", "selected_repository_ids": API_ID},
    ],
)
def test_org_put_validation_is_422(gh: GH, body: dict[str, Any]) -> None:
    response = gh.put_secret(ORG, "X", "v", **body)
    assert response.status_code == 422, response.text
    assert gh.secrets() == {}


def test_org_selected_repositories(gh: GH) -> None:
    created = gh.put_secret(ORG, "X", "v", visibility="selected", selected_repository_ids=[WEB_ID])
    assert created.status_code == 201
    path = f"{ORG}/codespaces/secrets/X/repositories"
    listed = gh("GET", path).json()
    assert listed["total_count"] == 1
    assert [r["full_name"] for r in listed["repositories"]] == ["octo-org/web"]

    before = gh.secrets()[("org", "octo-org", "X")]["updated_at"]
    assert gh("PUT", path, json={"selected_repository_ids": [API_ID, WEB_ID]}).status_code == 204
    after = gh.secrets()[("org", "octo-org", "X")]
    assert after["repositories"] == ["octo-org/api", "octo-org/web"]
    assert after["updated_at"] > before  # set-repositories bumps updated_at, as on GitHub

    assert gh("DELETE", f"{path}/{WEB_ID}").status_code == 204
    assert gh("PUT", f"{path}/1296272").status_code == 204
    assert gh.secrets()[("org", "octo-org", "X")]["repositories"] == [
        "octo-org/api",
        "octo-org/svc-auth",
    ]
    assert gh("PUT", f"{path}/{DOTFILES_ID}").status_code == 422
    assert gh("PUT", path, json={"selected_repository_ids": [DOTFILES_ID]}).status_code == 422
    assert gh("PUT", path, json={}).status_code == 422
    assert gh("GET", f"{ORG}/codespaces/secrets/NOPE/repositories").status_code == 404


def test_org_repositories_endpoints_409_unless_selected(gh: GH) -> None:
    gh.put_secret(ORG, "X", "v", visibility="private")
    path = f"{ORG}/codespaces/secrets/X/repositories"
    assert gh("PUT", path, json={"selected_repository_ids": [API_ID]}).status_code == 409
    assert gh("PUT", f"{path}/{API_ID}").status_code == 409
    assert gh("DELETE", f"{path}/{API_ID}").status_code == 409
    assert gh("GET", path).json() == {"total_count": 0, "repositories": []}


def test_org_visibility_change_drops_the_selection(gh: GH) -> None:
    gh.put_secret(ORG, "X", "v", visibility="selected", selected_repository_ids=[API_ID])
    gh.put_secret(ORG, "X", "v", visibility="all")
    assert gh.secrets()[("org", "octo-org", "X")]["repositories"] == []


def test_org_list_items(gh: GH) -> None:
    gh.put_secret(ORG, "B", "v", visibility="selected", selected_repository_ids=[API_ID])
    gh.put_secret(ORG, "A", "v", visibility="all")
    listed = gh("GET", f"{ORG}/codespaces/secrets").json()
    assert listed["total_count"] == 2
    assert [(s["name"], s["visibility"]) for s in listed["secrets"]] == [
        ("A", "all"),
        ("B", "selected"),
    ]
    url = listed["secrets"][1]["selected_repositories_url"]
    assert url == f"{gh.sandbox.url}{ORG}/codespaces/secrets/B/repositories"


# -- user secrets --------------------------------------------------------------------------------
def test_user_secret_repositories(gh: GH) -> None:
    created = gh.put_secret(USER, "X", "v", selected_repository_ids=[str(API_ID), DOTFILES_ID])
    assert created.status_code == 201
    item = gh("GET", f"{USER}/codespaces/secrets").json()["secrets"][0]
    assert item["visibility"] == "selected"
    assert item["selected_repositories_url"].endswith("/user/codespaces/secrets/X/repositories")
    path = f"{USER}/codespaces/secrets/X/repositories"
    names = [r["full_name"] for r in gh("GET", path).json()["repositories"]]
    assert names == ["octo-org/api", "octocat/dotfiles"]
    before = gh.secrets()[("user", "octocat", "X")]["updated_at"]
    assert gh("PUT", path, json={"selected_repository_ids": [WEB_ID]}).status_code == 204
    assert gh("PUT", f"{path}/{API_ID}").status_code == 204
    assert gh("DELETE", f"{path}/{WEB_ID}").status_code == 204
    after = gh.secrets()[("user", "octocat", "X")]
    assert after["repositories"] == ["octo-org/api"]
    assert after["updated_at"] > before
    assert gh.put_secret(USER, "X", "w").status_code == 204  # no ids: selection kept
    assert gh.secrets()[("user", "octocat", "X")]["repositories"] == ["octo-org/api"]


def test_user_put_requires_key_id_and_known_repositories(gh: GH) -> None:
    key = gh.key(USER)
    no_key_id = {"encrypted_value": seal(key["key"], "v")}
    assert gh("PUT", f"{USER}/codespaces/secrets/X", json=no_key_id).status_code == 422
    assert gh.put_secret(USER, "X", "v", selected_repository_ids=[424242]).status_code == 422
    assert gh.put_secret(USER, "X", "v", selected_repository_ids=["abc"]).status_code == 422


# -- updated_at ---------------------------------------------------------------------------------
def test_updated_at_strictly_increases_within_one_second(gh: GH) -> None:
    stamps = []
    for value in ("a", "b", "c"):
        gh.put_secret(REPO, "X", value)
        stamps.append(gh("GET", f"{REPO}/codespaces/secrets/X").json()["updated_at"])
    assert stamps == sorted(set(stamps))
    assert all(s.endswith("Z") and len(s) == 20 for s in stamps)


def test_admin_set_bumps_updated_at_and_age_moves_back(gh: GH) -> None:
    where = {"scope": "org", "target": "octo-org"}
    first = gh.admin(
        "POST", "secrets", {**where, "name": "x", "value": "v", "repositories": ["octo-org/api"]}
    )
    assert (first["name"], first["visibility"]) == ("X", "selected")
    second = gh.admin("POST", "secrets", {**where, "name": "X", "value": "w", "visibility": "all"})
    assert second["updated_at"] > first["updated_at"]
    assert second["repositories"] == []
    gh.admin("POST", "age", {"scope": "org", "target": "octo-org", "name": "X", "seconds": 7200})
    item = gh("GET", f"{ORG}/codespaces/secrets/X").json()
    aged = time.mktime(time.strptime(item["updated_at"], "%Y-%m-%dT%H:%M:%SZ"))
    fresh = time.mktime(time.strptime(second["updated_at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert fresh - aged == 7200
    assert item["created_at"] < first["created_at"]
    gh.admin("POST", "delete", {"scope": "org", "target": "octo-org", "name": "x"})
    assert gh.secrets() == {}


def test_admin_api_rejects_bad_input(gh: GH) -> None:
    url = f"{gh.sandbox.url}/_sandbox/"
    bad = {"scope": "org", "target": "nope", "name": "X", "value": "v"}
    assert gh.session.post(url + "secrets", json=bad).status_code == 400
    assert gh.session.post(url + "faults", json={"latency": -1}).status_code == 400
    assert gh.session.post(url + "faults", json={"warp": 1}).status_code == 400
    missing: dict[str, Any] = {"scope": "org", "target": "octo-org", "name": "NOPE", "seconds": 1}
    assert gh.session.post(url + "age", json=missing).status_code == 404
    assert gh.session.get(url + "nothing").status_code == 404


# -- 404s ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/repos/octo-org/nope/codespaces/secrets"),
        ("GET", "/orgs/nope/codespaces/secrets"),
        ("GET", f"{ORG}/codespaces/secrets/NOPE"),
        ("DELETE", f"{REPO}/codespaces/secrets/NOPE"),
        ("GET", "/orgs/free-org/codespaces/secrets/public-key"),
        ("GET", "/orgs/free-org/codespaces/secrets"),
        ("GET", "/repos/octo-org/nope"),
        ("GET", "/orgs/nope"),
        ("GET", "/orgs/octo-org/octo-org"),
        ("GET", "/orgs/free-org/repos/extra"),
        ("GET", "/nothing/here"),
        ("POST", f"{REPO}/codespaces/secrets"),
        ("GET", f"{REPO}/codespaces/secrets/X/repositories"),
    ],
)
def test_not_found(gh: GH, method: str, path: str) -> None:
    response = gh(method, path)
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"


def test_free_org_itself_is_visible(gh: GH) -> None:
    org = gh("GET", "/orgs/free-org").json()
    assert (org["login"], org["plan"]["name"]) == ("free-org", "free")


# -- supporting reads and pagination -----------------------------------------------------------
def test_supporting_reads(gh: GH) -> None:
    assert gh("GET", "/user").json()["login"] == "octocat"
    repo = gh("GET", "/repos/Octo-Org/API").json()
    assert (repo["id"], repo["full_name"], repo["owner"]["login"]) == (
        API_ID,
        "octo-org/api",
        "octo-org",
    )
    org_repos = gh("GET", f"{ORG}/repos", params={"per_page": 100}).json()
    assert len(org_repos) == 6
    assert {r["full_name"]: r["archived"] for r in org_repos}["octo-org/old-svc"] is True
    mine = gh("GET", "/user/repos", params={"per_page": 100}).json()
    assert {r["full_name"] for r in mine} >= {"octocat/dotfiles", "octo-org/api"}
    assert len(mine) == 7


def _follow(gh: GH, path: str, params: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """Every page of a list, following Link rel=next; (items, Link headers seen)."""
    response = gh("GET", path, params=params)
    items, links = [], []
    while True:
        body = response.json()
        items += body["secrets"] if isinstance(body, dict) else body
        links.append(response.headers.get("Link", ""))
        nxt = response.links.get("next")
        if not nxt:
            return items, links
        response = gh.session.get(nxt["url"], headers={"Authorization": f"token {ADMIN}"})


def test_pagination_three_pages(gh: GH, sandbox: Sandbox) -> None:
    for name in "EDCBA":
        sandbox.store.set_secret("repository", "octo-org/api", name, "v")
    path = f"{REPO}/codespaces/secrets"
    items, links = _follow(gh, path, {"per_page": 2})
    assert [s["name"] for s in items] == list("ABCDE")
    base = f"{sandbox.url}{path}"
    assert links[0] == (
        f'<{base}?per_page=2&page=2>; rel="next", <{base}?per_page=2&page=3>; rel="last"'
    )
    assert 'rel="prev"' in links[1] and 'rel="first"' in links[1] and 'rel="next"' in links[1]
    assert 'rel="next"' not in links[2] and f'<{base}?per_page=2&page=1>; rel="first"' in links[2]
    page = gh("GET", path, params={"per_page": 2, "page": 3}).json()
    assert page["total_count"] == 5 and len(page["secrets"]) == 1
    assert gh("GET", path, params={"per_page": 2, "page": 9}).json()["secrets"] == []
    assert "Link" not in gh("GET", path).headers


def test_pagination_caps_per_page_at_100(gh: GH, sandbox: Sandbox) -> None:
    for i in range(105):
        sandbox.store.set_secret("user", "octocat", f"S{i:03}", "v")
    response = gh("GET", f"{USER}/codespaces/secrets", params={"per_page": 500})
    assert len(response.json()["secrets"]) == 100
    assert response.json()["total_count"] == 105
    assert "per_page=100&page=2" in response.links["next"]["url"]
    assert len(gh("GET", f"{USER}/codespaces/secrets").json()["secrets"]) == 30


def test_link_uses_the_host_header(gh: GH) -> None:
    response = gh("GET", "/user/repos", params={"per_page": 1}, headers={"Host": "api.test:443"})
    assert response.links["next"]["url"] == "http://api.test:443/user/repos?per_page=1&page=2"


def test_unsupported_api_version_is_400(gh: GH) -> None:
    response = gh("GET", "/user", headers={"X-GitHub-Api-Version": "1999-01-01"})
    assert response.status_code == 400


# -- faults -------------------------------------------------------------------------------------
def test_latency(gh: GH) -> None:
    gh.admin("POST", "faults", {"latency": 0.3})
    start = time.monotonic()
    gh("GET", "/user")
    assert time.monotonic() - start >= 0.25
    start = time.monotonic()
    gh.admin("GET", "secrets")  # admin calls are never slowed down
    assert time.monotonic() - start < 0.25


def test_in_flight_counts_the_requests_held_unanswered(gh: GH) -> None:
    """The request log records answers; ``in-flight`` what a slow sandbox still holds."""
    gh.admin("POST", "faults", {"latency": 0.5})
    reader = threading.Thread(target=gh, args=("GET", "/user"))
    reader.start()
    deadline = time.monotonic() + 5
    while not gh.admin("GET", "in-flight")["in_flight"]:
        assert time.monotonic() < deadline, "the read never arrived"
        time.sleep(0.01)
    assert gh.admin("GET", "requests") == []  # held: not answered, not yet logged
    reader.join()
    assert gh.admin("GET", "in-flight") == {"in_flight": 0}
    assert [e["path"] for e in gh.admin("GET", "requests")] == ["/user"]


def test_a_client_gone_before_its_answer_is_no_traceback(
    gh: GH, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run stopped by a signal leaves the sandbox holding its read: its late answer meets
    a closed socket, which is no sandbox error (it printed a BrokenPipeError traceback)."""
    import socket

    gh.admin("POST", "faults", {"latency": 0.3})
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    client = socket.create_connection((host, int(port)))
    client.sendall(f"GET /user HTTP/1.1\r\nHost: {host}\r\nAuthorization: token x\r\n\r\n".encode())
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset, at once: the answer will find no one
    deadline = time.monotonic() + 5
    while not gh.admin("GET", "requests"):  # the answer was attempted
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.1)
    assert "Traceback" not in capsys.readouterr().err


def test_fail_every_nth_request_is_502_html(gh: GH, sandbox: Sandbox) -> None:
    sandbox.store.set_faults(fail_every=3)
    statuses = [gh("GET", "/user").status_code for _ in range(6)]
    assert statuses == [200, 200, 502, 200, 200, 502]
    gh("GET", "/user")
    gh("GET", "/user")
    response = gh("GET", "/user")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text


def test_secondary_rate_limit_on_writes(gh: GH) -> None:
    gh.admin("POST", "faults", {"secondary_limit_writes": 2, "retry_after": 7})
    for _ in range(2):
        refused = gh.put_secret(REPO, "X", "v")
        assert refused.status_code == 403
        assert refused.headers["Retry-After"] == "7"
        assert "secondary rate limit" in refused.json()["message"]
    assert gh("GET", f"{REPO}/codespaces/secrets").status_code == 200  # reads unaffected
    assert gh.put_secret(REPO, "X", "v").status_code == 201


def test_rotate_key_after_writes(gh: GH, sandbox: Sandbox) -> None:
    sandbox.store.set_faults({"rotate_key_after_writes": 2})
    key = gh.key(REPO)

    def put(name: str) -> int:
        body = {"encrypted_value": seal(key["key"], "v"), "key_id": key["key_id"]}
        return gh("PUT", f"{REPO}/codespaces/secrets/{name}", json=body).status_code

    assert [put("A"), put("B"), put("C")] == [201, 201, 422]
    assert gh.key(REPO)["key_id"] != key["key_id"]
    assert sandbox.store.faults.rotate_key_after_writes == 0  # one-shot


def test_faults_at_start_up_and_admin_readback(gh: GH) -> None:
    assert gh.admin("POST", "faults", {"fail_every": 5})["fail_every"] == 5
    assert gh.admin("GET", "faults")["fail_every"] == 5


# -- request log ---------------------------------------------------------------------------------
def test_request_log(gh: GH) -> None:
    gh.put_secret(ORG, "X", "v", visibility="all")
    gh("GET", f"{ORG}/codespaces/secrets", params={"per_page": "5"})
    gh("GET", "/user", None)
    log = gh.admin("GET", "requests")
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", f"{ORG}/codespaces/secrets/public-key", 200),
        ("PUT", f"{ORG}/codespaces/secrets/X", 201),
        ("GET", f"{ORG}/codespaces/secrets", 200),
        ("GET", "/user", 401),
    ]
    assert log[1]["body"]["visibility"] == "all"
    assert log[2]["query"] == {"per_page": "5"}
    assert [e["token_kind"] for e in log] == ["classic", "classic", "classic", None]
    gh.admin("POST", "reset-log")
    assert gh.admin("GET", "requests") == []


def test_concurrent_writes(gh: GH, sandbox: Sandbox) -> None:
    key = gh.key(REPO)
    results: list[int] = []

    def put(i: int) -> None:
        client = GH(sandbox)
        body = {"encrypted_value": seal(key["key"], str(i)), "key_id": key["key_id"]}
        results.append(client("PUT", f"{REPO}/codespaces/secrets/S{i}", json=body).status_code)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 20
    assert {s["value"] for s in gh.secrets().values()} == {str(i) for i in range(20)}


# -- serve() ------------------------------------------------------------------------------------
SERVE = """
import sys
from provisioner.sandbox import serve
try:
    serve(None, "127.0.0.1", 0, {"latency": 0.01})
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_serve_announces_url_and_stops_on_signals(signum: int, exit_code: int) -> None:
    """SIGTERM returns normally; Ctrl-C stops the server, then raises KeyboardInterrupt."""
    import requests

    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        line = proc.stderr.readline()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        # How to use it, as export lines on stdout: the URL and the world's first token.
        usage = [proc.stdout.readline().strip() for _ in range(3)]
        assert usage[1] == f"export GITHUB_API_URL={line.split()[-1]}"
        assert usage[2].startswith(f"export GH_TOKEN={ADMIN}  # classic")
        session = requests.Session()
        session.trust_env = False
        response = session.get(
            line.split()[-1] + "/user", headers={"Authorization": f"token {ADMIN}"}
        )
        assert response.json()["login"] == "octocat"
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == exit_code
        rest = proc.stderr.read()
        assert "sandbox: GET /user 200" in rest
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()


# -- responses match GitHub's OpenAPI description ---------------------------------------------
SPEC_CANDIDATES = [os.environ.get("GITHUB_OPENAPI_SUBSET", ""), str(openapi.SPEC)]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    for candidate in SPEC_CANDIDATES:
        if candidate and Path(candidate).is_file():
            loaded: dict[str, Any] = json.loads(Path(candidate).read_text())
            return loaded
    pytest.skip("codespaces-secrets.openapi.json is not available")


def check_schema(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Validate ``body`` against the spec's response schema (``$ref``s resolved in-document)."""
    from openapi_schema_validator import OAS30Validator

    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = {**response["content"]["application/json"]["schema"], "components": spec["components"]}
    OAS30Validator(schema).validate(body)


def test_responses_match_the_openapi_schemas(gh: GH, spec: dict[str, Any]) -> None:
    gh.put_secret(REPO, "R", "v")
    gh.put_secret(ORG, "O", "v", visibility="selected", selected_repository_ids=[API_ID])
    gh.put_secret(ORG, "P", "v", visibility="private")
    created = gh.put_secret(USER, "U", "v", selected_repository_ids=[DOTFILES_ID])
    check_schema(spec, "/user/codespaces/secrets/{secret_name}", "put", 201, created.json())
    checks = [
        ("/repos/{owner}/{repo}/codespaces/secrets", f"{REPO}/codespaces/secrets"),
        (
            "/repos/{owner}/{repo}/codespaces/secrets/public-key",
            f"{REPO}/codespaces/secrets/public-key",
        ),
        ("/repos/{owner}/{repo}/codespaces/secrets/{secret_name}", f"{REPO}/codespaces/secrets/R"),
        ("/orgs/{org}/codespaces/secrets", f"{ORG}/codespaces/secrets"),
        ("/orgs/{org}/codespaces/secrets/public-key", f"{ORG}/codespaces/secrets/public-key"),
        ("/orgs/{org}/codespaces/secrets/{secret_name}", f"{ORG}/codespaces/secrets/P"),
        (
            "/orgs/{org}/codespaces/secrets/{secret_name}/repositories",
            f"{ORG}/codespaces/secrets/O/repositories",
        ),
        ("/user/codespaces/secrets", f"{USER}/codespaces/secrets"),
        ("/user/codespaces/secrets/public-key", f"{USER}/codespaces/secrets/public-key"),
        ("/user/codespaces/secrets/{secret_name}", f"{USER}/codespaces/secrets/U"),
        (
            "/user/codespaces/secrets/{secret_name}/repositories",
            f"{USER}/codespaces/secrets/U/repositories",
        ),
        ("/user", "/user"),
        ("/repos/{owner}/{repo}", REPO),
        ("/orgs/{org}", ORG),
        ("/orgs/{org}/repos", f"{ORG}/repos"),
        ("/user/repos", "/user/repos"),
        ("/rate_limit", "/rate_limit"),
    ]
    for template, path in checks:
        response = gh("GET", path)
        assert response.status_code == 200, path
        check_schema(spec, template, "get", 200, response.json())


def test_error_bodies_match_the_openapi_schemas(gh: GH, spec: dict[str, Any]) -> None:
    missing = gh("DELETE", f"{ORG}/codespaces/secrets/NOPE")
    check_schema(
        spec, "/orgs/{org}/codespaces/secrets/{secret_name}", "delete", 404, missing.json()
    )
    invalid = gh.put_secret(ORG, "X", "v")
    assert invalid.status_code == 422
    check_schema(spec, "/orgs/{org}/codespaces/secrets/{secret_name}", "put", 422, invalid.json())
    refused = gh("GET", "/user", APP)
    check_schema(spec, "/user", "get", 403, refused.json())
