"""The sandbox's GitHub REST routes (auth by token kind and scope, pagination, secrets), and
``POST /graphql`` for the repository look-ups gh sends (:mod:`.graphql`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from provisioner.sandbox import graphql
from provisioner.sandbox.bodies import check_repositories_put, check_secret_put
from provisioner.sandbox.store import ApiError, SecretRecord, Store, iso, not_found
from provisioner.sandbox.views import org_json, private_user_json, repo_json
from provisioner.sandbox.world import Owner, Repo, Token

API_VERSIONS = ("2022-11-28", "2026-03-10")
WRITES = ("PUT", "DELETE", "POST", "PATCH")
GRAPHQL = "/graphql"  # a POST, but a read: no secondary write limit, no write counting
_SECRETS = re.compile(
    r"/(?:repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)|orgs/(?P<org>[^/]+)|user)"
    r"/codespaces/secrets(?:/(?P<name>[^/]+)(?:/(?P<repos>repositories)(?:/(?P<rid>[^/]+))?)?)?"
)
_CLASSIC = {
    "repository": (("repo",), "Must have admin rights to Repository."),
    "org": (("admin:org",), "Must have admin rights to Organization."),
    "user": (("codespace", "codespace:secrets"), "Must have the codespace scope."),
}
_PERMISSION = {
    "repository": "codespaces_secrets",
    "org": "organization_codespaces_secrets",
    "user": "codespaces_user_secrets",
}
_NO_INTEGRATION = "Resource not accessible by integration"
SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def authorize(token: Token, scope: str, access: str) -> dict[str, str]:
    """Check one token against one level (GitHub's permission table for Codespaces secrets).

    Returns the ``X-Accepted-*`` headers GitHub sends; raises ApiError(403) when refused.
    """
    if token.kind == "classic":
        scopes, message = _CLASSIC[scope]
        headers = {"X-Accepted-OAuth-Scopes": ", ".join(scopes)}
        if not set(scopes) & set(token.scopes):
            raise ApiError(403, message, headers=headers)
        return headers
    if scope == "user" and token.kind == "app-installation":
        raise ApiError(403, _NO_INTEGRATION)
    permission = _PERMISSION[scope]
    level = "write" if scope == "repository" else access
    headers = {"X-Accepted-GitHub-Permissions": f"{permission}={level}"}
    have = token.permissions.get(permission)
    if not (have == "write" or have == level):
        who = "integration" if token.kind == "app-installation" else "personal access token"
        raise ApiError(403, f"Resource not accessible by {who}", headers=headers)
    return headers


def page_of(items: list[Any], query: dict[str, str], url: str) -> tuple[list[Any], str | None]:
    """GitHub pagination: ``per_page`` (default 30, max 100) and ``page``; a Link header."""
    per_page = min(max(_int(query.get("per_page"), 30), 1), 100)
    page = max(_int(query.get("page"), 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(number: int, rel: str) -> str:
        params = {**query, "per_page": str(per_page), "page": str(number)}
        return f'<{url}?{urlencode(params)}>; rel="{rel}"'

    rels = []
    if page > 1:
        rels.append(link(min(page - 1, last), "prev"))
    if page < last:
        rels += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        rels.append(link(1, "first"))
    return chunk, ", ".join(rels) or None


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


class Api:
    """GitHub's REST routes over one :class:`Store`: ``call`` returns (status, body, headers)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.world = store.world

    def call(
        self, method: str, path: str, query: dict[str, str], body: Any, token: Token, base: str
    ) -> tuple[int, Any, dict[str, str]]:
        match = _SECRETS.fullmatch(path)
        if match:
            return self._secrets(method, match, query, body, token, base)
        if path == GRAPHQL and method == "POST":
            return 200, graphql.answer(self.world, body), {}
        if method != "GET":
            raise not_found()
        world, parts = self.world, path.strip("/").split("/")
        if path == "/rate_limit":
            return 200, self._rate_limit(token), {}
        if parts[0] == "user" and token.kind == "app-installation":
            raise ApiError(403, _NO_INTEGRATION)
        if path == "/user":
            return 200, private_user_json(world, base), {}
        if path == "/user/repos":
            return self._repos(world.repositories, query, base + path, base)
        if len(parts) == 3 and parts[0] == "repos":
            repo = world.repo(f"{parts[1]}/{parts[2]}")
            if repo is None:
                raise not_found()
            return 200, repo_json(world, repo, base), {}
        if parts[0] == "orgs" and (len(parts) == 2 or (len(parts) == 3 and parts[2] == "repos")):
            org = self._org(parts[1], need_codespaces=False)
            if len(parts) == 2:
                return 200, org_json(world, org, base), {}
            owned = [r for r in world.repositories if r.owner.lower() == org.login.lower()]
            return self._repos(tuple(owned), query, base + path, base)
        raise not_found()

    def _org(self, login: str, need_codespaces: bool) -> Owner:
        org = self.world.org(login)
        if org is None or (need_codespaces and not org.codespaces):
            raise not_found()  # a Free-plan org has no Codespaces secrets endpoints at all
        return org

    def _repos(
        self, repos: tuple[Repo, ...], query: dict[str, str], url: str, base: str
    ) -> tuple[int, Any, dict[str, str]]:
        ordered = sorted(repos, key=lambda r: r.full_name.lower())
        chunk, link = page_of(ordered, query, url)
        return 200, [repo_json(self.world, r, base) for r in chunk], {"Link": link} if link else {}

    def _rate_limit(self, token: Token) -> dict[str, Any]:
        remaining, used, reset = self.store.count_request(token.token, 5000, counts=False)
        core = {"limit": 5000, "remaining": remaining, "reset": reset, "used": used}
        other = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
        return {"resources": {"core": core, "search": other, "graphql": core}, "rate": core}

    def _secrets(
        self,
        method: str,
        m: re.Match[str],
        query: dict[str, str],
        body: Any,
        token: Token,
        base: str,
    ) -> tuple[int, Any, dict[str, str]]:
        name, repos, rid = m["name"], m["repos"], m["rid"]
        scope = "repository" if m["owner"] else "org" if m["org"] else "user"
        if name == "public-key" and repos is None:
            kind = "key"
        elif name is None:
            kind = "list"
        else:
            kind = "repo" if rid else "repos" if repos else "secret"
        allowed = {"list": ("GET",), "key": ("GET",), "secret": ("GET", "PUT", "DELETE")}
        allowed |= {"repos": ("GET", "PUT"), "repo": ("PUT", "DELETE")}
        if method not in allowed[kind] or (scope == "repository" and kind in ("repos", "repo")):
            raise not_found()
        headers = authorize(token, scope, "read" if method == "GET" else "write")
        if scope == "repository":
            repo = self.world.repo(f"{m['owner']}/{m['repo']}")
            if repo is None:
                raise not_found()
            target, prefix = repo.full_name, f"/repos/{repo.full_name}"
        elif scope == "org":
            target = self._org(m["org"], need_codespaces=True).login
            prefix = f"/orgs/{target}"
        else:
            target, prefix = self.world.user.login, "/user"
        store, url = self.store, f"{base}{prefix}/codespaces/secrets"
        if kind == "key":
            key_id, key = store.public_key(scope, target)
            return 200, {"key_id": key_id, "key": key}, headers
        if kind == "list":
            every = store.list_secrets(scope, target)
            chunk, link = page_of(every, query, base + m.group(0))
            items = [self._secret_json(s, url) for s in chunk]
            if link:
                headers["Link"] = link
            return 200, {"total_count": len(every), "secrets": items}, headers
        if kind == "secret" and method == "GET":
            return 200, self._secret_json(store.get_secret(scope, target, name), url), headers
        if kind == "secret" and method == "PUT":
            check_secret_put(scope, body)
            created = store.put_secret(scope, target, name, body)
            return (201, {}, headers) if created else (204, None, headers)
        if kind == "secret":
            if not store.delete_secret(scope, target, name):
                raise not_found()
            return 204, None, headers
        if kind == "repos" and method == "GET":
            found = store.secret_repositories(scope, target, name)
            chunk, link = (
                page_of(found, query, base + m.group(0)) if scope == "org" else (found, None)
            )
            if link:
                headers["Link"] = link
            items = [repo_json(self.world, r, base) for r in chunk]
            return 200, {"total_count": len(found), "repositories": items}, headers
        if kind == "repos":
            check_repositories_put(scope, body)
            store.set_secret_repositories(scope, target, name, body["selected_repository_ids"])
        else:
            store.change_secret_repository(scope, target, name, rid, add=method == "PUT")
        return 204, None, headers

    @staticmethod
    def _secret_json(record: SecretRecord, url: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": record.name,
            "created_at": iso(record.created_at),
            "updated_at": iso(record.updated_at),
        }
        if record.scope != "repository":
            data["visibility"] = record.visibility
            data["selected_repositories_url"] = f"{url}/{quote(record.name)}/repositories"
        return data
