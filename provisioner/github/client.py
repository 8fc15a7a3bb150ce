"""The GitHub client: PyGithub's requester for the Codespaces secrets endpoints it does not wrap.

One object per run. It owns authentication, the base URL, retries and write pacing (all
PyGithub's), translates PyGithub and transport errors into :class:`GitHubError` naming the
target and the permission, and speaks the project's types. Public keys are fetched once per
target per run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import requests
from github import Github, GithubException, GithubRetry
from github.Auth import Auth

from provisioner import crypto
from provisioner.desired import TargetRef
from provisioner.errors import GitHubError
from provisioner.plan import ObservedSecret
from provisioner.secret import SecretValue

API_VERSION: Final = "2022-11-28"
PER_PAGE: Final = 100
log = logging.getLogger("provisioner.github")

NEEDS: Final[Mapping[str, str]] = {
    "org": "admin:org (classic token) or 'Organization codespaces secrets: write' "
    "(fine-grained token or App), as an organization owner",
    "repository": "repo (classic token) or 'Codespaces secrets: write' "
    "(fine-grained token or App), as a repository admin",
    "user": "codespace or codespace:secrets (classic token) or 'Codespaces user secrets: "
    "write' (fine-grained token); an App installation token cannot manage user secrets",
}


@dataclass(frozen=True)
class Repo:
    id: int
    full_name: str
    archived: bool = False


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    key: str


def secrets_path(target: TargetRef) -> str:
    """The Codespaces secrets collection of a target."""
    if target.scope == "org":
        return f"/orgs/{quote(target.name, safe='')}/codespaces/secrets"
    if target.scope == "repository":
        owner, _, repo = target.name.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/codespaces/secrets"
    return "/user/codespaces/secrets"


def _timestamp(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError("timestamp is not a string")
    return datetime.fromisoformat(text)


class GitHubClient:
    """Typed access to the Codespaces secrets endpoints of all three levels."""

    def __init__(
        self,
        auth: Auth | None,
        base_url: str,
        *,
        write_interval: float = 1.0,
        retry: GithubRetry | int | None = None,
        timeout: int = 30,
        workers: int = 6,
        logger: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self._github = Github(
            auth=auth,
            base_url=base_url,
            api_version=API_VERSION,
            per_page=PER_PAGE,
            timeout=timeout,
            retry=GithubRetry() if retry is None else retry,
            pool_size=max(workers, 2),
            seconds_between_requests=None,
            seconds_between_writes=write_interval or None,
            user_agent="provisioner",
        )
        self._requester = self._github.requester
        self._keys: dict[TargetRef, PublicKey] = {}
        self._keys_lock = threading.Lock()
        self._log = logger

    # -- transport --------------------------------------------------------------------

    def _call(
        self,
        verb: str,
        url: str,
        target: TargetRef | None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[Mapping[str, Any], Any]:
        if self._log is not None:
            self._log(f"{verb} {url}")
        try:
            headers, data = self._requester.requestJsonAndCheck(
                verb, url, parameters=params, input=body
            )
        except GithubException as e:
            raise GitHubError(_explain(e, verb, url, target), e.status) from None
        except requests.RequestException as e:
            raise GitHubError(
                f"{_where(target)}cannot reach {self.base_url}: {type(e).__name__}"
            ) from None
        except ValueError:
            raise GitHubError(
                f"{_where(target)}{verb} {url}: GitHub's answer is not JSON"
            ) from None
        return {k.lower(): v for k, v in (headers or {}).items()}, data

    def _pages(self, url: str, target: TargetRef | None, item_key: str | None) -> Iterator[Any]:
        """Every item of a paged list, following ``Link: rel="next"``."""
        next_url: str | None = url
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        while next_url:
            headers, data = self._call("GET", next_url, target, params)
            items = data.get(item_key) if item_key and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise GitHubError(f"{_where(target)}GET {url}: unexpected answer (no list)")
            yield from items
            next_url = None
            params = None
            for link in requests.utils.parse_header_links(headers.get("link", "")):
                if link.get("rel") == "next":
                    next_url = link.get("url")

    # -- reads ------------------------------------------------------------------------

    def list_secrets(self, target: TargetRef) -> dict[str, ObservedSecret]:
        """One paged list of a target's Codespaces secrets, by upper-case name."""
        found: dict[str, ObservedSecret] = {}
        for item in self._pages(secrets_path(target), target, "secrets"):
            try:
                name = str(item["name"]).upper()
                found[name] = ObservedSecret(
                    name=name,
                    updated_at=_timestamp(item["updated_at"]),
                    visibility=item.get("visibility") if target.scope == "org" else None,
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                raise GitHubError(f"{target.label}: unexpected secret in GitHub's list") from None
        return found

    def selected_repositories(self, target: TargetRef, name: str) -> list[Repo]:
        """The repositories an org or user secret is visible to."""
        url = f"{secrets_path(target)}/{quote(name, safe='')}/repositories"
        return [_repo(item, target) for item in self._pages(url, target, "repositories")]

    def public_key(self, target: TargetRef) -> PublicKey:
        """The target's sealed-box key, fetched once per run (again only after a rejection)."""
        with self._keys_lock:
            cached = self._keys.get(target)
        if cached is not None:
            return cached
        _, data = self._call("GET", f"{secrets_path(target)}/public-key", target)
        try:
            key = PublicKey(key_id=str(data["key_id"]), key=str(data["key"]))
        except (KeyError, TypeError):
            raise GitHubError(f"{target.label}: unexpected public key answer") from None
        with self._keys_lock:
            self._keys[target] = key
        return key

    def get_repository(self, full_name: str) -> Repo | None:
        """One repository by ``owner/name``; None when GitHub says 404."""
        owner, _, name = full_name.partition("/")
        try:
            _, data = self._call(
                "GET", f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}", None
            )
        except GitHubError as e:
            if e.status == 404:
                return None
            raise
        return _repo(data, None)

    def list_repositories(self, owner: TargetRef) -> Iterator[Repo]:
        """An org's repositories, or every repository the authenticated user can see."""
        url = f"/orgs/{quote(owner.name, safe='')}/repos" if owner.scope == "org" else "/user/repos"
        for item in self._pages(url, owner, None):
            yield _repo(item, owner)

    def authenticated_login(self) -> str:
        _, data = self._call("GET", "/user", None)
        if not isinstance(data, dict) or not isinstance(data.get("login"), str):
            raise GitHubError("GET /user: unexpected answer")
        return str(data["login"])

    # -- writes (paced by PyGithub's seconds_between_writes) ---------------------------

    def put_secret(
        self,
        target: TargetRef,
        name: str,
        value: SecretValue,
        visibility: str | None = None,
        repository_ids: list[int] | None = None,
    ) -> None:
        """Create or update a secret; a rejected (rotated) key is fetched again, once."""
        url = f"{secrets_path(target)}/{quote(name, safe='')}"
        for attempt in (1, 2):
            key = self.public_key(target)
            body: dict[str, Any] = {
                "encrypted_value": crypto.seal(value, key.key, f"{target.label} {name}"),
                "key_id": key.key_id,
            }
            if target.scope == "org":
                body["visibility"] = visibility
            if repository_ids is not None and target.scope in ("org", "user"):
                body["selected_repository_ids"] = repository_ids
            try:
                self._call("PUT", url, target, body=body)
                return
            except GitHubError as e:
                if attempt == 2 or "key" not in str(e).lower() or "422" not in str(e):
                    raise
                with self._keys_lock:
                    self._keys.pop(target, None)

    def set_repositories(self, target: TargetRef, name: str, repository_ids: list[int]) -> None:
        url = f"{secrets_path(target)}/{quote(name, safe='')}/repositories"
        self._call("PUT", url, target, body={"selected_repository_ids": repository_ids})

    def delete_secret(self, target: TargetRef, name: str) -> None:
        self._call("DELETE", f"{secrets_path(target)}/{quote(name, safe='')}", target)


def _repo(item: Any, target: TargetRef | None) -> Repo:
    try:
        return Repo(
            id=int(item["id"]),
            full_name=str(item["full_name"]),
            archived=bool(item.get("archived")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise GitHubError(f"{_where(target)}unexpected repository in GitHub's answer") from None


def _where(target: TargetRef | None) -> str:
    return f"{target.label}: " if target is not None else ""


def _explain(e: GithubException, verb: str, url: str, target: TargetRef | None) -> str:
    """A one-line error naming the target and, for 403/404, the permission it needs."""
    message = ""
    if isinstance(e.data, dict):
        message = str(e.data.get("message", "")).splitlines()[0] if e.data.get("message") else ""
    status = e.status
    where = _where(target)
    detail = f"{status} {message}".strip()
    if status == 401:
        return f"{where}GitHub rejected the token ({detail}): check GH_TOKEN / GITHUB_TOKEN"
    if target is not None and status == 403 and "rate limit" not in message.lower():
        return f"{where}permission denied ({detail}): the token needs {NEEDS[target.scope]}"
    if target is not None and status == 404 and target.scope == "org":
        return (
            f"{where}{verb} {url}: 404: organization not found, no admin access, or its plan "
            "has no organization Codespaces secrets"
        )
    if target is not None and status == 404 and target.scope == "repository":
        return (
            f"{where}{verb} {url}: 404: repository not found, "
            f"or the token needs {NEEDS['repository']}"
        )
    return f"{where}{verb} {url}: {detail or 'request failed'}"
