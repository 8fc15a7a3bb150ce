"""The naive baseline: what a ``gh secret set`` loop sends, executed for real with ``requests``.

Per secret, like ``gh secret set NAME --org|--repo ...``: GET the target's public key, GET
``/repos/{owner}/{repo}`` (the repository-ID lookup: the repository itself for a repository
secret, the first selected repository for an org secret), then PUT the sealed value. It has
no plan, so a re-run rewrites every secret. Targets run on ``workers`` threads (each target's
secrets in order): that favours the baseline, since a real loop is serial.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from nacl.public import PublicKey, SealedBox

from bench.worlds import TOKEN

WORKERS = 6
"""Targets at a time: the same bound as our parallel reads."""


@dataclass(frozen=True)
class Item:
    """One ``gh secret set`` call."""

    scope: str  # "org" or "repository"
    target: str
    name: str
    value: str
    lookup: str  # owner/name whose ID a gh loop resolves
    repository_ids: tuple[int, ...] = ()


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, never a proxy
    session.headers.update(
        {"Authorization": f"token {TOKEN}", "X-GitHub-Api-Version": "2022-11-28"}
    )
    return session


def _one(session: requests.Session, base: str, item: Item) -> None:
    prefix = f"/orgs/{item.target}" if item.scope == "org" else f"/repos/{item.target}"
    key = session.get(f"{base}{prefix}/codespaces/secrets/public-key", timeout=30)
    key.raise_for_status()
    session.get(f"{base}/repos/{item.lookup}", timeout=30).raise_for_status()
    box = SealedBox(PublicKey(base64.b64decode(key.json()["key"])))
    body: dict[str, Any] = {
        "encrypted_value": base64.b64encode(box.encrypt(item.value.encode())).decode(),
        "key_id": key.json()["key_id"],
    }
    if item.scope == "org":
        body |= {"visibility": "selected", "selected_repository_ids": list(item.repository_ids)}
    put = session.put(f"{base}{prefix}/codespaces/secrets/{item.name}", json=body, timeout=30)
    put.raise_for_status()


def run(base: str, items: Sequence[Item], workers: int) -> float:
    """Send every item's three requests; the wall time in seconds."""
    by_target: dict[str, list[Item]] = {}
    for item in items:
        by_target.setdefault(f"{item.scope}:{item.target}", []).append(item)

    def target_loop(group: list[Item]) -> None:
        session = _session()
        for item in group:
            _one(session, base, item)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(target_loop, by_target.values()):
            pass
    return time.perf_counter() - start
