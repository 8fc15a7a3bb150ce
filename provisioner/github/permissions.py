"""Who may write Codespaces secrets where: token kinds and the needs of each target level.

The one place that knows which token rights each level needs, for ``plan``/``apply`` (the
client's preflight and its 403/404 explanations) and for ``provision doctor``. The API:

- :func:`token_kind` -- what kind of token a run uses (from the token's prefix, the
  environment, and whether classic scopes were seen);
- :func:`parse_scopes` -- the ``X-OAuth-Scopes`` header of any response, as a set;
- :func:`missing_for` -- ``None`` when nothing known is missing for a target, else a one-line
  reason naming the target and the missing permission;
- :func:`needs` -- what a target level needs for a kind of token, in words;
- :func:`fix_for` -- the "give the token ..." fix, unless the token visibly has that already;
- :func:`renew` -- the fix for a token GitHub rejects (401), naming where it came from.

Classic scopes are known from response headers the run gets anyway; fine-grained and App
permissions cannot be read from GitHub, so for those only what is certain is refused up front
(user secrets with an App installation token) and a 403 is explained with :func:`needs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from provisioner.domain import Scope
from provisioner.github.auth import APP_SOURCE

TokenKind = Literal["classic", "fine-grained", "app-installation", "app-user", "actions", "unknown"]

CLASSIC_SCOPES: Final[Mapping[str, tuple[str, ...]]] = {
    "repository": ("repo",),
    "org": ("admin:org",),
    "user": ("codespace", "codespace:secrets"),
}
"""Classic scopes that allow writing each level's Codespaces secrets (any one of them)."""

FINE_GRAINED: Final[Mapping[str, tuple[str, str]]] = {
    "repository": ("codespaces_secrets", "Codespaces secrets"),
    "org": ("organization_codespaces_secrets", "Organization codespaces secrets"),
    "user": ("codespaces_user_secrets", "Codespaces user secrets"),
}
"""Fine-grained (PAT and App) permission per level: (key, title); ``write`` is needed."""

_ROLE: Final[Mapping[str, str]] = {
    "repository": "as a repository admin",
    "org": "as an organization owner",
    "user": "for the authenticated user",
}
_NO_USER_SECRETS: Final = (
    "a GitHub App installation token cannot manage user Codespaces secrets (GitHub offers "
    "those endpoints to user tokens only); use a personal access token with codespace:secrets, "
    "or a GitHub App user access token"
)
_ACTIONS: Final = (
    "the workflow's own GITHUB_TOKEN has no Codespaces secrets permission; pass a personal "
    "access token or a GitHub App token in GH_TOKEN"
)


def token_kind(
    token: str | None,
    *,
    app_installation: bool = False,
    environ: Mapping[str, str] | None = None,
    scopes: frozenset[str] | None = None,
) -> TokenKind:
    """The kind of a token.

    ``app_installation``: the run authenticates as a GitHub App installation (App ID + key).
    ``scopes``: the ``X-OAuth-Scopes`` of a response, if one was seen (only classic and OAuth
    tokens get that header). In GitHub Actions, an installation token equal to
    ``GITHUB_TOKEN`` is taken for the workflow's own token.
    """
    env = environ or {}
    if app_installation:
        return "app-installation"
    if token is None:
        return "classic" if scopes is not None else "unknown"
    if token.startswith("github_pat_"):
        return "fine-grained"
    if token.startswith("ghu_"):
        return "app-user"
    if token.startswith("ghs_"):
        actions = env.get("GITHUB_ACTIONS") == "true" and token == env.get("GITHUB_TOKEN")
        return "actions" if actions else "app-installation"
    if token.startswith(("ghp_", "gho_")) or scopes is not None:
        return "classic"  # classic PATs and OAuth tokens (gh auth token) carry scopes
    if len(token) == 40 and all(c in "0123456789abcdef" for c in token):
        return "classic"  # pre-2021 classic tokens had no prefix
    return "unknown"


def parse_scopes(header: str | None) -> frozenset[str] | None:
    """``X-OAuth-Scopes: repo, admin:org`` -> {"repo", "admin:org"}; absent header -> None."""
    if header is None:
        return None
    return frozenset(s.strip() for s in header.split(",") if s.strip())


def needs(scope: Scope | str, kind: TokenKind) -> str:
    """What a target level needs for this kind of token, in words."""
    key, title = FINE_GRAINED[scope]
    classic = " or ".join(CLASSIC_SCOPES[scope])
    role = _ROLE[scope]
    if kind == "classic":
        return f"the {classic} scope ({role})"
    if kind in ("fine-grained", "app-user"):
        return f"the '{title}' permission ({key}): write ({role})"
    if kind in ("app-installation", "actions") and scope == "user":
        return _NO_USER_SECRETS if kind == "app-installation" else _ACTIONS
    if kind == "app-installation":
        return f"the App permission '{title}' ({key}): write"
    if kind == "actions":
        return _ACTIONS
    return (
        f"the {classic} scope (classic token) or the '{title}' permission ({key}): write "
        f"(fine-grained token or App), {role}"
    )


def missing_for(
    scope: Scope | str, label: str, kind: TokenKind, scopes: frozenset[str] | None
) -> str | None:
    """Why this token certainly cannot write the target's secrets; None if nothing is known.

    ``label`` names the target in the message (``org:octo-org``).
    """
    if scope == "user" and kind in ("app-installation", "actions"):
        return f"{label}: {needs(scope, kind)}"
    if kind == "classic" and scopes is not None:
        wanted = CLASSIC_SCOPES[scope]
        if not set(wanted) & scopes:
            have = ", ".join(sorted(scopes)) or "none"
            lacks = needs(scope, kind)
            return f"{label}: permission denied: the token lacks {lacks}; its scopes: {have}"
    return None


def fix_for(scope: Scope | str, kind: TokenKind, scopes: frozenset[str] | None) -> str | None:
    """The fix for a target the token cannot use: the permission it needs, unless it has it.

    A classic token whose scopes visibly include the level's gets no "give the token ..."
    (GitHub answers 404 alike for a missing org and one whose plan has no Codespaces
    secrets; the error says which, and adding a scope the token has would not help).
    """
    if kind == "classic" and scopes is not None and set(CLASSIC_SCOPES[scope]) & scopes:
        return None
    return f"give the token {needs(scope, kind)}"


def renew(kind: TokenKind, source: str | None) -> str:
    """What to do about a token GitHub rejects (401): no scope helps, it must be replaced
    where it came from (``source``: ``GH_ENTERPRISE_TOKEN``, ``gh auth token``...)."""
    if source == APP_SOURCE or (source is None and kind == "app-installation"):
        return "check GITHUB_APP_ID, the App's private key and GITHUB_APP_INSTALLATION_ID"
    if source == "gh auth token":
        return "the token from gh auth token is rejected: log in again with gh auth login"
    return f"replace or renew the token in {source or 'GH_TOKEN'} (invalid, expired or revoked)"
