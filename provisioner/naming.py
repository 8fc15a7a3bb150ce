"""Secret names: one place turns a registry ID into the three Codespaces secret names.

GitHub's rules for secret names: only ``[A-Za-z0-9_]``, not starting with a
digit, not starting with ``GITHUB_``, case-insensitive (stored upper-case).
"""

from __future__ import annotations

import re
from typing import Final

SUFFIXES: Final = ("SERVER", "USER", "PASSWORD")
_MIDDLE: Final = "_CONTAINER_REGISTRY_"
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REGISTRY_SECRET_RE: Final = re.compile(
    r"(?P<id>.+)_CONTAINER_REGISTRY_(?P<part>SERVER|USER|PASSWORD)"
)


def name_problem(name: str) -> str | None:
    """Why GitHub would refuse ``name`` as a secret name, or None if it is valid."""
    if not name:
        return "a secret name cannot be empty"
    if not _NAME_RE.fullmatch(name):
        if name[0].isdigit():
            return f"secret name {name!r} must not start with a digit"
        return f"secret name {name!r} may contain only letters, digits and '_'"
    if name.upper().startswith("GITHUB_"):
        return f"secret name {name!r} must not start with 'GITHUB_'"
    return None


def id_problem(registry_id: str) -> str | None:
    """Why ``registry_id`` cannot be a registry ID, or None if it is valid."""
    if not _NAME_RE.fullmatch(registry_id):
        if registry_id[:1].isdigit():
            return f"registry ID {registry_id!r} must not start with a digit"
        return f"registry ID {registry_id!r} may contain only letters, digits and '_'"
    for name in secret_names(registry_id):
        problem = name_problem(name)
        if problem:
            return problem
    return None


def secret_name(registry_id: str, part: str) -> str:
    """``ACR``, ``PASSWORD`` -> ``ACR_CONTAINER_REGISTRY_PASSWORD``."""
    if part not in SUFFIXES:
        raise ValueError(f"unknown secret part {part!r}")
    return f"{registry_id.upper()}{_MIDDLE}{part}"


def secret_names(registry_id: str) -> tuple[str, str, str]:
    """The SERVER, USER and PASSWORD secret names of a registry ID."""
    server, user, password = (secret_name(registry_id, part) for part in SUFFIXES)
    return server, user, password


def parse_registry_secret(name: str) -> tuple[str, str] | None:
    """``ACR_CONTAINER_REGISTRY_USER`` -> (``ACR``, ``USER``); None for any other name."""
    match = _REGISTRY_SECRET_RE.fullmatch(name.upper())
    if match is None:
        return None
    return match["id"], match["part"]
