"""A real registry login: ``GET /v2/`` of the Docker Registry HTTP API, as ``docker login`` does.

Basic auth first; when the registry answers 401 with ``WWW-Authenticate: Bearer realm=...``,
the credentials go to the realm (with its ``service`` and ``scope``) for a token, and ``/v2/``
is asked again with it. The result names the registry and the HTTP status, never a value.
Plain ``http://`` is allowed for loopback hosts only (tests, local registries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlparse

import requests

from provisioner.hosts import is_loopback
from provisioner.secret import SecretValue

TIMEOUT: Final = 15.0
DOCKER_HUB_ALIASES: Final = frozenset(
    {"index.docker.io", "docker.io", "registry.hub.docker.com", "registry-1.docker.io"}
)
DOCKER_HUB_HOST: Final = "registry-1.docker.io"
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


@dataclass(frozen=True)
class LoginResult:
    """Whether the registry accepted the credentials, and a value-free explanation."""

    ok: bool
    detail: str
    status: int | None = None


def registry_base(server: str) -> str:
    """The base URL of a SERVER value: ``https://index.docker.io/v1/`` -> Docker Hub's API host.

    Raises ValueError for something that is no registry host, or plain http off loopback.
    """
    text = server.strip()
    parsed = urlparse(text if "://" in text else f"https://{text}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("not a registry host or https:// URL")
    host = parsed.hostname.lower()
    if parsed.scheme == "http" and not is_loopback(host):
        raise ValueError("plain http:// is accepted for loopback hosts only")
    if host in DOCKER_HUB_ALIASES:
        return f"https://{DOCKER_HUB_HOST}"
    netloc = f"[{host}]" if ":" in host else host
    if parsed.port is not None:
        netloc += f":{parsed.port}"
    return f"{parsed.scheme}://{netloc}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="https://auth",service="reg"`` -> ("bearer", {"realm": ..., ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): m[2] if m[2] else m[3] for m in _PARAM.finditer(rest)}
    return scheme.lower(), params


def login(
    server: str,
    username: SecretValue,
    password: SecretValue,
    *,
    session: requests.Session | None = None,
    timeout: float = TIMEOUT,
) -> LoginResult:
    """Log in to ``server`` as ``docker login`` would; never raises for network trouble."""
    try:
        base = registry_base(server)
    except ValueError as e:
        return LoginResult(False, f"server {server!r}: {e}")
    http = session or requests.Session()
    auth = (username.reveal(), password.reveal())
    endpoint = f"{base}/v2/"
    host = urlparse(base).netloc
    try:
        first = http.get(endpoint, auth=auth, timeout=timeout, allow_redirects=False)
        if first.status_code == 200:
            return LoginResult(True, f"{host} accepted the credentials", 200)
        challenge = first.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(challenge)
        if first.status_code != 401 or scheme != "bearer":
            return _refused(host, first.status_code)
        return _bearer(http, endpoint, host, params, auth, timeout)
    except requests.RequestException as e:
        return LoginResult(False, f"cannot reach {host}: {type(e).__name__}")
    finally:
        if session is None:
            http.close()


def _bearer(
    http: requests.Session,
    endpoint: str,
    host: str,
    params: dict[str, str],
    auth: tuple[str, str],
    timeout: float,
) -> LoginResult:
    realm = params.get("realm", "")
    parsed = urlparse(realm)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return LoginResult(False, f"{host} asked for a token from an invalid realm {realm!r}")
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        return LoginResult(
            False, f"{host} asked for credentials over plain http ({parsed.hostname}): refused"
        )
    query = {k: params[k] for k in ("service", "scope") if params.get(k)}
    answer = http.get(realm, params=query, auth=auth, timeout=timeout, allow_redirects=False)
    if answer.status_code != 200:
        return LoginResult(
            False,
            f"{host}: the token service {parsed.hostname} refused the credentials "
            f"(HTTP {answer.status_code})",
            answer.status_code,
        )
    try:
        document = answer.json()
        token = document.get("token") or document.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        return LoginResult(False, f"{host}: the token service {parsed.hostname} sent no token")
    second = http.get(
        endpoint,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        allow_redirects=False,
    )
    if second.status_code == 200:
        return LoginResult(True, f"{host} accepted the credentials (token from {realm})", 200)
    return _refused(host, second.status_code)


def _refused(host: str, status: int) -> LoginResult:
    if status == 401:
        return LoginResult(False, f"{host} rejected the credentials (HTTP 401)", status)
    if status == 403:
        return LoginResult(False, f"{host} refused access (HTTP 403)", status)
    return LoginResult(False, f"{host} answered HTTP {status} to GET /v2/", status)
