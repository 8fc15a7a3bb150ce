"""Doctor: the checks that answer "why can't my codespace pull?" before a user hits it.

Each check is ok, warn or fail with a one-line fix: the token's kind and scopes, each
target's access (list and public key), each registry's credentials by a real ``/v2/`` login,
servers that need no secret, swap-mode servers that are no ECR host, and secret names that
shadow (or are shadowed by) the same name at another level. Values are read to log in, and
never shown: messages name registries, hosts and HTTP statuses only.

Precedence (reference/github-api.md section 2): the secret at the lowest level wins. A
user's own secret is the lowest level of all (it is specific to the user's codespaces), then
the repository, then the organization: user > repository > organization.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from typing import Literal as Lit

from provisioner.config import Config
from provisioner.config.rules import GITHUB_PACKAGE_HOSTS, is_private_ecr_host, server_host
from provisioner.desired import ECR_USER, DesiredSecret, Selection, TargetRef, registry_values
from provisioner.errors import GitHubError, SourceError
from provisioner.github import permissions
from provisioner.github.client import GitHubClient
from provisioner.naming import parse_registry_secret
from provisioner.plan import ObservedTarget
from provisioner.registry_login import LoginResult
from provisioner.repos import RepoIndex
from provisioner.secret import SecretValue
from provisioner.sources import Resolver

if TYPE_CHECKING:
    from provisioner.aws import EcrToken

Status = Lit["ok", "warn", "fail"]
Login = Callable[[str, SecretValue, SecretValue], LoginResult]
MAX_EXTRA_REPOSITORIES: Final = 30
"""At most this many unconfigured repositories are read for shadowing secrets."""
RANK: Final = {"user": 0, "repository": 1, "org": 2}
"""Lower wins: a user secret beats a repository secret, which beats an org secret."""
LEVEL: Final = {"user": "user", "repository": "repository", "org": "organization"}
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


def token_source(environ: Mapping[str, str]) -> str:
    for name in ("GH_TOKEN", "GITHUB_TOKEN", "GITHUB_APP_ID"):
        if environ.get(name, "").strip():
            return name
    return "gh auth token"


def token_check(client: GitHubClient, environ: Mapping[str, str]) -> Check:
    """The token's kind, where it came from, and (classic) its scopes."""
    kind = client.token_kind
    text = f"{KIND_NAMES[kind]} from {token_source(environ)}"
    if client.scopes is not None:
        text += f"; scopes: {', '.join(sorted(client.scopes)) or 'none'}"
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
    fix = f"give the token {permissions.needs(target.scope, kind)}"
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


# -- shadowing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """The repositories whose codespaces see a secret: named ones, or all of one owner."""

    repos: frozenset[str] = frozenset()
    owner: str | None = None

    def overlap(self, other: Reach) -> list[str]:
        common = set(self.repos & other.repos)
        for a, b in ((self, other), (other, self)):
            if a.owner is not None:
                common |= {r for r in b.repos if r.split("/")[0] == a.owner}
        return sorted(common)


def _reach(
    client: GitHubClient,
    index: RepoIndex,
    observed: ObservedTarget,
    name: str,
    wanted: DesiredSecret | None,
) -> Reach | None:
    target = observed.target
    if target.scope == "repository":
        return Reach(frozenset({target.name.lower()}))
    o = observed.secrets.get(name)
    visibility = wanted.access.visibility if wanted else (o.visibility if o else None)
    if target.scope == "org" and visibility in ("all", "private"):
        return Reach(owner=target.name.lower())
    try:
        if wanted is not None and wanted.access.patterns is not None:
            repos: Sequence[str] = index.expand(target, wanted.access.patterns)
        elif o is not None and o.repositories is not None:
            repos = o.repositories
        elif o is not None:
            repos = [r.full_name for r in client.selected_repositories(target, name)]
        else:
            return None
    except GitHubError:
        return None
    return Reach(frozenset(r.lower() for r in repos))


def _reached_repositories(
    client: GitHubClient,
    index: RepoIndex,
    observed: Mapping[TargetRef, ObservedTarget],
    desired: Sequence[DesiredSecret],
) -> dict[TargetRef, ObservedTarget]:
    """The secrets of repositories the config's org/user secrets reach by name, not configured.

    A repository secret left there by hand is the classic cause of a failing pull: it wins over
    the org or user secret. Bounded: beyond MAX_EXTRA_REPOSITORIES, none are read.
    """
    reached: set[str] = set()
    for d in desired:
        o = observed.get(d.target)
        if d.target.scope == "repository" or o is None or o.error is not None:
            continue
        reach = _reach(client, index, o, d.name, d)
        reached |= set(reach.repos) if reach is not None else set()
    extra = sorted(reached - {t.name.lower() for t in observed if t.scope == "repository"})
    if len(extra) > MAX_EXTRA_REPOSITORIES:
        return {}
    found: dict[TargetRef, ObservedTarget] = {}
    for name in extra:
        target = TargetRef("repository", name)
        try:
            found[target] = ObservedTarget(target, client.list_secrets(target))
        except GitHubError:
            continue  # not readable with this token: nothing to say about it
    return found


def shadow_checks(
    client: GitHubClient,
    index: RepoIndex,
    observed: Mapping[TargetRef, ObservedTarget],
    desired: Sequence[DesiredSecret],
) -> list[Check]:
    """Names the config writes that also exist (or will) at another level, for one repository.

    One check per pair of levels and registry (its three names together when all collide).
    """
    pairs: dict[tuple[TargetRef, TargetRef, tuple[str, ...]], list[str]] = {}
    wanted = {d.key: d for d in desired}
    everything = {**observed, **_reached_repositories(client, index, observed, desired)}
    readable = [o for o in everything.values() if o.error is None]
    for name in sorted({d.name for d in desired}):
        holders = []
        for o in readable:
            d = wanted.get((o.target, name))
            if d is None and name not in o.secrets:
                continue
            reach = _reach(client, index, o, name, d)
            if reach is not None:
                holders.append((o.target, reach, d is not None))
        for i, (a, reach_a, mine_a) in enumerate(holders):
            for b, reach_b, mine_b in holders[i + 1 :]:
                if a.scope == b.scope or not (mine_a or mine_b):
                    continue
                repos = reach_a.overlap(reach_b)
                if repos:
                    winner, loser = (a, b) if RANK[a.scope] < RANK[b.scope] else (b, a)
                    pairs.setdefault((winner, loser, tuple(repos)), []).append(name)
    return [_shadow(names, w, lo, list(repos)) for (w, lo, repos), names in pairs.items()]


def _names(names: list[str]) -> str:
    parsed = {parse_registry_secret(n) for n in names}
    ids = {p[0] for p in parsed if p is not None}
    if len(ids) == 1 and len(parsed) == 3 and None not in parsed:
        return f"{ids.pop()}_CONTAINER_REGISTRY_*"
    return ", ".join(names)


def _shadow(names: list[str], winner: TargetRef, loser: TargetRef, repos: list[str]) -> Check:
    where = ", ".join(repos[:3]) + (f" and {len(repos) - 3} more" if len(repos) > 3 else "")
    return Check(
        "shadow",
        _names(names),
        "warn",
        f"{winner.label} shadows {loser.label} in {where}: the {LEVEL[winner.scope]} secret "
        f"wins over the {LEVEL[loser.scope]} one (the lowest level wins)",
        "keep these secrets at one level only, or give one of the registries another ID",
    )


def registries_in(config: Config, selection: Selection) -> list[str]:
    """The registry IDs the selected targets use, in config order."""
    used: dict[str, None] = {}
    for target in config.targets:
        if selection.wants_target(TargetRef.of(target)):
            for registry_id in target.registries:
                if selection.wants_registry(registry_id):
                    used[registry_id] = None
    return list(used)
