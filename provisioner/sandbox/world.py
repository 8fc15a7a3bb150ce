"""The sandbox's world: the user, orgs, repositories and tokens it pretends GitHub has.

A world is read from a small YAML file (``default_world.yaml`` ships with the package).
Every problem is reported as ``FILE:LINE: message`` through :class:`ProvisionError`.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from provisioner.errors import ProvisionError

SCOPES = ("org", "repository", "user")
TOKEN_KINDS = ("classic", "fine-grained", "app-installation")
ACCESS_LEVELS = ("read", "write")
DEFAULT_WORLD = "default_world.yaml"


@dataclass(frozen=True)
class Owner:
    """A user or an organization (``codespaces`` only matters for orgs)."""

    login: str
    id: int
    is_org: bool
    codespaces: bool = True


@dataclass(frozen=True)
class Repo:
    full_name: str
    id: int
    archived: bool = False
    private: bool = True

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


@dataclass(frozen=True)
class Token:
    token: str
    kind: str
    scopes: tuple[str, ...] = ()
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class App:
    """A GitHub App installed once: its JWTs are checked with ``public_key`` (PEM)."""

    id: int
    installation_id: int
    public_key: str
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedSecret:
    """A secret present when the sandbox starts (plaintext, like one set in GitHub's UI)."""

    scope: str
    target: str
    name: str
    value: str
    visibility: str | None = None
    repositories: tuple[str, ...] = ()


@dataclass(frozen=True)
class World:
    user: Owner
    orgs: tuple[Owner, ...]
    repositories: tuple[Repo, ...]
    tokens: tuple[Token, ...]
    secrets: tuple[SeedSecret, ...] = ()
    apps: tuple[App, ...] = ()

    def app(self, installation_id: int) -> App | None:
        return next((a for a in self.apps if a.installation_id == installation_id), None)

    def org(self, login: str) -> Owner | None:
        return next((o for o in self.orgs if o.login.lower() == login.lower()), None)

    def owner(self, login: str) -> Owner | None:
        return self.user if login.lower() == self.user.login.lower() else self.org(login)

    def repo(self, full_name: str) -> Repo | None:
        wanted = full_name.lower()
        return next((r for r in self.repositories if r.full_name.lower() == wanted), None)

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return next((r for r in self.repositories if r.id == repo_id), None)

    def token(self, value: str) -> Token | None:
        return next((t for t in self.tokens if t.token == value), None)

    def canonical_target(self, scope: str, target: str) -> str | None:
        """The world's spelling of ``target`` at ``scope``, or None when it does not exist."""
        if scope == "repository":
            repo = self.repo(target)
            return repo.full_name if repo else None
        if scope == "org":
            org = self.org(target)
            return org.login if org else None
        if scope == "user":
            return self.user.login if target.lower() == self.user.login.lower() else None
        return None


class _LineDict(dict[str, Any]):
    line: int = 0


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings remember their line, for ``file:line:`` errors."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[_LineDict]:
    data = _LineDict()
    data.line = node.start_mark.line + 1
    yield data
    data.update({str(k): v for k, v in loader.construct_mapping(node).items()})


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


class _Reader:
    """Checks one mapping of the world file, failing with ``file:line: message``."""

    def __init__(self, source: str, data: Any, where: str, line: int) -> None:
        self.source = source
        self.where = where
        self.line = getattr(data, "line", line)
        if not isinstance(data, dict):
            self.fail("must be a mapping")
        self.data: dict[str, Any] = data

    def fail(self, message: str) -> NoReturn:
        raise ProvisionError(f"{self.source}:{self.line}: {self.where}: {message}")

    def check_keys(self, allowed: set[str], required: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(f"unknown key {key!r} (expected one of {sorted(allowed)})")
        for key in sorted(required - set(self.data)):
            self.fail(f"missing key {key!r}")

    def get(self, key: str, kind: type, default: Any = None) -> Any:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}
            names[dict] = "a mapping"
            self.fail(f"{key} must be {names.get(kind, kind.__name__)}")
        return value

    def child(self, data: Any, where: str) -> _Reader:
        return _Reader(self.source, data, where, self.line)


def _items(reader: _Reader, key: str) -> list[Any]:
    value = reader.data.get(key) or []
    if not isinstance(value, list):
        reader.fail(f"{key} must be a list")
    return value


def _parse(source: str, text: str) -> World:
    try:
        raw = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        raise ProvisionError(f"{source}:{line}: invalid YAML: {problem}") from None
    top = _Reader(source, raw, "world", 1)
    top.check_keys(
        {"user", "orgs", "repositories", "tokens", "secrets", "apps"}, {"user", "tokens"}
    )

    u = top.child(top.data["user"], "user")
    u.check_keys({"login", "id"}, {"login", "id"})
    user = Owner(u.get("login", str), u.get("id", int), is_org=False)

    orgs: list[Owner] = []
    for i, item in enumerate(_items(top, "orgs")):
        o = top.child(item, f"orgs[{i}]")
        o.check_keys({"login", "id", "codespaces"}, {"login", "id"})
        org = Owner(o.get("login", str), o.get("id", int), True, o.get("codespaces", bool, True))
        if org.login.lower() in {x.login.lower() for x in [user, *orgs]}:
            o.fail(f"duplicate owner login {org.login!r}")
        orgs.append(org)
    owners = {x.login.lower() for x in [user, *orgs]}

    repos: list[Repo] = []
    for i, item in enumerate(_items(top, "repositories")):
        r = top.child(item, f"repositories[{i}]")
        r.check_keys({"full_name", "id", "archived", "private"}, {"full_name", "id"})
        repo = Repo(
            r.get("full_name", str),
            r.get("id", int),
            r.get("archived", bool, False),
            r.get("private", bool, True),
        )
        if not re.fullmatch(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+", repo.full_name):
            r.fail(f"full_name must be OWNER/NAME, got {repo.full_name!r}")
        if repo.owner.lower() not in owners:
            r.fail(f"owner {repo.owner!r} is neither the user nor an org of this world")
        if any(x.id == repo.id or x.full_name.lower() == repo.full_name.lower() for x in repos):
            r.fail(f"duplicate repository {repo.full_name!r} or id {repo.id}")
        repos.append(repo)

    tokens: list[Token] = []
    for i, item in enumerate(_items(top, "tokens")):
        t = top.child(item, f"tokens[{i}]")
        t.check_keys({"token", "kind", "scopes", "permissions"}, {"token", "kind"})
        kind = t.get("kind", str)
        if kind not in TOKEN_KINDS:
            t.fail(f"kind must be one of {list(TOKEN_KINDS)}, got {kind!r}")
        scopes = t.get("scopes", list, [])
        perms = t.get("permissions", dict, {})
        if kind == "classic" and perms:
            t.fail("classic tokens have scopes, not permissions")
        if kind != "classic" and scopes:
            t.fail(f"{kind} tokens have permissions, not scopes")
        if not all(isinstance(s, str) for s in scopes):
            t.fail("scopes must be strings")
        for key, level in perms.items():
            if level not in ACCESS_LEVELS:
                t.fail(f"permission {key!r} must be read or write, got {level!r}")
        tokens.append(Token(t.get("token", str), kind, tuple(scopes), dict(perms)))

    apps: list[App] = []
    for i, item in enumerate(_items(top, "apps")):
        a = top.child(item, f"apps[{i}]")
        a.check_keys(
            {"id", "installation_id", "public_key", "permissions"},
            {"id", "installation_id", "public_key"},
        )
        perms = a.get("permissions", dict, {})
        for key, level in perms.items():
            if level not in ACCESS_LEVELS:
                a.fail(f"permission {key!r} must be read or write, got {level!r}")
        key_pem = a.get("public_key", str)
        if "BEGIN PUBLIC KEY" not in key_pem:
            a.fail("public_key must be a PEM public key")
        apps.append(App(a.get("id", int), a.get("installation_id", int), key_pem, dict(perms)))

    world = World(user, tuple(orgs), tuple(repos), tuple(tokens))
    seeds: list[SeedSecret] = []
    for i, item in enumerate(_items(top, "secrets")):
        s = top.child(item, f"secrets[{i}]")
        s.check_keys(
            {"scope", "target", "name", "value", "visibility", "repositories"},
            {"scope", "target", "name", "value"},
        )
        scope, target = s.get("scope", str), s.get("target", str)
        if scope not in SCOPES:
            s.fail(f"scope must be one of {list(SCOPES)}, got {scope!r}")
        canonical = world.canonical_target(scope, target)
        if canonical is None:
            s.fail(f"unknown {scope} target {target!r}")
        visibility = s.get("visibility", str)
        if scope == "org" and visibility not in (None, "all", "private", "selected"):
            s.fail(f"visibility must be all, private or selected, got {visibility!r}")
        if scope != "org" and visibility is not None:
            s.fail("visibility is only for org secrets")
        name = s.get("name", str)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            s.fail(f"invalid secret name {name!r}")
        repos_of = s.get("repositories", list, [])
        if repos_of and scope == "repository":
            s.fail("repository secrets have no repositories")
        if repos_of and visibility not in (None, "selected"):
            s.fail("repositories need visibility selected")
        for full_name in repos_of:
            known = world.repo(full_name) if isinstance(full_name, str) else None
            if known is None or (scope == "org" and known.owner.lower() != target.lower()):
                s.fail(f"unknown repository {full_name!r} for {scope} {target}")
        seeds.append(
            SeedSecret(
                scope,
                str(canonical),
                name.upper(),
                s.get("value", str),
                visibility,
                tuple(repos_of),
            )
        )
    return World(user, tuple(orgs), tuple(repos), tuple(tokens), tuple(seeds), tuple(apps))


def load_world(path: Path | None) -> World:
    """Read a world file; ``None`` means the packaged default world."""
    if path is None:
        resource = importlib.resources.files("provisioner.sandbox").joinpath(DEFAULT_WORLD)
        return _parse(DEFAULT_WORLD, resource.read_text(encoding="utf-8"))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ProvisionError(f"{path}: cannot read world file: {reason}") from None
    return _parse(str(path), text)
