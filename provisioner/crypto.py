"""Sealed-box encryption and state fingerprints (PyNaCl): what plaintext is read for.

The few modules that may call :meth:`SecretValue.reveal` are listed, with why, in
``tests/test_layout.py``, which fails when another one does.
"""

from __future__ import annotations

import base64
import binascii
import threading
from typing import Final

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


def is_current(fingerprint: object) -> bool:
    """True for a fingerprint made with exactly the tool's parameters (argon2id, its costs).

    A state entry with any other parameters is treated as unknown and never verified: the
    costs come from the file, and a planted ``t=4294967295`` would run for ever.
    """
    return (
        isinstance(fingerprint, str)
        and fingerprint.startswith(_CURRENT_PREFIX)
        and fingerprint.count("$") == 5
        and len(fingerprint) < 256
    )


def fingerprint(value: SecretValue) -> str:
    """A salted, memory-hard (argon2id) fingerprint of ``value`` for the state file (a new
    salt each call; :class:`Fingerprints` shares one per value within a run)."""
    digest: bytes = nacl.pwhash.argon2id.str(
        value.reveal().encode("utf-8"),
        opslimit=FINGERPRINT_OPSLIMIT,
        memlimit=FINGERPRINT_MEMLIMIT,
    )
    return digest.decode("ascii")


def matches(value: SecretValue, stored_fingerprint: str) -> bool:
    """True when ``value`` is the value ``stored_fingerprint`` was made from."""
    if not is_current(stored_fingerprint):
        return False  # never computed with costs read from a file
    try:
        return bool(
            nacl.pwhash.argon2id.verify(
                stored_fingerprint.encode("ascii"), value.reveal().encode("utf-8")
            )
        )
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, UnicodeEncodeError):
        return False


class Fingerprints:
    """One run's fingerprint work, remembered for that run only (it lives on the run, never in
    the process: it holds values, and is gone with the run).

    Every target that receives one value in one run shares one fingerprint (one salt), and
    each (value, fingerprint) check is made once: a run writing one registry to 1,000 targets
    pays a few argon2id hashes instead of 9,000. Still salted and memory-hard per guess; the
    only thing a state file also shows is which entries were written with equal values in the
    same run, and cracking one of them was already cracking all of them.
    """

    def __init__(self) -> None:
        self._made: dict[SecretValue, str] = {}
        self._checked: dict[tuple[SecretValue, str], bool] = {}
        self._lock = threading.Lock()

    def fingerprint(self, value: SecretValue) -> str:
        with self._lock:
            found = self._made.get(value)
        if found is None:
            found = fingerprint(value)
            with self._lock:
                found = self._made.setdefault(value, found)
        return found

    def matches(self, value: SecretValue, stored_fingerprint: str) -> bool:
        key = (value, stored_fingerprint)
        with self._lock:
            found = self._checked.get(key)
        if found is None:
            found = matches(value, stored_fingerprint)
            with self._lock:
                self._checked[key] = found
        return found
