"""Fixtures for the sandbox's own tests: a started sandbox and a small HTTP client for it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from nacl.public import PublicKey, SealedBox

from provisioner.sandbox import Sandbox, World, load_world

ADMIN = "ghp_sandbox_admin"


@pytest.fixture
def world() -> World:
    return load_world(None)


@pytest.fixture
def sandbox(world: World) -> Iterator[Sandbox]:
    """The default world (or a test's own ``world`` fixture) served on a free loopback port."""
    with Sandbox(world) as sb:
        yield sb


def seal(key_b64: str, value: str) -> str:
    """What a GitHub client does: a sealed box for the public key, base64."""
    box = SealedBox(PublicKey(base64.b64decode(key_b64)))
    return base64.b64encode(box.encrypt(value.encode("utf-8"))).decode("ascii")


class GH:
    """Real HTTP to the sandbox: ``gh("GET", "/user")``, ``gh.put_secret(...)``, ``gh.admin(...)``.

    Requests carry the admin classic token unless another ``token`` (or None) is given.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.trust_env = False  # never a proxy for loopback

    def __call__(
        self, method: str, path: str, token: str | None = ADMIN, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"token {token}")
        headers.setdefault("X-GitHub-Api-Version", "2022-11-28")
        return self.session.request(
            method, self.sandbox.url + path, headers=headers, timeout=10, **kwargs
        )

    def key(self, prefix: str, token: str = ADMIN) -> dict[str, Any]:
        """The public key of a level: prefix ``/repos/o/r``, ``/orgs/o`` or ``/user``."""
        response = self("GET", f"{prefix}/codespaces/secrets/public-key", token)
        assert response.status_code == 200, response.text
        key: dict[str, Any] = response.json()
        return key

    def put_secret(
        self, prefix: str, name: str, value: str | None, token: str = ADMIN, **body: Any
    ) -> requests.Response:
        """PUT a secret with a real sealed box (``value=None``: no encrypted_value)."""
        key = self.key(prefix, token)
        payload: dict[str, Any] = {"key_id": key["key_id"], **body}
        if value is not None:
            payload["encrypted_value"] = seal(key["key"], value)
        return self("PUT", f"{prefix}/codespaces/secrets/{name}", token, json=payload)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(
            method, f"{self.sandbox.url}/_sandbox/{path}", json=body, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def secrets(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """The admin view, keyed by (scope, target, name)."""
        return {(s["scope"], s["target"], s["name"]): s for s in self.admin("GET", "secrets")}


@pytest.fixture
def gh(sandbox: Sandbox) -> Iterator[GH]:
    client = GH(sandbox)
    yield client
    client.session.close()
