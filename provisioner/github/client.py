"""The GitHub client: PyGithub's requester for the Codespaces secrets endpoints it does not wrap.

One object per run. It owns authentication, the base URL, retries (:mod:`.retry`) and write
pacing (PyGithub's), checks every answer's shape, translates failures into one-line
:class:`GitHubError` messages naming the target and the permission (:mod:`.permissions`),
and speaks the project's types. Public keys are fetched once per target per run. Request
and response bodies are never logged (a filter on PyGithub's DEBUG log drops them).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

import requests
from github import Github, GithubException
from github.Auth import AppInstallationAuth, Auth, Token

from provisioner import crypto, output
from provisioner.desired import TargetRef
from provisioner.errors import GitHubError
from provisioner.github import permissions
from provisioner.github.retry import (
    RATE_LIMITED,
    BudgetedRetry,
    RetryInterrupted,
    RetryPolicy,
    WaitLimitExceeded,
    make_retry,
)
from provisioner.plan import ObservedSecret
from provisioner.secret import SecretValue

API_VERSION: Final = "2022-11-28"
PER_PAGE: Final = 100
log = logging.getLogger("provisioner.github")
_KEY_ID = re.compile(r"\bkey_id\b")


class _NoBodies(logging.Filter):
    """PyGithub logs request and response bodies at DEBUG: keep the request line only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 9:
            verb, scheme, host, url, _headers, _body, status, _rheaders, _out = record.args
            record.msg = "%s %s://%s%s ==> %s (headers and bodies omitted)"
            record.args = (verb, scheme, host, url, status)
        return True


logging.getLogger("github.Requester").addFilter(_NoBodies())
# PyGithub attaches a stderr handler at INFO to "github"; its retry chatter would duplicate
# this client's own notices (WaitBudget.notify), so only its warnings are shown.
logging.getLogger("github").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Repo:
    id: int
    full_name: str
    archived: bool = False


@dataclass(frozen=True)
class PublicKey:
    key_id: str | int
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
        retry: BudgetedRetry | None = None,
        timeout: int = 30,
        workers: int = 6,
        logger: Callable[[str], None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = retry or make_retry(RetryPolicy.from_env(environ))
        self.retry.budget.notify = output.warn
        self._github = Github(
            auth=auth,
            base_url=base_url,
            api_version=API_VERSION,
            per_page=PER_PAGE,
            timeout=timeout,
            retry=self.retry,
            pool_size=max(workers, 2),
            seconds_between_requests=None,
            seconds_between_writes=write_interval or None,
            user_agent="provisioner",
        )
        self._requester = self._github.requester
        self._keys: dict[TargetRef, PublicKey] = {}
        self._keys_lock = threading.Lock()
        self._log = logger
        self._token = auth.token if isinstance(auth, Token) else None
        self._app = isinstance(auth, AppInstallationAuth)
        self._environ = dict(environ) if environ is not None else None
        self.scopes: frozenset[str] | None = None
        """The classic token's scopes, from the X-OAuth-Scopes of any answer (None: unseen)."""

    # -- retries and permissions ---------------------------------------------------------

    def set_max_wait(self, seconds: float) -> None:
        """The most the run may wait on retries in total (``--max-wait``)."""
        self.retry.budget.limit = seconds

    def cancel_waits(self) -> None:
        """Stop any retry wait now (Ctrl-C during apply): the waiting request fails."""
        self.retry.budget.cancelled.set()

    @property
    def token_kind(self) -> permissions.TokenKind:
        environ = os.environ if self._environ is None else self._environ
        return permissions.token_kind(
            self._token, app_installation=self._app, environ=environ, scopes=self.scopes
        )

    def permission_problem(self, target: TargetRef) -> str | None:
        """Why the token certainly cannot manage this target's secrets (None: not known)."""
        return permissions.missing_for(target.scope, target.label, self.token_kind, self.scopes)

    # -- transport --------------------------------------------------------------------

    def _call(
        self,
        verb: str,
        url: str,
        target: TargetRef | None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[Mapping[str, Any], Any]:
        """One request (retried per the policy); the lower-cased headers and the JSON answer."""
        if target is not None and (problem := self.permission_problem(target)):
            raise GitHubError(problem)
        if self._log is not None:
            self._log(f"{verb} {url}")
        where, path = _where(target), urlsplit(url).path
        budget = self.retry.budget
        budget.begin()
        try:
            status, raw_headers, text = self._requester.requestJson(
                verb, url, parameters=params, input=body
            )
        except GithubException as e:  # GithubRetry's verdict on a 403 that is no rate limit
            self._note_scopes(e.headers)
            message = self._explain(e.status, e.data, verb, path, target)
            raise GitHubError(message + _tries(budget.retries()), e.status) from None
        except WaitLimitExceeded as e:
            raise GitHubError(f"{where}{verb} {path}: {e}") from None
        except RetryInterrupted as e:
            raise GitHubError(f"{where}{verb} {path}: {e}") from None
        except requests.RequestException as e:
            raise GitHubError(
                f"{where}cannot reach {self.base_url}: {type(e).__name__}{_tries(budget.retries())}"
            ) from None
        except RuntimeError:  # PyGithub refuses a redirect to another host or scheme
            raise GitHubError(
                f"{where}{verb} {path}: GitHub redirected to another host or scheme; "
                "not followed: check --api-url"
            ) from None
        except ValueError:  # malformed rate-limit headers
            raise GitHubError(
                f"{where}{verb} {path}: GitHub's answer has malformed headers"
            ) from None
        headers = {str(k).lower(): v for k, v in (raw_headers or {}).items()}
        self._note_scopes(headers)
        data = _json(text)
        if 300 <= status < 400:
            to = urlsplit(str(headers.get("location", ""))).netloc or "elsewhere"
            raise GitHubError(
                f"{where}{verb} {path}: GitHub answered {status} (redirect to {to}); "
                "not followed: check --api-url"
            )
        if status == 422 and verb == "PUT" and _names_key_id(data):
            raise _StaleKey(f"{where}{verb} {path}: 422 {_message(data)}", status)
        if status in RATE_LIMITED and _rate_limited(headers, data):
            detail = f"{status} {_message(data)}".strip()
            raise GitHubError(
                f"{where}{verb} {path}: rate limited ({detail}){_tries(budget.retries())}", status
            )
        if status >= 400 or status < 200:
            message = self._explain(status, data, verb, path, target)
            raise GitHubError(message + _tries(budget.retries()), status)
        if data is _NOT_JSON:
            raise GitHubError(f"{where}{verb} {path}: GitHub's answer is not JSON ({status})")
        return headers, data

    def _note_scopes(self, headers: Mapping[str, Any] | None) -> None:
        for name, value in (headers or {}).items():
            if str(name).lower() == "x-oauth-scopes":
                self.scopes = permissions.parse_scopes(str(value))

    def _pages(self, url: str, target: TargetRef | None, item_key: str | None) -> Iterator[Any]:
        """Every item of a paged list, following ``Link: rel="next"`` on the same host."""
        next_url: str | None = url
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        base = urlsplit(self.base_url)
        while next_url:
            headers, data = self._call("GET", next_url, target, params)
            items = data.get(item_key) if item_key and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise GitHubError(f"{_where(target)}GET {url}: unexpected answer (no list)")
            yield from items
            next_url = None
            params = None
            for link in requests.utils.parse_header_links(str(headers.get("link", ""))):
                if link.get("rel") == "next":
                    next_url = link.get("url")
            if next_url and (urlsplit(next_url)[:2] != base[:2]):
                raise GitHubError(
                    f"{_where(target)}GET {url}: GitHub's next-page link points to another host"
                )

    # -- reads ------------------------------------------------------------------------

    def list_secrets(self, target: TargetRef) -> dict[str, ObservedSecret]:
        """One paged list of a target's Codespaces secrets, by upper-case name."""
        found: dict[str, ObservedSecret] = {}
        for item in self._pages(secrets_path(target), target, "secrets"):
            try:
                name = str(item["name"]).upper()
                visibility = item.get("visibility") if target.scope == "org" else None
                if visibility is not None and not isinstance(visibility, str):
                    raise TypeError("visibility")
                found[name] = ObservedSecret(
                    name=name, updated_at=_timestamp(item["updated_at"]), visibility=visibility
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
        key_id = data.get("key_id") if isinstance(data, dict) else None
        key = data.get("key") if isinstance(data, dict) else None
        if (
            not isinstance(key_id, str | int)
            or isinstance(key_id, bool)
            or not isinstance(key, str)
        ):
            raise GitHubError(f"{target.label}: unexpected public key answer from GitHub")
        found = PublicKey(key_id=key_id, key=key)
        with self._keys_lock:
            self._keys[target] = found
        return found

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
            raise GitHubError("GET /user: unexpected answer from GitHub")
        return str(data["login"])

    # -- writes (paced by PyGithub's seconds_between_writes; idempotent, so retried) -----

    def put_secret(
        self,
        target: TargetRef,
        name: str,
        value: SecretValue,
        visibility: str | None = None,
        repository_ids: list[int] | None = None,
    ) -> None:
        """Create or update a secret; a key_id GitHub rejects (rotated) is fetched again, once."""
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
            except _StaleKey:
                if attempt == 2:
                    raise GitHubError(
                        f"{target.label}: PUT {url}: GitHub rejected the key_id of a public key "
                        "fetched just now; try again later"
                    ) from None
                log.info("%s: public key rotated; fetching it again", target.label)
                with self._keys_lock:
                    self._keys.pop(target, None)

    def set_repositories(self, target: TargetRef, name: str, repository_ids: list[int]) -> None:
        url = f"{secrets_path(target)}/{quote(name, safe='')}/repositories"
        self._call("PUT", url, target, body={"selected_repository_ids": repository_ids})

    def delete_secret(self, target: TargetRef, name: str) -> None:
        self._call("DELETE", f"{secrets_path(target)}/{quote(name, safe='')}", target)

    # -- errors -----------------------------------------------------------------------

    def _explain(
        self, status: int, data: Any, verb: str, path: str, target: TargetRef | None
    ) -> str:
        """A one-line error naming the target and, for 403/404, the permission it needs."""
        message = _message(data)
        where = _where(target)
        detail = f"{status} {message}".strip()
        kind = self.token_kind
        if status == 401:
            return f"{where}GitHub rejected the token ({detail}): check GH_TOKEN / GITHUB_TOKEN"
        if target is not None and status == 403:
            known = self.permission_problem(target)
            if known:
                return known
            return f"{where}permission denied ({detail}): the token needs {_needs(target, kind)}"
        if target is not None and status == 404 and target.scope == "org":
            return (
                f"{where}{verb} {path}: 404: organization not found, no admin access, or its plan "
                f"has no organization Codespaces secrets (the token needs {_needs(target, kind)})"
            )
        if target is not None and status == 404 and target.scope == "repository":
            return (
                f"{where}{verb} {path}: 404: repository not found, "
                f"or the token needs {_needs(target, kind)}"
            )
        return f"{where}{verb} {path}: {detail or 'request failed'}"


class _StaleKey(GitHubError):
    """422 naming key_id: the public key rotated since it was fetched."""


_NOT_JSON: Final = object()


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _message(data: Any) -> str:
    """GitHub's error message, first line, bounded (never a whole body)."""
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return ""
    lines = data["message"].splitlines()
    return lines[0][:200] if lines else ""


def _rate_limited(headers: Mapping[str, Any], data: Any) -> bool:
    """A 403/429 that is a rate limit (by GitHub's headers or message), not a refusal."""
    if "retry-after" in headers or str(headers.get("x-ratelimit-remaining")) == "0":
        return True
    return "rate limit" in _message(data).lower()


def _names_key_id(data: Any) -> bool:
    """GitHub's 422 for a stale key: its errors name the ``key_id`` field, or its message does."""
    if not isinstance(data, dict):
        return False
    errors = data.get("errors")
    if isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("field") == "key_id" for e in errors
    ):
        return True
    return bool(_KEY_ID.search(_message(data)))


def _needs(target: TargetRef, kind: permissions.TokenKind) -> str:
    return permissions.needs(target.scope, kind)


def _tries(retries: int) -> str:
    return f" (after {retries} {'retry' if retries == 1 else 'retries'})" if retries else ""


def _repo(item: Any, target: TargetRef | None) -> Repo:
    try:
        repo_id, full_name = item["id"], item["full_name"]
        if not isinstance(repo_id, int) or isinstance(repo_id, bool):
            raise TypeError("id")
        if not isinstance(full_name, str) or "/" not in full_name:
            raise TypeError("full_name")
        return Repo(id=repo_id, full_name=full_name, archived=bool(item.get("archived")))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise GitHubError(f"{_where(target)}unexpected repository in GitHub's answer") from None


def _where(target: TargetRef | None) -> str:
    return f"{target.label}: " if target is not None else ""
