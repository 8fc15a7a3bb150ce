"""GitHub's answers, checked: shapes, error messages, rate limits, stale keys; one-line errors.

Pure functions over what the transport returned; :mod:`.client` calls them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from provisioner.domain import TargetRef
from provisioner.errors import GitHubError
from provisioner.github import permissions
from provisioner.printable import printable

_KEY_ID = re.compile(r"\bkey_id\b")


@dataclass(frozen=True)
class Repo:
    id: int
    full_name: str
    archived: bool = False


@dataclass(frozen=True)
class PublicKey:
    key_id: str | int
    key: str
    seal: str | None = None
    """For a key cached in the state: a MAC of it keyed by the run's token, so that a key
    planted in the state (whose writes GitHub would accept but no codespace could decrypt)
    is never trusted; see :meth:`GitHubClient.seed_keys`."""


def parse_timestamp(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError("timestamp is not a string")
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:  # compared with aware times: a naive one is a malformed answer
        raise ValueError("timestamp without a time zone")
    return when


def explain(
    status: int,
    data: Any,
    verb: str,
    path: str,
    target: TargetRef | None,
    kind: permissions.TokenKind,
    known: str | None = None,
    *,
    org: int | None = None,
    scopes: frozenset[str] | None = None,
    source: str | None = None,
) -> str:
    """A one-line error naming the target and, for 403/404, the permission it needs.

    ``known`` is what the token certainly lacks for the target, when that is known.
    ``org`` is the status of ``GET /orgs/{org}`` after a 404 on an org's Codespaces secrets
    (None: not asked); ``scopes`` the classic token's, when seen; ``source`` where the
    token came from (``GH_ENTERPRISE_TOKEN``, ``gh auth token``...), named by a 401.
    """
    message = error_message(data)
    where = target_prefix(target)
    detail = f"{status} {message}".strip()
    if status == 401:
        return f"{where}GitHub rejected the token ({detail}): {permissions.renew(kind, source)}"
    if target is not None and status == 403:
        if known:
            return known
        return f"{where}permission denied ({detail}): the token needs {_needs(target, kind)}"
    if target is not None and status == 404 and target.scope == "org":
        return f"{where}{verb} {path}: 404: {org_not_found(org, kind, scopes)}"
    if target is not None and status == 404 and target.scope == "repository":
        return (
            f"{where}{verb} {path}: 404: repository not found, "
            f"or the token needs {_needs(target, kind)}"
        )
    return f"{where}{verb} {path}: {detail or 'request failed'}"


def app_refusal(status: int, data: Any, app_id: str, installation: int) -> str:
    """Why minting the App's installation token failed, naming what to check."""
    detail = f"{status} {error_message(data)}".strip()
    if status == 404:
        return (
            f"GitHub App {app_id} has no installation {installation} (GITHUB_APP_INSTALLATION_ID)"
        )
    if status == 401:
        return f"GitHub refused the App's JWT ({detail}): check GITHUB_APP_ID and the private key"
    return f"GitHub App {app_id}: cannot mint a token for installation {installation} ({detail})"


ORG_MISSING: Final = "no such organization, or not visible to this token"
ORG_WITHOUT_SECRETS: Final = (
    "the organization exists, but its Codespaces secrets are not available: organization "
    "Codespaces secrets need a plan that includes them (the org may be on GitHub Free), "
    "or the token is not an owner of the org"
)


def org_not_found(
    org: int | None, kind: permissions.TokenKind, scopes: frozenset[str] | None
) -> str:
    """Why an org's Codespaces secrets answered 404, as far as ``GET /orgs/{org}`` tells.

    GitHub answers 404 alike for a missing org, an org on a plan without Codespaces secrets
    and a token that is no owner; the org's own page tells the first apart. The scope is
    named only when the token's scopes are known to lack it: a hint to add a scope the
    token already has sends the user the wrong way.
    """
    if org == 404:
        reason = ORG_MISSING
    elif org is not None and 200 <= org < 300:
        reason = ORG_WITHOUT_SECRETS
    else:  # the org's page could not be read either: nothing is told apart
        return (
            "organization not found, no admin access, or its plan has no organization "
            f"Codespaces secrets (the token needs {permissions.needs('org', kind)})"
        )
    lacks = permissions.missing_for("org", "", kind, scopes)
    if lacks is None:
        return reason
    have = ", ".join(sorted(scopes or ())) or "none"
    return f"{reason}; and the token lacks the admin:org scope (its scopes: {have})"


class StaleKey(GitHubError):
    """422 naming key_id: the public key rotated since it was fetched."""


NOT_JSON: Final = object()


def parse_json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return NOT_JSON


def error_message(data: Any) -> str:
    """GitHub's error message, first line, bounded (never a whole body)."""
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return ""
    lines = data["message"].splitlines()
    return printable(lines[0][:200]) if lines else ""


def is_rate_limited(headers: Mapping[str, Any], data: Any) -> bool:
    """A 403/429 that is a rate limit (by GitHub's headers or message), not a refusal."""
    if "retry-after" in headers or str(headers.get("x-ratelimit-remaining")) == "0":
        return True
    return "rate limit" in error_message(data).lower()


def names_key_id(data: Any) -> bool:
    """GitHub's 422 for a stale key: its errors name the ``key_id`` field, or its message does."""
    if not isinstance(data, dict):
        return False
    errors = data.get("errors")
    if isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("field") == "key_id" for e in errors
    ):
        return True
    return bool(_KEY_ID.search(error_message(data)))


def _needs(target: TargetRef, kind: permissions.TokenKind) -> str:
    return permissions.needs(target.scope, kind)


def after_retries(retries: int) -> str:
    return f" (after {retries} {'retry' if retries == 1 else 'retries'})" if retries else ""


def parse_repo(item: Any, target: TargetRef | None) -> Repo:
    try:
        repo_id, full_name = item["id"], item["full_name"]
        if not isinstance(repo_id, int) or isinstance(repo_id, bool):
            raise TypeError("id")
        if not isinstance(full_name, str) or "/" not in full_name:
            raise TypeError("full_name")
        return Repo(id=repo_id, full_name=full_name, archived=bool(item.get("archived")))
    except (KeyError, TypeError, ValueError, AttributeError):
        where = target_prefix(target)
        raise GitHubError(f"{where}unexpected repository in GitHub's answer") from None


def target_prefix(target: TargetRef | None) -> str:
    return f"{target.label}: " if target is not None else ""


def request_line(
    verb: str, url: str, params: Mapping[str, Any] | None, status: int | None, seconds: float
) -> str:
    """What ``-v`` prints for one request: method, full URL, final status, duration.

    Never a body or a header; credentials in the URL (``user:pass@``) are left out.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    query = parts.query
    if params:
        query = "&".join(q for q in (query, urlencode(params)) if q)
    shown = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    answer = str(status) if status is not None else "failed"
    return f"{verb} {shown} {answer} ({seconds * 1000:.0f} ms)"
