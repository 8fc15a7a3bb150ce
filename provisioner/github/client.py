"""The GitHub client: PyGithub's requester for the Codespaces secrets endpoints it does not wrap.

One object per run. It owns authentication, the base URL and retries (:mod:`.retry`, run by
:mod:`.transport` with a deadline per attempt); the pause between writes is the applier's
(:class:`provisioner.apply.Applier`), but before a write sent again after a rotated key. It
follows pages (each once), checks every answer (:mod:`.answers`) and translates failures into
one-line :class:`GitHubError` messages naming the target and the permission
(:mod:`.permissions`), and speaks the project's types. Public keys are fetched once per
target per run, or not at all for a target whose key the state cached
(:meth:`GitHubClient.seed_keys`). Request and response bodies are never logged (a filter on
PyGithub's DEBUG log drops them).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from github import Github, GithubException
from github.Auth import AppAuth, AppInstallationAuth, Auth, Token
from github.InstallationAuthorization import InstallationAuthorization
from github.Requester import Requester

from provisioner import crypto, output
from provisioner.domain import ObservedSecret, TargetRef
from provisioner.errors import GitHubError
from provisioner.github import permissions, transport
from provisioner.github.answers import (
    NOT_JSON,
    PublicKey,
    Repo,
    StaleKey,
    after_retries,
    app_refusal,
    error_message,
    explain,
    is_rate_limited,
    names_key_id,
    parse_json,
    parse_repo,
    parse_timestamp,
    request_line,
    target_prefix,
)
from provisioner.github.retry import (
    RATE_LIMITED,
    BudgetedRetry,
    RetryInterrupted,
    RetryPolicy,
    WaitLimitExceeded,
    make_retry,
)
from provisioner.secret import SecretValue

API_VERSION: Final = "2022-11-28"
PER_PAGE: Final = 100
log = logging.getLogger("provisioner.github")


class _NoBodies(logging.Filter):
    """PyGithub logs request and response bodies at DEBUG: keep the request line only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 9:
            verb, scheme, host, url, _headers, _body, status, _rheaders, _out = record.args
            record.msg = "%s %s://%s%s ==> %s (headers and bodies omitted)"
            record.args = (verb, scheme, host, url, status)
        return True


_NO_BODIES = _NoBodies()


def configure_logging() -> None:
    """PyGithub's loggers for a run of the CLI (called by it, never on import): request lines
    without headers or bodies, and of its own chatter only warnings (PyGithub attaches a stderr
    handler at INFO to "github"; its retry notices would duplicate this client's own)."""
    requester = logging.getLogger("github.Requester")
    if _NO_BODIES not in requester.filters:
        requester.addFilter(_NO_BODIES)
    github = logging.getLogger("github")
    # PyGithub sets INFO on import; any other level was set on purpose (a test) and is kept.
    if github.level in (logging.NOTSET, logging.INFO):
        github.setLevel(logging.WARNING)


def secrets_path(target: TargetRef) -> str:
    """The Codespaces secrets collection of a target."""
    if target.scope == "org":
        return f"/orgs/{quote(target.name, safe='')}/codespaces/secrets"
    if target.scope == "repository":
        owner, _, repo = target.name.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/codespaces/secrets"
    return "/user/codespaces/secrets"


class InstallationAuth(AppInstallationAuth):
    """PyGithub's App installation auth (a token minted with the App's JWT, again shortly
    before it expires), its token minted by ``mint`` when one is set: the client's own
    request, through its transport, retries, ``-v`` line and error messages, instead of a
    requester PyGithub builds aside. The token stays opaque: never logged nor shown."""

    def __init__(self, app: AppAuth, installation_id: int) -> None:
        super().__init__(app, installation_id)
        self.mint: Callable[[], InstallationAuthorization] | None = None

    def _get_installation_authorization(self) -> InstallationAuthorization:
        if self.mint is None:
            return super()._get_installation_authorization()
        return self.mint()


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
        token_source: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.retry = retry or make_retry(RetryPolicy.from_env(environ))
        self.retry.budget.notify = output.warn
        self.workers = workers
        """How many reads may run at once (observation, preflight, read-backs)."""
        self.write_interval = write_interval
        """The pause before a PUT sent again after GitHub rejected its key_id (the pause
        between the writes of successive changes is the applier's, which a stop signal ends:
        PyGithub's ``seconds_between_writes`` slept inside the request, as if it were in flight)."""
        self._github = Github(
            auth=auth,
            base_url=base_url,
            api_version=API_VERSION,
            per_page=PER_PAGE,
            timeout=timeout,
            retry=self.retry,
            pool_size=max(workers, 2),
            seconds_between_requests=None,
            seconds_between_writes=None,
            user_agent="provisioner",
        )
        self._requester = self._github.requester
        transport.install(self._requester)  # deadlines, one retry loop, no redirect loops
        self._keys: dict[TargetRef, PublicKey] = {}
        self._keys_lock = threading.Lock()
        self._log = logger
        self._token = auth.token if isinstance(auth, Token) else None
        self._app = isinstance(auth, AppInstallationAuth)
        self._installation = auth if isinstance(auth, InstallationAuth) else None
        if self._installation is not None:
            # The App's JWT requester PyGithub made for the installation: through our transport.
            transport.install(self._installation.requester)
            self._installation.mint = self._mint_installation_token
        self.token_source = token_source
        """Where the token came from (``GH_TOKEN``, ``gh auth token``...), for a 401's message."""
        self._environ = dict(environ) if environ is not None else None
        self._login: str | None = None
        self._orgs: dict[str, int | None] = {}
        """The status of ``GET /orgs/{org}``, asked once per org after a 404 on its secrets."""
        self._orgs_lock = threading.Lock()  # held while asking: a second 404 waits, not asks
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

    def authenticate(self) -> None:
        """Mint a GitHub App installation token now (no-op for a plain token), so that a wrong
        App ID, key or installation is one clear error before any target is read, rather than
        a 401 or 404 on each of them."""
        if self._installation is not None:
            _ = self._installation.token  # the property mints when none is held

    def _mint_installation_token(self) -> InstallationAuthorization:
        """``POST /app/installations/{id}/access_tokens`` with the App's JWT (no
        ``permissions`` narrowing: Codespaces-secret permissions cannot be requested)."""
        auth = self._installation
        assert auth is not None
        installation = auth.installation_id
        path = f"/app/installations/{installation}/access_tokens"
        headers, data = self._call(
            "POST",
            path,
            None,
            requester=auth.requester,
            explained=lambda status, answer: app_refusal(
                status, answer, str(auth.app_id), installation
            ),
        )
        token = data.get("token") if isinstance(data, dict) else None
        try:
            parse_timestamp(data.get("expires_at") if isinstance(data, dict) else None)
        except (TypeError, ValueError):
            token = None
        if not isinstance(token, str) or not token:
            raise GitHubError(f"POST {path}: unexpected answer from GitHub (no installation token)")
        return InstallationAuthorization(auth.requester, dict(headers), data)

    # -- transport --------------------------------------------------------------------

    def _call(
        self,
        verb: str,
        url: str,
        target: TargetRef | None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        *,
        requester: Requester | None = None,
        explained: Callable[[int, Any], str] | None = None,
    ) -> tuple[Mapping[str, Any], Any]:
        """One request (retried per the policy); the lower-cased headers and the JSON answer.

        ``requester``: another of PyGithub's (the App's JWT one), else the run's; ``explained``:
        the one-line error for an error status and GitHub's answer, else :func:`explain`'s."""
        if target is not None and (problem := self.permission_problem(target)):
            raise GitHubError(problem)
        where, path = target_prefix(target), urlsplit(url).path
        budget = self.retry.budget
        budget.begin()
        started, answered = time.monotonic(), None
        try:
            status, raw_headers, text = (requester or self._requester).requestJson(
                verb, url, parameters=params, input=body
            )
            answered = status
        except GithubException as e:  # GithubRetry's verdict on a 403 that is no rate limit
            answered = e.status
            self._note_scopes(e.headers)
            if explained is not None:
                raise GitHubError(
                    explained(e.status, e.data) + after_retries(budget.retries()), e.status
                ) from None
            message = explain(
                e.status,
                e.data,
                verb,
                path,
                target,
                self.token_kind,
                None if target is None else self.permission_problem(target),
                source=self.token_source,
            )
            raise GitHubError(message + after_retries(budget.retries()), e.status) from None
        except WaitLimitExceeded as e:
            raise GitHubError(f"{where}{verb} {path}: {e}") from None
        except RetryInterrupted as e:
            raise GitHubError(f"{where}{verb} {path}: {e}") from None
        except transport.TransportFailure as e:
            raise GitHubError(
                f"{where}{verb} {path}: {e}{after_retries(budget.retries())}"
            ) from None
        except requests.RequestException as e:
            raise GitHubError(
                f"{where}cannot reach {self.base_url}: {type(e).__name__}"
                f"{after_retries(budget.retries())}"
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
        finally:  # -v: once answered (or given up), with the final status; retries included
            if self._log is not None:
                absolute = url if "://" in url else self.base_url + url
                seconds = time.monotonic() - started
                self._log(request_line(verb, absolute, params, answered, seconds))
        headers = {str(k).lower(): v for k, v in (raw_headers or {}).items()}
        self._note_scopes(headers)
        data = parse_json(text)
        if 300 <= status < 400:
            to = urlsplit(str(headers.get("location", ""))).netloc or "elsewhere"
            raise GitHubError(
                f"{where}{verb} {path}: GitHub answered {status} (redirect to {to}); "
                "not followed: check --api-url"
            )
        if status == 422 and verb == "PUT" and names_key_id(data):
            raise StaleKey(f"{where}{verb} {path}: 422 {error_message(data)}", status)
        if status in RATE_LIMITED and is_rate_limited(headers, data):
            detail = f"{status} {error_message(data)}".strip()
            raise GitHubError(
                f"{where}{verb} {path}: rate limited ({detail}){after_retries(budget.retries())}",
                status,
            )
        if status >= 400 or status < 200:
            retries = budget.retries()  # before the org is asked about (its own count)
            if explained is not None:
                raise GitHubError(explained(status, data) + after_retries(retries), status)
            message = explain(
                status,
                data,
                verb,
                path,
                target,
                self.token_kind,
                None if target is None else self.permission_problem(target),
                org=self._org_status(target, verb, path) if status == 404 else None,
                scopes=self.scopes,
                source=self.token_source,
            )
            raise GitHubError(message + after_retries(retries), status)
        if data is NOT_JSON:
            raise GitHubError(f"{where}{verb} {path}: GitHub's answer is not JSON ({status})")
        return headers, data

    def _org_status(self, target: TargetRef | None, verb: str, path: str) -> int | None:
        """After a 404 on an org's secrets list or key: ``GET /orgs/{org}``'s status, once.

        It tells a missing org from one whose plan has no Codespaces secrets (GitHub answers
        404 for both). None when the 404 was another request's, or the org page gave nothing.
        """
        if target is None or target.scope != "org" or verb != "GET":
            return None
        if path not in (secrets_path(target), f"{secrets_path(target)}/public-key"):
            return None
        name = target.name.lower()
        with self._orgs_lock:
            if name not in self._orgs:
                try:
                    self._call("GET", f"/orgs/{quote(target.name, safe='')}", None)
                    self._orgs[name] = 200
                except GitHubError as e:
                    self._orgs[name] = e.status
            return self._orgs[name]

    def _note_scopes(self, headers: Mapping[str, Any] | None) -> None:
        for name, value in (headers or {}).items():
            if str(name).lower() == "x-oauth-scopes":
                self.scopes = permissions.parse_scopes(str(value))

    def _pages(self, url: str, target: TargetRef | None, item_key: str | None) -> Iterator[Any]:
        """Every item of a paged list, following ``Link: rel="next"`` on the same host, once."""
        next_url: str | None = url
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        base = urlsplit(self.base_url)
        seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
        while next_url:
            seen.add(self._page_key(next_url, params))
            headers, data = self._call("GET", next_url, target, params)
            items = data.get(item_key) if item_key and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise GitHubError(f"{target_prefix(target)}GET {url}: unexpected answer (no list)")
            yield from items
            next_url = None
            params = None
            for link in requests.utils.parse_header_links(str(headers.get("link", ""))):
                if link.get("rel") == "next":
                    next_url = link.get("url")
            if next_url and (urlsplit(next_url)[:2] != base[:2]):
                raise GitHubError(
                    f"{target_prefix(target)}GET {url}: "
                    "GitHub's next-page link points to another host"
                )
            if next_url and self._page_key(next_url, None) in seen:
                raise GitHubError(
                    f"{target_prefix(target)}GET {url}: pagination loop: GitHub's next-page "
                    f"link leads back to a page already read (after {len(seen)} "
                    f"{'page' if len(seen) == 1 else 'pages'})"
                )

    def _page_key(
        self, url: str, params: Mapping[str, Any] | None
    ) -> tuple[str, frozenset[tuple[str, str]]]:
        """Which page a URL names: its path and query, the first page being ``page=1``."""
        parts = urlsplit(url if "://" in url else self.base_url + url)
        query = dict(parse_qsl(parts.query))
        query.update({k: str(v) for k, v in (params or {}).items()})
        query.setdefault("page", "1")
        return parts.path, frozenset(query.items())

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
                    name=name, updated_at=parse_timestamp(item["updated_at"]), visibility=visibility
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                raise GitHubError(f"{target.label}: unexpected secret in GitHub's list") from None
        return found

    def selected_repositories(self, target: TargetRef, name: str) -> list[Repo]:
        """The repositories an org or user secret is visible to."""
        url = f"{secrets_path(target)}/{quote(name, safe='')}/repositories"
        return [parse_repo(item, target) for item in self._pages(url, target, "repositories")]

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

    def _key_seal(self, target: TargetRef, key: PublicKey) -> str | None:
        """HMAC-SHA256 of (target, key_id, key) keyed by the token; None without a token of
        its own (an App installation's changes hourly: its keys are fetched, never cached)."""
        if not self._token:
            return None
        message = f"{target.scope}\n{target.folded}\n{key.key_id}\n{key.key}".encode()
        return hmac.new(self._token.encode(), message, hashlib.sha256).hexdigest()

    def seed_keys(self, keys: Mapping[TargetRef, PublicKey]) -> None:
        """Public keys known from the state: used without a GET when their seal shows this
        token cached them (anyone who could write the state could otherwise plant a key whose
        writes GitHub accepts and no codespace decrypts); a rotated one is refetched on the
        422 GitHub gives the write sealed with it (:meth:`put_secret`)."""
        with self._keys_lock:
            for target, key in keys.items():
                seal = self._key_seal(target, key)
                if (
                    seal is not None
                    and key.seal is not None
                    and hmac.compare_digest(seal, key.seal)
                ):
                    self._keys.setdefault(target, key)

    def known_keys(self) -> dict[TargetRef, PublicKey]:
        """The public keys this run holds now (seeded or fetched), sealed for the state."""
        with self._keys_lock:
            held = dict(self._keys)
        return {
            target: PublicKey(key.key_id, key.key, seal)
            for target, key in held.items()
            if (seal := self._key_seal(target, key)) is not None
        }

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
        return parse_repo(data, None)

    def list_repositories(self, owner: TargetRef) -> Iterator[Repo]:
        """An org's repositories, or every repository the authenticated user can see."""
        url = f"/orgs/{quote(owner.name, safe='')}/repos" if owner.scope == "org" else "/user/repos"
        for item in self._pages(url, owner, None):
            yield parse_repo(item, owner)

    def authenticated_login(self) -> str:
        """The token's user (``GET /user``), asked once per run."""
        if self._login is None:
            _, data = self._call("GET", "/user", None)
            if not isinstance(data, dict) or not isinstance(data.get("login"), str):
                raise GitHubError("GET /user: unexpected answer from GitHub")
            self._login = str(data["login"])
        return self._login

    # -- writes (paced by the applier; idempotent, so retried) ---------------------------

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
            except StaleKey:
                if attempt == 2:
                    raise GitHubError(
                        f"{target.label}: PUT {url}: GitHub rejected the key_id of a public key "
                        "fetched just now; try again later"
                    ) from None
                log.info("%s: public key rotated; fetching it again", target.label)
                with self._keys_lock:
                    self._keys.pop(target, None)
                try:  # the second PUT is a write request too: the interval holds before it
                    self.retry.budget.sleep(self.write_interval)
                except RetryInterrupted:
                    raise GitHubError(
                        f"{target.label}: PUT {url}: stopped before sending it again with the "
                        "new public key; nothing was written"
                    ) from None

    def set_repositories(self, target: TargetRef, name: str, repository_ids: list[int]) -> None:
        url = f"{secrets_path(target)}/{quote(name, safe='')}/repositories"
        self._call("PUT", url, target, body={"selected_repository_ids": repository_ids})

    def delete_secret(self, target: TargetRef, name: str) -> None:
        """Delete a secret; one already gone (404) counts as deleted.

        A 404 comes when an earlier attempt's answer was lost and the retry finds the secret
        deleted, or when someone deleted it since the plan read it (the target itself was
        readable a moment ago): either way the goal is reached, as Terraform treats a
        resource already deleted.
        """
        try:
            self._call("DELETE", f"{secrets_path(target)}/{quote(name, safe='')}", target)
        except GitHubError as e:
            if e.status != 404:
                raise
            log.info("%s: %s was already deleted", target.label, name)
