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
from urllib.parse import parse_qsl, urlsplit

from provisioner.errors import ProvisionError
from provisioner.sandbox.api import API_VERSIONS, GRAPHQL, SECONDARY_LIMIT, WRITES, Api, _int
from provisioner.sandbox.store import DOCS, ApiError, Store, iso
from provisioner.sandbox.world import (
    World,
    load_world,
)

_INSTALLATION_TOKENS = re.compile(r"/app/installations/(\d+)/access_tokens")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away before its answer (a run stopped by a signal while the
        sandbox held its request) is no sandbox error: no traceback for it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


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
        sandbox.store.arrived(+1)
        try:
            status, payload, headers, kind = sandbox.handle(
                self.command, path, query, body, bad_json, self.headers, self._base()
            )
        except Exception as e:  # a sandbox bug: answer 500 rather than drop the connection
            status, headers, kind = 500, {}, None
            payload = {"message": f"sandbox internal error: {type(e).__name__}: {e}"}
        finally:
            sandbox.store.arrived(-1)
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
        installation = _INSTALLATION_TOKENS.fullmatch(path) if method == "POST" else None
        if installation is not None:
            jwt_token = auth[1].strip() if ok_scheme else ""
            return (*self._installation_token(int(installation[1]), jwt_token), "app-jwt")
        token = store.token(auth[1].strip()) if ok_scheme else None
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
        write = method in WRITES and path != GRAPHQL
        try:
            if write and (retry := store.take_secondary_limit()) is not None:
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
            error: dict[str, Any] = {"message": e.message, "documentation_url": e.documentation_url}
            if e.errors:
                error["errors"] = e.errors
            error["status"] = str(e.status)
            return e.status, error, out | e.headers, kind
        if write:
            store.write_succeeded()
        return status, payload, out | extra, kind

    def _installation_token(
        self, installation_id: int, jwt_token: str
    ) -> tuple[int, Any, dict[str, str]]:
        """``POST /app/installations/{id}/access_tokens``: an App's JWT (RS256, ``iss`` = the
        App's ID) buys a ``ghs_`` installation token, as on GitHub."""
        import jwt  # PyJWT, which PyGithub depends on

        app = self.world.app(installation_id)
        if app is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        try:
            claims = jwt.decode(
                jwt_token, app.public_key, algorithms=["RS256"], options={"require": ["exp", "iat"]}
            )
        except jwt.PyJWTError:
            message = "A JSON web token could not be decoded"
            return 401, {"message": message, "documentation_url": DOCS}, {}
        if str(claims.get("iss")) != str(app.id):
            return (
                401,
                {
                    "message": "'Issuer' claim ('iss') must be the App's ID",
                    "documentation_url": DOCS,
                },
                {},
            )
        token = self.store.mint_installation_token(app)
        expires = iso(int(self.store.clock()) + 3600)
        body = {"token": token.token, "expires_at": expires, "permissions": token.permissions}
        return 201, body | {"repository_selection": "all"}, {}

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
            if route == ("GET", "/_sandbox/in-flight"):
                return 200, {"in_flight": store.in_flight()}
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


def usage(sandbox: Sandbox) -> str:
    """How to use it, as ``export`` lines (stdout: ``provision sandbox > env.sh &`` works).

    The first token of the world is exported as GH_TOKEN; the others are listed to swap in.
    """
    tokens = sandbox.world.tokens
    lines = ["# provision sandbox: use it with", f"export GITHUB_API_URL={sandbox.url}"]
    for i, token in enumerate(tokens):
        rights = ", ".join(token.scopes) or ", ".join(
            f"{k}: {v}" for k, v in token.permissions.items()
        )
        comment = f"  # {token.kind}" + (f" ({rights})" if rights else "")
        lines.append(("" if i == 0 else "# ") + f"export GH_TOKEN={token.token}{comment}")
    return "\n".join(lines)


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
        print(usage(sandbox), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
