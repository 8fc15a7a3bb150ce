"""The sandbox's HTTP side: GitHub's REST routes, auth, pagination, faults, admin API.

Only loopback addresses are served. Request lines may be logged; bodies never are.
"""

from __future__ import annotations

import ipaddress
import json
import re
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from provisioner.errors import ProvisionError
from provisioner.sandbox.store import DOCS, ApiError, SecretRecord, Store, iso, not_found
from provisioner.sandbox.world import (
    Owner,
    Repo,
    Token,
    World,
    load_world,
    org_json,
    private_user_json,
    repo_json,
)

API_VERSIONS = ("2022-11-28", "2026-03-10")
WRITES = ("PUT", "DELETE", "POST", "PATCH")
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
    """Check one token against one level (reference/github-api.md section 4).

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
            ids = body.get("selected_repository_ids") if isinstance(body, dict) else None
            if ids is None:
                raise ApiError(422, "selected_repository_ids is required")
            store.set_secret_repositories(scope, target, name, ids)
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls

    def version_string(self) -> str:
        return "GitHub.com"

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_DELETE = do_POST = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines are logged by _handle, when asked for

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        path, query = split.path, dict(parse_qsl(split.query))
        length = _int(self.headers.get("Content-Length"), 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body: Any = json.loads(raw) if raw else None
            bad_json = False
        except (ValueError, UnicodeDecodeError):
            body, bad_json = None, True
        if path.startswith("/_sandbox/"):
            status, payload = sandbox.admin(self.command, path, body, bad_json)
            self._send(status, payload, {})
            return
        try:
            status, payload, headers, kind = sandbox.handle(
                self.command, path, query, body, bad_json, self.headers, self._base()
            )
        except Exception as e:  # a sandbox bug: answer 500 rather than drop the connection
            status, headers, kind = 500, {}, None
            payload = {"message": f"sandbox internal error: {type(e).__name__}: {e}"}
        if sandbox.log_requests:
            print(f"sandbox: {self.command} {path} {status}", file=sys.stderr, flush=True)
        sandbox.store.log_request(
            {
                "method": self.command,
                "path": path,
                "query": query,
                "status": status,
                "body": body,
                "token_kind": kind,
            }
        )
        self._send(status, payload, headers)

    def _base(self) -> str:
        host = self.headers.get("Host")
        if not host:
            address, port = str(self.server.server_address[0]), self.server.server_address[1]
            host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        return f"http://{host}"

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if isinstance(payload, bytes):
            data, ctype = payload, "text/html; charset=utf-8"
        elif payload is None:
            data, ctype = b"", "application/json; charset=utf-8"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)


_BAD_GATEWAY = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"


class Sandbox:
    """A GitHub REST API emulator on loopback. ``start()`` serves in a daemon thread."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        check_loopback(host)
        self.world = world
        self.host = host
        self.port = port
        self.store = Store(world)
        self.api = Api(self.store)
        self.url = ""
        self.log_requests = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as e:
            raise ProvisionError(f"sandbox: cannot listen on {self.host}:{self.port}: {e}") from e
        port = self._server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sandbox", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        bad_json: bool,
        headers: Any,
        base: str,
    ) -> tuple[int, Any, dict[str, str], str | None]:
        """One GitHub API request: (status, JSON body | HTML bytes | None, headers, token kind)."""
        store = self.store
        faults = store.faults
        if faults.latency:
            time.sleep(faults.latency)
        auth = str(headers.get("Authorization") or "").split(None, 1)
        ok_scheme = len(auth) == 2 and auth[0].lower() in ("token", "bearer")
        token = self.world.token(auth[1].strip()) if ok_scheme else None
        kind = token.kind if token else None
        out = {"X-GitHub-Request-Id": uuid.uuid4().hex[:20].upper()}
        out["X-GitHub-Api-Version-Selected"] = API_VERSIONS[0]
        limit = 5000 if token else 60
        bucket = token.token if token else "anonymous"
        remaining, used, reset = store.count_request(bucket, limit, path != "/rate_limit")
        out |= {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}
        out |= {"X-RateLimit-Reset": str(reset), "X-RateLimit-Used": str(used)}
        out["X-RateLimit-Resource"] = "core"
        if token and token.kind == "classic":
            out["X-OAuth-Scopes"] = ", ".join(token.scopes)
        if store.next_request_fails():
            return 502, _BAD_GATEWAY, out, kind  # as from GitHub's edge: HTML, not JSON
        try:
            if method in WRITES and (retry := store.take_secondary_limit()) is not None:
                out["Retry-After"] = str(retry)
                raise ApiError(403, SECONDARY_LIMIT)
            version = headers.get("X-GitHub-Api-Version")
            if version and version not in API_VERSIONS:
                raise ApiError(400, f"API version {version} is not supported.")
            if token is None:
                raise ApiError(401, "Bad credentials")
            if bad_json:
                raise ApiError(400, "Problems parsing JSON")
            status, payload, extra = self.api.call(method, path, query, body, token, base)
        except ApiError as e:
            error: dict[str, Any] = {"message": e.message, "documentation_url": DOCS}
            if e.errors:
                error["errors"] = e.errors
            error["status"] = str(e.status)
            return e.status, error, out | e.headers, kind
        if method in WRITES:
            store.write_succeeded()
        return status, payload, out | extra, kind

    def admin(self, method: str, path: str, body: Any, bad_json: bool) -> tuple[int, Any]:
        """The ``/_sandbox/`` test API (no auth): inspect and change state, set faults."""
        store, route = self.store, (method, path.rstrip("/"))
        args = body if isinstance(body, dict) else {}
        if bad_json:
            return 400, {"message": "Problems parsing JSON"}
        try:
            if route == ("GET", "/_sandbox/secrets"):
                return 200, store.snapshot()
            if route == ("POST", "/_sandbox/secrets"):
                return 200, store.set_secret(**args)
            if route == ("POST", "/_sandbox/delete"):
                if not store.delete_secret(args["scope"], _target(self.world, args), args["name"]):
                    return 404, {"message": "Not Found"}
                return 200, {}
            if route == ("POST", "/_sandbox/age"):
                store.age(args["scope"], args["target"], args["name"], int(args["seconds"]))
                return 200, {}
            if route == ("GET", "/_sandbox/requests"):
                return 200, store.requests()
            if route == ("POST", "/_sandbox/reset-log"):
                store.reset_log()
                return 200, {}
            if route == ("GET", "/_sandbox/faults"):
                return 200, vars(store.faults)
            if route == ("POST", "/_sandbox/faults"):
                return 200, vars(store.set_faults(args))
        except ApiError as e:
            return e.status, {"message": e.message}
        except (KeyError, TypeError, ValueError) as e:
            return 400, {"message": f"bad admin request: {e}"}
        return 404, {"message": "Not Found"}


def _target(world: World, args: dict[str, Any]) -> str:
    return world.canonical_target(args["scope"], args["target"]) or args["target"]


def check_loopback(host: str) -> None:
    """Refuse to serve anywhere but loopback: the sandbox has no real authentication."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ProvisionError(f"sandbox: refusing to listen on {host!r}; use a loopback address")


def serve(
    world_path: Path | None,
    host: str,
    port: int,
    faults: dict[str, float | int] | None = None,
) -> None:
    """Serve until SIGTERM (returns) or Ctrl-C (stops, then re-raises KeyboardInterrupt).

    Announces ``sandbox listening on URL`` on stderr, then one line per request (no bodies).
    """
    sandbox = Sandbox(load_world(world_path), host, port)
    if faults:
        try:
            sandbox.store.set_faults(faults)
        except ValueError as e:
            raise ProvisionError(f"sandbox: {e}") from None
    sandbox.log_requests = True
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sandbox.start()
    try:
        print(f"sandbox listening on {sandbox.url}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
