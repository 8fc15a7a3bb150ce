"""A real registry (Debian's ``docker-registry``, htpasswd basic auth) and a Bearer-token one.

``docker_registry`` starts the distribution registry once per session on a free loopback
port. Without the binary the tests that need it skip, except in CI (``CI`` set), where they
fail: ``make registry`` installs it there.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

USER = "puller"
PASSWORD = "registry-MARKER-password-7"


@dataclass(frozen=True)
class Registry:
    url: str
    user: str
    password: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; in CI it must be installed (make registry)")
    pytest.skip(f"{reason} (make registry installs it)")


def _htpasswd_line(user: str, password: str) -> str:
    tool = shutil.which("htpasswd")
    if tool:
        done = subprocess.run(
            [tool, "-nbB", user, password], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()
    try:
        import bcrypt  # type: ignore[import-not-found]
    except ImportError:
        _unavailable("neither htpasswd (apache2-utils) nor Python's bcrypt is installed")
        raise
    hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
    return f"{user}:{hashed.decode()}"


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            if session.get(f"{url}/v2/", timeout=1).status_code == 401:
                return
        except requests.RequestException:
            time.sleep(0.05)
    pytest.fail(f"docker-registry did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The distribution registry with htpasswd basic auth on ``http://127.0.0.1:PORT``."""
    binary = shutil.which("docker-registry")
    if binary is None:
        _unavailable("docker-registry (Debian's distribution registry) is not installed")
        raise AssertionError("unreachable")
    tmp = tmp_path_factory.mktemp("registry")
    (tmp / "htpasswd").write_text(_htpasswd_line(USER, PASSWORD) + "\n")
    port = _free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"htpasswd": {"realm": "provisioner-tests", "path": str(tmp / "htpasswd")}},
    }
    (tmp / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = tmp / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "serve", str(tmp / "config.yml")], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield Registry(url, USER, PASSWORD)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class TokenRegistry:
    """A registry that wants Bearer tokens from its realm, as Docker Hub or GHCR do."""

    url: str = ""
    user: str = USER
    password: str = PASSWORD
    token: str = "bearer-MARKER-token-9"
    requests: list[dict[str, Any]] = field(default_factory=list)


def _handler(state: TokenRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            auth = self.headers.get("Authorization", "")
            state.requests.append({"path": parts.path, "query": parse_qs(parts.query)})
            if parts.path == "/v2/":
                if auth == f"Bearer {state.token}":
                    self._send(200, {}, {})
                    return
                challenge = (
                    f'Bearer realm="{state.url}/token",service="token-registry",'
                    'scope="registry:catalog:*"'
                )
                self._send(
                    401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge}
                )
                return
            if parts.path == "/token":
                expected = base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
                if auth == f"Basic {expected}":
                    self._send(200, {"token": state.token}, {})
                else:
                    self._send(401, {"details": "incorrect username or password"}, {})
                return
            self._send(404, {}, {})

    return Handler


@pytest.fixture
def token_registry() -> Iterator[TokenRegistry]:
    """A stdlib HTTP server on loopback: ``/v2/`` asks for a Bearer token from ``/token``."""
    state = TokenRegistry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
