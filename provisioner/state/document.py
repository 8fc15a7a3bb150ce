"""One state document: per (scope, target, secret) a fingerprint and GitHub's updated_at.

A shard also caches its target's public key (``key_id`` and ``key``: both public), so a run
that writes seals with it instead of asking GitHub again; a rotated key is refetched on the
422 GitHub gives, and a malformed cached key is ignored (the run fetches it).

A shard holds one target's secrets; the pre-sharding single document holds many, in the same
format, so one parser reads both. Never a value: fingerprints are salted argon2id
(:mod:`provisioner.crypto`). Anything hostile in a document (foreign fingerprint costs, naive
timestamps, absurd nesting) is refused or neutralised here, with a one-line error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from provisioner import crypto
from provisioner.domain import SCOPES, StateEntry, StateKey, TargetRef
from provisioner.errors import StateError
from provisioner.github.answers import PublicKey

FORMAT_VERSION: Final = 1
Runs = dict[StateKey, dict[str, str]]
"""Per entry, which run wrote it: ``at`` (UTC ISO time), ``run`` (the Actions run's URL, or
user@host) and in GitHub Actions ``actor``."""


@dataclass
class Document:
    """A parsed state document: whose config it is, its entries and who wrote them."""

    config: str | None = None
    entries: dict[StateKey, StateEntry] = field(default_factory=dict)
    runs: Runs = field(default_factory=dict)
    public_key: PublicKey | None = None
    """The target's public key as last used (a shard only; None: unknown)."""


def parse(raw: str, where: str, config: str | None = None) -> Document:
    """The document in ``raw`` (``where`` names it in errors); ``config``: this run's identity,
    a document recorded for another one is refused."""
    try:
        document = json.loads(raw)
        if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
            raise ValueError("unknown format_version")
        recorded = document.get("config")
        if recorded is not None and not isinstance(recorded, str):
            raise TypeError("config must be a string")
        if not isinstance(document["secrets"], list):
            raise ValueError("'secrets' is not a list")
        parsed = Document(recorded)
        for item in document["secrets"]:
            key, entry = _entry(item)
            parsed.entries[key] = entry
            run = _run(item.get("written_by"))
            if run:
                parsed.runs[key] = run
        parsed.public_key = _public_key(document.get("public_key"))
    except RecursionError:
        raise StateError(f"{where}: the state is damaged (nested too deeply)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise StateError(
            f"{where}: the state is damaged ({e}); move it away to start afresh "
            "(existing secrets then plan as value-unknown)"
        ) from None
    if config is not None and recorded is not None and recorded != config:
        raise StateError(
            f"{where}: this state belongs to the config named {recorded!r}, not to {config!r}; "
            "give each config its own state (--state), or set 'name:' to match"
        )
    return parsed


def _public_key(value: Any) -> PublicKey | None:
    """A cached key that is not a 32-byte base64 key with a string or integer id is ignored:
    the run then fetches the key from GitHub, as without a cache."""
    if not isinstance(value, dict):
        return None
    key_id, key = value.get("key_id"), value.get("key")
    if isinstance(key_id, bool) or not isinstance(key_id, str | int) or not isinstance(key, str):
        return None
    try:
        if len(base64.b64decode(key, validate=True)) != 32:
            return None
    except (binascii.Error, ValueError):
        return None
    seal = value.get("seal")
    return PublicKey(key_id=key_id, key=key, seal=seal if isinstance(seal, str) else None)


def _key_data(key: PublicKey) -> dict[str, str | int]:
    data: dict[str, str | int] = {"key_id": key.key_id, "key": key.key}
    if key.seal is not None:
        data["seal"] = key.seal
    return data


def _run(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k in ("at", "run", "actor") and isinstance(v, str)}


def _timestamp(value: Any, what: str) -> datetime:
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone")
    return when


def _entry(item: dict[str, Any]) -> tuple[StateKey, StateEntry]:
    scope = item["scope"]
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    target, secret = item["target"], item["secret"]
    if not isinstance(target, str) or not isinstance(secret, str):
        raise TypeError("target and secret must be strings")
    key = (TargetRef(scope, target), secret.upper())
    fingerprint = item.get("fingerprint")
    expires = item.get("expires_at")
    registry = item.get("registry")
    if registry is not None and not isinstance(registry, str):
        raise TypeError("registry must be a string")
    repositories = item.get("repositories")
    if repositories is not None and (
        not isinstance(repositories, list) or not all(isinstance(r, str) for r in repositories)
    ):
        raise TypeError("repositories must be a list of strings")
    return key, StateEntry(
        # A fingerprint made with other costs than the tool's is never computed (a planted
        # t=2^32-1 would hold the run forever): the value plans as unknown instead.
        fingerprint=fingerprint if crypto.is_current(fingerprint) else None,
        updated_at=_timestamp(item["updated_at"], "updated_at"),
        registry=registry,
        expires_at=None if expires is None else _timestamp(expires, "expires_at"),
        repositories=None if repositories is None else tuple(repositories),
    )


def _order(item: tuple[StateKey, StateEntry]) -> tuple[str, str, str]:
    (target, name), _ = item
    return (target.scope, target.folded, name)


def render(
    entries: Mapping[StateKey, StateEntry],
    config: str | None,
    runs: Mapping[StateKey, Any],
    public_key: PublicKey | None = None,
) -> str:
    """The JSON text: one secret per line, each line by the C encoder.

    Apply saves after every target, so this runs often: ``indent=`` (the pure-Python encoder)
    and sorting by dataclass comparison cost 68 ms for 9,000 secrets.
    """
    lines = [
        json.dumps(
            {
                "scope": target.scope,
                "target": target.name,
                "secret": name,
                "registry": entry.registry,
                "fingerprint": entry.fingerprint,
                "updated_at": entry.updated_at.isoformat(),
                **(
                    {} if entry.expires_at is None else {"expires_at": entry.expires_at.isoformat()}
                ),
                **(
                    {} if entry.repositories is None else {"repositories": list(entry.repositories)}
                ),
                **({"written_by": runs[(target, name)]} if (target, name) in runs else {}),
            }
        )
        for (target, name), entry in sorted(entries.items(), key=_order)
    ]
    key = "" if public_key is None else f'"public_key": {json.dumps(_key_data(public_key))}, '
    head = (
        f'{{"format_version": {FORMAT_VERSION}, "config": {json.dumps(config)}, {key}"secrets": [\n'
    )
    return head + ",\n".join(lines) + "\n]}\n"
