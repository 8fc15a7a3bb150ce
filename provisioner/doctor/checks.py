"""Doctor: the checks that answer "why can't my codespace pull?" before a user hits it.

Each check is ok, warn or fail with a one-line fix: the token's kind and scopes, each
target's access (list and public key), each registry's credentials by a real ``/v2/`` login,
servers that need no secret, swap-mode servers that are no ECR host, and secret names that
shadow (or are shadowed by) the same name at another level (:mod:`provisioner.shadowing`).
Values are read to log in, and never shown: messages name registries, hosts and HTTP
statuses only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from typing import Literal as Lit

from provisioner.config import Config
from provisioner.desired import ECR_USER, registry_values
from provisioner.doctor.login import LoginResult
from provisioner.domain import ObservedTarget, Selection, TargetRef
from provisioner.errors import GitHubError, ProvisionError, SourceError
from provisioner.github import permissions
from provisioner.github.client import GitHubClient
from provisioner.hosts import GITHUB_PACKAGE_HOSTS, is_private_ecr_host, server_host
from provisioner.secret import SecretValue
from provisioner.sources import Resolver

if TYPE_CHECKING:
    from provisioner.sources.aws import EcrToken

Status = Lit["ok", "warn", "fail"]
Login = Callable[[str, SecretValue, SecretValue], LoginResult]
KIND_NAMES: Final = {
    "classic": "classic token",
    "fine-grained": "fine-grained personal access token",
    "app-installation": "GitHub App installation token",
    "app-user": "GitHub App user access token",
    "actions": "the workflow's GITHUB_TOKEN",
    "unknown": "token of unknown kind",
}


@dataclass(frozen=True)
class Check:
    check: str
    subject: str
    status: Status
    message: str
    fix: str | None = None


API_URL_FIX: Final = (
    "give GitHub's API URL (--api-url, config github.api_url or GITHUB_API_URL): "
    "https://api.github.com, or https://api.SUBDOMAIN.ghe.com for GHE.com"
)


def api_url_check(message: str) -> Check:
    """An API URL the token may not be sent to (a web address, plain http...)."""
    return Check("api-url", "", "fail", message, API_URL_FIX)


def credentials_check(error: ProvisionError) -> Check:
    """No usable credentials: none set, an unreadable App key, or GitHub refused the App."""
    status = error.status if isinstance(error, GitHubError) else None
    if status == 404:
        fix = "set GITHUB_APP_INSTALLATION_ID to the ID of the App's installation on the org"
    elif status == 401:
        fix = "set GITHUB_APP_ID to the App's ID and the private key to one of the App's keys"
    else:
        fix = "set GH_TOKEN (a personal access token) or the GITHUB_APP_* variables"
    return Check("token", "", "fail", str(error), fix)


def token_check(client: GitHubClient, observed: Iterable[ObservedTarget] = ()) -> Check:
    """The token's kind, where it came from, and (classic) its scopes; a failure when
    GitHub rejected it (401) on any target."""
    kind = client.token_kind
    text = f"{KIND_NAMES[kind]} from {client.token_source or 'the environment'}"
    if client.scopes is not None:
        text += f"; scopes: {', '.join(sorted(client.scopes)) or 'none'}"
    if any(o.status == 401 for o in observed):
        return Check(
            "token",
            "",
            "fail",
            text + ": GitHub rejected it (401)",
            permissions.renew(kind, client.token_source),
        )
    if kind == "actions":
        return Check(
            "token",
            "",
            "fail",
            text + ": it cannot write Codespaces secrets",
            "pass a personal access token or a GitHub App token in GH_TOKEN",
        )
    if kind == "unknown":
        return Check("token", "", "warn", text, "use a ghp_, github_pat_ or GitHub App token")
    return Check("token", "", "ok", text)


def target_check(client: GitHubClient, observed: ObservedTarget) -> Check:
    """Read access (the list and the public key) and what the token certainly lacks to write."""
    target = observed.target
    kind = client.token_kind
    fix = permissions.fix_for(target.scope, kind, client.scopes)
    if observed.status == 401:  # no scope helps a token GitHub does not accept
        fix = permissions.renew(kind, client.token_source)
    if observed.error is not None:
        return Check("target", target.label, "fail", observed.error, fix)
    try:
        client.public_key(target)
        if target.scope == "user":
            login = client.authenticated_login()
            if login.lower() != target.name.lower():
                return Check(
                    "target",
                    target.label,
                    "fail",
                    f"the token belongs to {login!r}, not {target.name!r}",
                    "user secrets can only be written with the user's own token",
                )
    except GitHubError as e:
        return Check("target", target.label, "fail", str(e), fix)
    problem = permissions.missing_for(target.scope, target.label, kind, client.scopes)
    if problem is not None:
        return Check("target", target.label, "fail", problem, fix)
    message = "lists secrets and reads the public key"
    if kind in ("fine-grained", "app-installation", "app-user"):
        message += " (write permission cannot be read from GitHub, only tried)"
    return Check("target", target.label, "ok", message)


# -- registries --------------------------------------------------------------------------


SwapToken = Callable[[SecretValue, SecretValue, str], "EcrToken"]
"""(access key ID, secret key, server) -> the ECR token GitHub's swap would get with them."""


def registry_check(
    registry_id: str,
    config: Config,
    resolver: Resolver,
    login: Login,
    swap_token: SwapToken | None = None,
) -> Check:
    """A real login with the values the secrets would hold (never shown).

    Swap mode: the key pair mints an ECR token as GitHub's exchange will, and that token
    logs in (``swap_token`` comes from the AWS module when the config uses AWS).
    """
    registry = config.registries[registry_id]
    values = registry_values(registry)
    subject = registry_id
    swap = registry.ecr is not None and registry.ecr.mode == "swap"
    try:
        server = resolver.resolve(values["SERVER"]).reveal().strip()
    except SourceError as e:
        return Check("registry", subject, "fail", f"SERVER: {e}", "fix the server's source")
    host = server_host(server)
    if host in GITHUB_PACKAGE_HOSTS:
        return Check(
            "registry",
            subject,
            "warn",
            f"{host} needs no secrets for packages of the same repository or organization",
            "grant the repository access in the package's settings instead",
        )
    if swap and not is_private_ecr_host(server):
        return Check(
            "registry",
            subject,
            "fail",
            f"ecr.mode: swap, but {host} is not a private ECR registry host",
            "set server to <account>.dkr.ecr.<region>.amazonaws.com",
        )
    try:
        user = resolver.resolve(values["USER"])
        password = resolver.resolve(values["PASSWORD"])
    except SourceError as e:
        return Check("registry", subject, "fail", str(e), "fix the credential's source")
    if swap and swap_token is not None:
        try:
            token = swap_token(user, password, server)
        except SourceError as e:
            return Check(
                "registry",
                subject,
                "fail",
                f"the key pair cannot get an ECR token: {e}",
                "use a valid long-lived key of an IAM user with ecr:GetAuthorizationToken, "
                "sts:GetServiceBearerToken and ECR read",
            )
        user, password = SecretValue(ECR_USER), token.password
    elif swap:
        return Check(
            "registry",
            subject,
            "warn",
            f"{host}: a swap-mode key pair is exchanged by GitHub itself; not checked here",
            "install boto3 (pip install 'provisioner[aws]') so doctor can check the pair",
        )
    result = login(server, user, password)
    if result.ok:
        return Check("registry", subject, "ok", f"login ok: {result.detail}")
    fix = (
        f"check the username and password sources of {registry_id}"
        if result.status in (401, 403)
        else f"check {registry_id}'s server and that this machine can reach it"
    )
    return Check("registry", subject, "fail", f"login failed: {result.detail}", fix)


def registries_in(config: Config, selection: Selection) -> list[str]:
    """The registry IDs the selected targets use, in config order."""
    used: dict[str, None] = {}
    for target in config.targets:
        if selection.wants_target(TargetRef.of(target)):
            for registry_id in target.registries:
                if selection.wants_registry(registry_id):
                    used[registry_id] = None
    return list(used)
