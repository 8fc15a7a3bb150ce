"""The semantic rules of the configuration (README: configuration reference), over what
validated field by field.

Pure functions: models in, :class:`Finding` values out. Each finding names the YAML path
it is about; the loader turns paths into ``line:column``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from provisioner import naming
from provisioner.config.model import (
    Literal,
    OrgTarget,
    Registry,
    Target,
    Value,
)
from provisioner.hosts import (
    ECR_TOKEN_LIFE,
    GITHUB_PACKAGE_HOSTS,
    is_private_ecr_host,
    registry_address_problem,
    server_host,
)

YamlPath = tuple[str | int, ...]
_CREDENTIALS: Final = ("server", "username", "password")


@dataclass(frozen=True)
class Finding:
    """One problem (or warning) about the node at ``path``; ``at_key``: point at its key."""

    path: YamlPath
    message: str
    warning: bool = False
    at_key: bool = False
    related: YamlPath | None = None


def check(
    registries: Mapping[str, Registry],
    targets: Sequence[tuple[int, Target]],
    all_ids: Collection[str],
) -> list[Finding]:
    """Every rule over the valid registries and targets; ``all_ids`` holds every ID written."""
    findings = list(_check_ids(all_ids))
    for registry in registries.values():
        findings.extend(_check_registry(registry))
    for index, target in targets:
        findings.extend(_check_target(index, target))
    findings.extend(_check_secret_names(targets, all_ids))
    return findings


def _check_ids(all_ids: Collection[str]) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for registry_id in all_ids:
        path: YamlPath = ("registries", registry_id)
        problem = naming.id_problem(registry_id) if registry_id else "a registry ID is empty"
        if problem:
            yield Finding(path, f"invalid registry ID: {problem}", at_key=True)
        first = seen.setdefault(registry_id.upper(), registry_id)
        if first != registry_id:
            yield Finding(
                path,
                f"registry IDs {first!r} and {registry_id!r} differ only in case: both would "
                f"write the {registry_id.upper()}_CONTAINER_REGISTRY_* secrets",
                at_key=True,
                related=("registries", first),
            )


def _literal(value: Value | None) -> str | None:
    return value.value if isinstance(value, Literal) else None


_PLACEHOLDER_RE: Final = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _check_placeholders(path: YamlPath, registry: Registry) -> Iterator[Finding]:
    """``username: ${ACR_USER}`` is taken literally (no expansion): say how to read the env."""
    for field in ("server", "username"):
        text = _literal(getattr(registry, field))
        match = _PLACEHOLDER_RE.fullmatch(text) if text is not None else None
        if match is not None:
            yield Finding(
                (*path, field),
                f"{text!r} is taken literally (no variable expansion); to read the "
                f"environment variable write {{env: {match[1]}}}",
                warning=True,
            )


def _check_registry(registry: Registry) -> Iterator[Finding]:
    path: YamlPath = ("registries", registry.id)
    ecr = registry.ecr
    if ecr is not None and ecr.mode == "token":
        for field in _CREDENTIALS:
            if getattr(registry, field) is not None:
                yield Finding(
                    (*path, field),
                    f"'{field}' is not allowed with ecr.mode: token (server, username and "
                    "password come from AWS GetAuthorizationToken)",
                    at_key=True,
                )
        if registry.rotate_after is not None:
            yield Finding(
                (*path, "rotate_after"),
                "for ecr.mode: token, set rotate_after under 'ecr:' (default 6h)",
                at_key=True,
            )
        if ecr.rotate_after is not None and ecr.rotate_after >= ECR_TOKEN_LIFE:
            yield Finding(
                (*path, "ecr", "rotate_after"),
                "must be shorter than 12h, the life of an ECR token (default 6h)",
            )
        return
    for field in _CREDENTIALS:
        if getattr(registry, field) is None:
            yield Finding(path, f"missing required key '{field}'")
    if _literal(registry.password) is not None:
        yield Finding(
            (*path, "password"),
            "a password can never be a literal: use a value source such as {env: NAME}, "
            "{file: PATH}, {command: [...]}, {aws_secretsmanager: ID} or {aws_ssm: NAME}",
        )
    yield from _check_placeholders(path, registry)
    server = _literal(registry.server)
    problem = None if server is None or ecr else registry_address_problem(server)
    if ecr is not None:
        yield from _check_swap(path, registry, server)  # a stricter host check of its own
    elif problem is not None:
        yield Finding((*path, "server"), f"{server!r} is not a registry address: it {problem}")
    elif server is not None and server_host(server) in GITHUB_PACKAGE_HOSTS:
        yield Finding(
            (*path, "server"),
            f"{server_host(server)} needs no secret for packages of the same repository or "
            "organization: grant the repository access in the package settings "
            "(package-level access); secrets are only needed for other packages",
            warning=True,
        )


def _check_swap(path: YamlPath, registry: Registry, server: str | None) -> Iterator[Finding]:
    assert registry.ecr is not None
    if registry.ecr.rotate_after is not None:
        yield Finding(
            (*path, "ecr", "rotate_after"),
            "ecr.rotate_after applies to mode: token only (a swap key pair does not expire); "
            "use the registry's own rotate_after",
            at_key=True,
        )
    for key in ("region", "registry_id"):
        if getattr(registry.ecr, key) is not None:
            yield Finding(
                (*path, "ecr", key),
                f"ecr.{key} applies to mode: token only; with mode: swap the server names the "
                "registry's account and region",
                at_key=True,
            )
    if server is not None and not is_private_ecr_host(server):
        yield Finding(
            (*path, "server"),
            f"{server!r} is not a private ECR registry host: ecr.mode: swap needs "
            "<account>.dkr.ecr.<region>.amazonaws.com (or its FIPS, dual-stack or China form)",
        )
    username = _literal(registry.username)
    if username is not None and username.startswith("ASIA"):
        yield Finding(
            (*path, "username"),
            "this access key ID starts with 'ASIA': temporary credentials expire and GitHub's "
            "credential swap has no session token; use a long-lived IAM user key (AKIA...)",
            warning=True,
        )


def _check_target(index: int, target: Target) -> Iterator[Finding]:
    path: YamlPath = ("targets", index)
    if not isinstance(target, OrgTarget):
        return
    if target.visibility != "selected" and target.repositories:
        yield Finding(
            (*path, "repositories"),
            f"'repositories' is only allowed with visibility: selected "
            f"(this target has visibility: {target.visibility})",
            at_key=True,
        )
    if target.visibility == "selected" and not target.repositories:
        yield Finding(
            (*path, "visibility"),
            "visibility: selected needs 'repositories' (names in the org, or globs)",
        )


def check_unvalidated_refs(
    entries: Sequence[tuple[int, object]], all_ids: Collection[str]
) -> Iterator[Finding]:
    """Unknown registry references of targets that failed validation for another reason,
    so that a typo in an ID is reported in the same pass as the target's other problems."""
    known = set(all_ids)
    for index, entry in entries:
        refs = entry.get("registries") if isinstance(entry, dict) else None
        if not isinstance(refs, list):
            continue
        for position, ref in enumerate(refs):
            if isinstance(ref, str) and ref not in known:
                path: YamlPath = ("targets", index, "registries", position)
                yield Finding(path, f"unknown registry {ref!r}{_suggest(ref, known)}")


def _check_secret_names(
    targets: Sequence[tuple[int, Target]], all_ids: Collection[str]
) -> Iterator[Finding]:
    known = set(all_ids)
    first: dict[tuple[str, str, str], YamlPath] = {}
    for index, target in targets:
        identity = (target.scope, target.name.lower())
        for position, ref in enumerate(target.registries):
            path: YamlPath = ("targets", index, "registries", position)
            if ref not in known:
                yield Finding(path, f"unknown registry {ref!r}{_suggest(ref, known)}")
                continue
            earlier = first.setdefault((*identity, ref.upper()), path)
            if earlier == path:
                continue
            where = "on this target" if earlier[1] == index else f"on {target.label} again"
            yield Finding(
                path,
                f"the same secret name twice on one target: {ref.upper()}_CONTAINER_REGISTRY_* "
                f"(registry {ref!r}) {where}",
                related=earlier,
            )


def _suggest(word: str, choices: Collection[str]) -> str:
    folded = {choice.lower(): choice for choice in choices}
    if word.lower() in folded:
        return f" (did you mean {folded[word.lower()]!r}? IDs are case-sensitive here)"
    return did_you_mean([word], choices)


def did_you_mean(words: Collection[str], choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the first of ``words`` close to a choice, else ``''``."""
    for word in words:
        close = difflib.get_close_matches(word, list(choices), n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
    return ""


def describe(value: object) -> str:
    """The YAML kind of a parsed value, for messages: ``a string``, ``a list``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping"
