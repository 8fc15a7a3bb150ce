"""Sealed-box encryption and state fingerprints (PyNaCl): what plaintext is read for.

The few modules that may call :meth:`SecretValue.reveal` are listed, with why, in
``tests/test_layout.py``, which fails when another one does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, TypeVar

import nacl.exceptions
import nacl.pwhash
from nacl.public import PublicKey, SealedBox

from provisioner.errors import ProvisionError
from provisioner.secret import SecretValue

MAX_VALUE_BYTES: Final = 48 * 1024
"""GitHub: "Secrets are limited to 48 KB in size" (checked on the plaintext, 48 x 1024 bytes)."""

# argon2id cost: 3 passes over 16 MiB. Measured on this project's 2-core machine with
# PyNaCl 1.6.2: about 20 ms per fingerprint (2 passes / 16 MiB: 15 ms; 2 / 32 MiB: 33 ms),
# inside the 10-50 ms target, so a state of a few hundred secrets checks in seconds while a
# leaked state file still costs an attacker 16 MiB and 20 ms per guess per entry.
FINGERPRINT_OPSLIMIT: Final = 3
FINGERPRINT_MEMLIMIT: Final = 16 * 1024 * 1024


class CryptoError(ProvisionError):
    """A value or key that cannot be encrypted (too large, malformed public key)."""


def check_size(value: SecretValue, what: str) -> None:
    """Refuse values over GitHub's 48 KB limit, naming the secret (never the value)."""
    if value.size > MAX_VALUE_BYTES:
        raise CryptoError(
            f"{what}: value is {value.size} bytes; GitHub limits secrets to {MAX_VALUE_BYTES} bytes"
        )


def seal(value: SecretValue, public_key_b64: str, what: str = "secret") -> str:
    """Encrypt ``value`` in a libsodium sealed box for ``public_key_b64``; base64 out."""
    check_size(value, what)
    try:
        raw_key = base64.b64decode(public_key_b64, validate=True)
        box = SealedBox(PublicKey(raw_key))
    except (binascii.Error, ValueError, nacl.exceptions.CryptoError) as e:
        raise CryptoError(f"{what}: GitHub's public key is not a valid base64 X25519 key") from e
    sealed = box.encrypt(value.reveal().encode("utf-8"))
    return base64.b64encode(sealed).decode("ascii")


_CURRENT_PREFIX: Final = (
    f"$argon2id$v=19$m={FINGERPRINT_MEMLIMIT // 1024},t={FINGERPRINT_OPSLIMIT},p=1$"
)
LITERAL_PREFIX: Final = "$blake2b-provision$v=1$"
"""A literal's fingerprint: ``$blake2b-provision$v=1$SALT$DIGEST`` (unpadded base64)."""
_LITERAL_SALT_BYTES: Final = 16  # BLAKE2b's salt is at most 16 bytes
_LITERAL_DIGEST_BYTES: Final = 32
_LITERAL_FORMAT: Final = re.compile(
    re.escape(LITERAL_PREFIX) + r"([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})"
)


def _is_argon2id(fingerprint: str) -> bool:
    return (
        fingerprint.startswith(_CURRENT_PREFIX)
        and fingerprint.count("$") == 5
        and len(fingerprint) < 256
    )


def is_current(fingerprint: object) -> bool:
    """True for a fingerprint in exactly one of the tool's two formats: argon2id with its fixed
    costs, or a literal's salted BLAKE2b (:data:`LITERAL_PREFIX`). The state loader asks this.

    A state entry with any other parameters is treated as unknown and never verified: the
    costs come from the file, and a planted ``t=4294967295`` would run for ever.
    """
    if not isinstance(fingerprint, str):
        return False
    return _is_argon2id(fingerprint) or _LITERAL_FORMAT.fullmatch(fingerprint) is not None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _blake2b(value: SecretValue, salt: bytes) -> bytes:
    data = value.reveal().encode("utf-8")
    return hashlib.blake2b(data, digest_size=_LITERAL_DIGEST_BYTES, salt=salt).digest()


def fingerprint(value: SecretValue, *, literal: bool = False) -> str:
    """A salted fingerprint of ``value`` for the state file (a new salt each call;
    :class:`Fingerprints` shares one per value within a run): memory-hard argon2id for a
    value from a source, a fast salted BLAKE2b for a ``literal`` (written in the config: no
    secret: the config already holds it)."""
    if literal:
        salt = os.urandom(_LITERAL_SALT_BYTES)
        return f"{LITERAL_PREFIX}{_b64(salt)}${_b64(_blake2b(value, salt))}"
    digest: bytes = nacl.pwhash.argon2id.str(
        value.reveal().encode("utf-8"),
        opslimit=FINGERPRINT_OPSLIMIT,
        memlimit=FINGERPRINT_MEMLIMIT,
    )
    return digest.decode("ascii")


def matches(value: SecretValue, stored_fingerprint: str, *, literal: bool = False) -> bool:
    """True when ``value`` is the value ``stored_fingerprint`` was made from.

    A BLAKE2b fingerprint verifies a ``literal`` only: a value now read from a source is a
    secret, and a fast hash of it must not stay in the state (it plans as changed, and is
    rewritten with an argon2id fingerprint).
    """
    if not is_current(stored_fingerprint):
        return False  # never computed with costs read from a file
    found = _LITERAL_FORMAT.fullmatch(stored_fingerprint)
    if found is not None:
        if not literal:
            return False
        salt = base64.b64decode(found.group(1) + "==")
        digest = base64.b64decode(found.group(2) + "=")
        try:
            return hmac.compare_digest(_blake2b(value, salt), digest)
        except UnicodeEncodeError:
            return False
    try:
        return bool(
            nacl.pwhash.argon2id.verify(
                stored_fingerprint.encode("ascii"), value.reveal().encode("utf-8")
            )
        )
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, UnicodeEncodeError):
        return False


WORKERS: Final = 2
"""Threads for fingerprint work: argon2id is CPU-bound (PyNaCl releases the GIL) and this
project's machines have 2 cores; the reads, which only wait, overlap it."""

K = TypeVar("K")
V = TypeVar("V")


class Fingerprints:
    """One run's fingerprint work, remembered for that run only (it lives on the run, never in
    the process: it holds values, and is gone with the run).

    Every target that receives one value in one run shares one fingerprint (one salt), and
    each (value, fingerprint) check is made once: a run writing one registry to 1,000 targets
    pays a few argon2id hashes instead of 9,000. Still salted and memory-hard per guess; the
    only thing a state file also shows is which entries were written with equal values in the
    same run, and cracking one of them was already cracking all of them.

    The ``*_soon`` methods start the work on a small pool of the run's own (beside the reads
    and writes, never a serial step after them); the plain ones wait for it (or do it now,
    the first time).
    """

    def __init__(self, workers: int = WORKERS) -> None:
        self._made: dict[tuple[SecretValue, bool], Future[str]] = {}
        self._checked: dict[tuple[SecretValue, str, bool], Future[bool]] = {}
        self._lock = threading.Lock()
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self.computed = 0
        """How many hashes this run computed (fingerprints made plus checks made)."""

    def _start(
        self, memo: dict[K, Future[V]], key: K, work: Callable[[], V], soon: bool
    ) -> Future[V]:
        """The memo's future for ``key``; new work runs on the pool (``soon``) or right here."""
        with self._lock:
            found = memo.get(key)
            if found is not None:
                return found
            future: Future[V] = Future()
            memo[key] = future
            self.computed += 1
            if soon:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._workers, "fingerprints")
                self._pool.submit(_settle, future, work)
                return future
        _settle(future, work)
        return future

    def fingerprint_soon(self, value: SecretValue, *, literal: bool = False) -> Future[str]:
        """Start making ``value``'s fingerprint (before its write: ready for the state)."""
        return self._start(
            self._made, (value, literal), lambda: fingerprint(value, literal=literal), True
        )

    def fingerprint(self, value: SecretValue, *, literal: bool = False) -> str:
        return self._start(
            self._made, (value, literal), lambda: fingerprint(value, literal=literal), False
        ).result()

    def matches_soon(
        self, value: SecretValue, stored_fingerprint: str, *, literal: bool = False
    ) -> Future[bool]:
        """Start checking ``value`` against a state entry (while GitHub is still being read)."""
        return self._start(
            self._checked,
            (value, stored_fingerprint, literal),
            lambda: matches(value, stored_fingerprint, literal=literal),
            True,
        )

    def matches(
        self, value: SecretValue, stored_fingerprint: str, *, literal: bool = False
    ) -> bool:
        return self._start(
            self._checked,
            (value, stored_fingerprint, literal),
            lambda: matches(value, stored_fingerprint, literal=literal),
            False,
        ).result()

    def close(self) -> None:
        """Let the pool's threads go once their work is done (the memo stays readable)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


def _settle(future: Future[V], work: Callable[[], V]) -> None:
    try:
        future.set_result(work())
    except BaseException as e:  # handed to whoever waits for the result
        future.set_exception(e)
