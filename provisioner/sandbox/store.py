"""The sandbox's in-memory state: secrets (plaintext), key pairs, request log, faults.

Every public method takes the one lock, so the threaded HTTP server and tests may call
them at any time. API semantics (validation, 201/204, 409, 422) live here; HTTP lives in
:mod:`provisioner.sandbox.server`.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import nacl.exceptions
from nacl.public import PrivateKey, SealedBox

from provisioner.sandbox.world import SCOPES, App, Repo, Token, World

MAX_SECRETS = 100  # "up to 100 secrets per organization / repository / personal account"
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VISIBILITIES = ("all", "private", "selected")
DOCS = "https://docs.github.com/rest/codespaces"


class ApiError(Exception):
    """An API answer other than success: status, GitHub-style message, optional extras."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        documentation_url: str = DOCS,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.documentation_url = documentation_url


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def invalid(message: str, field_name: str | None = None) -> ApiError:
    error: dict[str, Any] = {"resource": "Secret", "code": "invalid", "message": message}
    if field_name:
        error["field"] = field_name
    return ApiError(422, message, [error])


def iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass
class SecretRecord:
    scope: str
    target: str
    name: str
    value: str
    visibility: str | None  # org: all|private|selected; user: "selected"; repository: None
    repo_ids: list[int] = field(default_factory=list)
    created_at: int = 0
    updated_at: int = 0


@dataclass
class Faults:
    latency: float = 0.0
    fail_every: int = 0
    secondary_limit_writes: int = 0
    retry_after: int = 1
    rotate_key_after_writes: int = 0


class Store:
    """Thread-safe state of one sandbox. ``clock`` returns epoch seconds (tests may fake it)."""

    def __init__(self, world: World, clock: Callable[[], float] = time.time) -> None:
        self.world = world
        self.clock = clock
        self.lock = threading.RLock()
        self._secrets: dict[tuple[str, str, str], SecretRecord] = {}
        self._keys: dict[tuple[str, str], tuple[str, PrivateKey]] = {}
        self._next_key_id = 10**18 + secrets.randbelow(10**18)
        self._log: list[dict[str, Any]] = []
        self._in_flight = 0
        self._faults = Faults()
        self._requests_seen = 0
        self._writes_ok = 0
        self._used: dict[str, int] = {}
        self._reset_at = int(clock()) + 3600
        self._minted: dict[str, Token] = {}
        for seed in world.secrets:
            repos = list(seed.repositories)
            self.set_secret(seed.scope, seed.target, seed.name, seed.value, seed.visibility, repos)

    # -- tokens -------------------------------------------------------------------------
    def token(self, value: str) -> Token | None:
        """A token of the world, or one minted for an App installation."""
        with self.lock:
            return self.world.token(value) or self._minted.get(value)

    def mint_installation_token(self, app: App) -> Token:
        """A fresh ``ghs_`` installation token with the App's permissions."""
        token = Token(f"ghs_{secrets.token_hex(18)}", "app-installation", (), dict(app.permissions))
        with self.lock:
            self._minted[token.token] = token
        return token

    # -- keys ---------------------------------------------------------------------------
    def public_key(self, scope: str, target: str) -> tuple[str, str]:
        """(key_id, base64 X25519 public key) of the current key pair of one target."""
        with self.lock:
            key_id, private = self._key(scope, target)
            return key_id, base64.b64encode(bytes(private.public_key)).decode("ascii")

    def rotate_keys(self) -> None:
        """Forget every key pair: new ones are made on demand, old key_ids become stale."""
        with self.lock:
            self._keys.clear()

    def _key(self, scope: str, target: str) -> tuple[str, PrivateKey]:
        if (scope, target) not in self._keys:
            self._next_key_id += 1
            self._keys[(scope, target)] = (str(self._next_key_id), PrivateKey.generate())
        return self._keys[(scope, target)]

    def _open(self, scope: str, target: str, key_id: str, encrypted_value: str) -> str:
        """The plaintext of a sealed box (types were checked by :mod:`.bodies`)."""
        current_id, private = self._key(scope, target)
        if key_id != current_id:
            raise invalid(
                f"key_id {key_id} is not the current public key of this {scope}; "
                "fetch the public key again",
                "key_id",
            )
        try:
            sealed = base64.b64decode(encrypted_value, validate=True)
            return SealedBox(private).decrypt(sealed).decode("utf-8")
        except (binascii.Error, ValueError, nacl.exceptions.CryptoError):
            raise invalid(
                f"encrypted_value could not be decrypted with key_id {key_id}", "encrypted_value"
            ) from None

    # -- secrets through the API ---------------------------------------------------------
    def list_secrets(self, scope: str, target: str) -> list[SecretRecord]:
        with self.lock:
            found = [s for (sc, t, _), s in self._secrets.items() if (sc, t) == (scope, target)]
            return [replace(s, repo_ids=list(s.repo_ids)) for s in sorted(found, key=_by_name)]

    def get_secret(self, scope: str, target: str, name: str) -> SecretRecord:
        with self.lock:
            record = self._find(scope, target, name)
            return replace(record, repo_ids=list(record.repo_ids))

    def put_secret(self, scope: str, target: str, name: str, body: dict[str, Any]) -> bool:
        """Create or update from a PUT body that passed :func:`.bodies.check_secret_put`;
        True when created (201), False when updated (204)."""
        if not NAME_RE.fullmatch(name) or name.upper().startswith("GITHUB_"):
            raise invalid(f"invalid secret name {name!r}", "secret_name")
        with self.lock:
            existing = self._secrets.get((scope, target, name.upper()))
            visibility = existing.visibility if existing else None
            ids = list(existing.repo_ids) if existing else []
            if scope == "org":
                visibility = body["visibility"]
                if "selected_repository_ids" in body:
                    if visibility != "selected":
                        raise invalid(
                            "selected_repository_ids can only be given with visibility selected",
                            "selected_repository_ids",
                        )
                    ids = self._repo_ids(body["selected_repository_ids"], target, False)
                elif visibility != "selected" or existing is None:
                    ids = []
            elif scope == "user":
                visibility = "selected"
                if "selected_repository_ids" in body:
                    ids = self._repo_ids(body["selected_repository_ids"], None, True)
            value = self._open(scope, target, body["key_id"], body["encrypted_value"])
            if existing is None and len(self.list_secrets(scope, target)) >= MAX_SECRETS:
                raise invalid(f"a {scope} can store at most {MAX_SECRETS} Codespaces secrets")
            self._store(scope, target, name, value, visibility, ids)
            return existing is None

    def delete_secret(self, scope: str, target: str, name: str) -> bool:
        """Delete one secret; False when there was none."""
        with self.lock:
            return self._secrets.pop((scope, target, name.upper()), None) is not None

    def secret_repositories(self, scope: str, target: str, name: str) -> list[Repo]:
        with self.lock:
            record = self._find(scope, target, name)
            repos = [self.world.repo_by_id(i) for i in record.repo_ids]
            return sorted((r for r in repos if r), key=lambda r: r.full_name.lower())

    def set_secret_repositories(self, scope: str, target: str, name: str, ids: Any) -> None:
        """Replace the selected repositories (bumps updated_at, as GitHub does)."""
        with self.lock:
            record = self._selected(scope, target, name)
            new_ids = self._repo_ids(ids, target if scope == "org" else None, False)
            self._touch(record, new_ids)

    def change_secret_repository(
        self, scope: str, target: str, name: str, raw_id: str, add: bool
    ) -> None:
        """Add (or remove) one repository; an already present (or absent) one is a no-op."""
        with self.lock:
            record = self._selected(scope, target, name)
            (repo_id,) = self._repo_ids([raw_id], target if scope == "org" else None, True)
            ids = set(record.repo_ids)
            ids = ids | {repo_id} if add else ids - {repo_id}
            self._touch(record, sorted(ids))

    def _find(self, scope: str, target: str, name: str) -> SecretRecord:
        record = self._secrets.get((scope, target, name.upper()))
        if record is None:
            raise not_found()
        return record

    def _selected(self, scope: str, target: str, name: str) -> SecretRecord:
        record = self._find(scope, target, name)
        if scope == "org" and record.visibility != "selected":
            raise ApiError(409, "The visibility of this secret is not set to selected.")
        return record

    def _repo_ids(self, raw: Any, org: str | None, digits_ok: bool) -> list[int]:
        """Validate repository ids: integers (or, for users, digit strings) of known repos."""
        if not isinstance(raw, list):
            raise invalid("selected_repository_ids must be an array", "selected_repository_ids")
        ids: set[int] = set()
        for item in raw:
            if isinstance(item, str) and digits_ok and item.isdigit():
                item = int(item)
            if not isinstance(item, int) or isinstance(item, bool):
                raise invalid(
                    f"repository id {item!r} is not an integer", "selected_repository_ids"
                )
            repo = self.world.repo_by_id(item)
            if repo is None or (org is not None and repo.owner.lower() != org.lower()):
                where = f"in organization {org}" if org else "that you can access"
                raise invalid(f"no repository with id {item} {where}", "selected_repository_ids")
            ids.add(item)
        return sorted(ids)

    def _store(
        self, scope: str, target: str, name: str, value: str, visibility: str | None, ids: list[int]
    ) -> SecretRecord:
        key = (scope, target, name.upper())
        record = self._secrets.get(key)
        if record is None:
            now = int(self.clock())
            record = SecretRecord(scope, target, name.upper(), value, visibility, ids, now, now)
            self._secrets[key] = record
            return record
        record.value, record.visibility = value, visibility
        self._touch(record, ids)
        return record

    def _touch(self, record: SecretRecord, ids: list[int]) -> None:
        record.repo_ids = ids
        # second resolution, strictly increasing per secret, so "newer than" always works
        record.updated_at = max(int(self.clock()), record.updated_at + 1)

    # -- admin ---------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """Every secret with its plaintext, for tests (the admin API's ``GET /secrets``)."""
        with self.lock:
            records = sorted(self._secrets.values(), key=lambda s: (s.scope, s.target, s.name))
            return [self._as_dict(r) for r in records]

    def _as_dict(self, r: SecretRecord) -> dict[str, Any]:
        repos = [self.world.repo_by_id(i) for i in r.repo_ids]
        return {
            "scope": r.scope,
            "target": r.target,
            "name": r.name,
            "value": r.value,
            "visibility": r.visibility,
            "repositories": sorted(x.full_name for x in repos if x),
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
        }

    def set_secret(
        self,
        scope: str,
        target: str,
        name: str,
        value: str,
        visibility: str | None = None,
        repositories: list[str] | None = None,
    ) -> dict[str, Any]:
        """Set a secret as if changed in GitHub's UI (bumps updated_at). ValueError if bad."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        canonical = self.world.canonical_target(scope, target)
        if canonical is None:
            raise ValueError(f"unknown {scope} target {target!r}")
        if not NAME_RE.fullmatch(name) or not isinstance(value, str):
            raise ValueError("name must be a valid secret name and value a string")
        ids: list[int] = []
        for full_name in repositories or []:
            repo = self.world.repo(full_name)
            if repo is None or (scope == "org" and repo.owner.lower() != canonical.lower()):
                raise ValueError(f"unknown repository {full_name!r} for {scope} {canonical}")
            ids.append(repo.id)
        if scope == "org":
            visibility = visibility or ("selected" if repositories else "all")
            if visibility not in VISIBILITIES or (ids and visibility != "selected"):
                raise ValueError("visibility must be all, private or selected (with repositories)")
        elif scope == "repository" and (visibility or ids):
            raise ValueError("repository secrets have no visibility or repositories")
        else:
            visibility = None if scope == "repository" else "selected"
        with self.lock:
            return self._as_dict(
                self._store(scope, canonical, name, value, visibility, sorted(set(ids)))
            )

    def age(self, scope: str, target: str, name: str, seconds: int) -> None:
        """Move a secret's created_at and updated_at ``seconds`` into the past."""
        canonical = self.world.canonical_target(scope, target) or target
        with self.lock:
            record = self._find(scope, canonical, name)
            record.created_at -= int(seconds)
            record.updated_at -= int(seconds)

    # -- request log, rate limit, faults -------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._log.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self._log]

    def arrived(self, delta: int) -> None:
        """An API request arrived (+1) or was answered (-1); the log records only answers."""
        with self.lock:
            self._in_flight += delta

    def in_flight(self) -> int:
        """API requests received and not yet answered (a slow sandbox holds them)."""
        with self.lock:
            return self._in_flight

    def reset_log(self) -> None:
        with self.lock:
            self._log.clear()

    def count_request(self, bucket: str, limit: int, counts: bool = True) -> tuple[int, int, int]:
        """Count one request against ``bucket``: (remaining, used, reset epoch)."""
        with self.lock:
            now = int(self.clock())
            if now >= self._reset_at:
                self._used.clear()
                self._reset_at = now + 3600
            used = self._used.get(bucket, 0) + (1 if counts else 0)
            self._used[bucket] = used
            return max(limit - used, 0), used, self._reset_at

    @property
    def faults(self) -> Faults:
        with self.lock:
            return replace(self._faults)

    def set_faults(self, knobs: Mapping[str, Any] | None = None, **more: Any) -> Faults:
        """Set fault knobs (see :class:`Faults`, plus ``rotate_keys=True``); counters restart."""
        wanted = {**(knobs or {}), **more}
        names = {f.name: f.type for f in fields(Faults)}
        with self.lock:
            for knob, value in wanted.items():
                if knob == "rotate_keys":
                    if value is True:
                        self.rotate_keys()
                    continue
                if knob not in names or isinstance(value, bool):
                    raise ValueError(f"unknown fault knob {knob!r} or bad value")
                number = float(value) if knob == "latency" else int(value)
                if number < 0:
                    raise ValueError(f"{knob} must not be negative")
                setattr(self._faults, knob, number)
                if knob == "fail_every":
                    self._requests_seen = 0
                if knob == "rotate_key_after_writes":
                    self._writes_ok = 0
            return replace(self._faults)

    def next_request_fails(self) -> bool:
        """Count one non-admin request; True when ``fail_every`` says it answers 502."""
        with self.lock:
            self._requests_seen += 1
            every = self._faults.fail_every
            return every > 0 and self._requests_seen % every == 0

    def take_secondary_limit(self) -> int | None:
        """For a write: the Retry-After seconds when it must be refused, else None."""
        with self.lock:
            if self._faults.secondary_limit_writes <= 0:
                return None
            self._faults.secondary_limit_writes -= 1
            return self._faults.retry_after

    def write_succeeded(self) -> None:
        """Count a successful write; rotate every key once after the Nth (one-shot knob)."""
        with self.lock:
            self._writes_ok += 1
            limit = self._faults.rotate_key_after_writes
            if limit and self._writes_ok >= limit:
                self.rotate_keys()
                self._faults.rotate_key_after_writes = 0


def _by_name(record: SecretRecord) -> str:
    return record.name
