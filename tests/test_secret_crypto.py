"""SecretValue never shows itself; sealed boxes open with the right key; fingerprints verify."""

from __future__ import annotations

import base64
import logging
import pickle
import time

import pytest
from nacl.public import PrivateKey, SealedBox

from provisioner import crypto
from provisioner.crypto import CryptoError
from provisioner.secret import SecretValue

MARKER = "s3cr3t-MARKER-value-7731"


def test_every_formatting_path_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    value = SecretValue(MARKER)
    rendered = [
        repr(value),
        str(value),
        f"{value}",
        f"{value!r}",
        f"{value:>40}",
        "%s %r" % (value, value),  # noqa: UP031
        "{} {!r}".format(value, value),  # noqa: UP032
        repr([value, {"k": value}, (value,)]),
        str(ValueError(value)),
        repr(ValueError(value)),
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").warning("value %s", value)
        logging.getLogger("t").warning(value)
    rendered.append(caplog.text)
    for text in rendered:
        assert MARKER not in text
        assert "redacted" in text
    with pytest.raises(TypeError):
        pickle.dumps(value)
    with pytest.raises(AttributeError):
        value._value = "x"  # type: ignore[misc]


def test_reveal_and_equality() -> None:
    assert SecretValue(MARKER).reveal() == MARKER
    assert SecretValue("a") == SecretValue("a") != SecretValue("b")
    assert SecretValue("é").size == 2


def test_seal_round_trip() -> None:
    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    sealed = crypto.seal(SecretValue(MARKER), public)
    assert MARKER not in sealed
    assert SealedBox(key).decrypt(base64.b64decode(sealed)).decode() == MARKER


def test_seal_rejects_oversized_and_bad_keys() -> None:
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    crypto.seal(SecretValue("x" * crypto.MAX_VALUE_BYTES), key)
    with pytest.raises(CryptoError, match="49153 bytes") as info:
        crypto.seal(SecretValue("x" * (crypto.MAX_VALUE_BYTES + 1)), key, "org:o S")
    assert "org:o S" in str(info.value)
    for bad in ("not-base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(CryptoError, match="public key"):
            crypto.seal(SecretValue("x"), bad)


def test_fingerprint_is_salted_memory_hard_and_verifies() -> None:
    a = crypto.fingerprint(SecretValue(MARKER))
    b = crypto.fingerprint(SecretValue(MARKER))
    assert a != b  # salted
    assert a.startswith("$argon2id$") and "m=16384,t=3" in a
    assert MARKER not in a
    assert crypto.matches(SecretValue(MARKER), a)
    assert not crypto.matches(SecretValue(MARKER + "x"), a)
    assert not crypto.matches(SecretValue(MARKER), "not-a-hash")


def test_fingerprint_cost_is_in_budget() -> None:
    """Prints the figure; the bound is loose (a shared CI core must not flake it)."""
    start = time.perf_counter()
    for _ in range(5):
        crypto.fingerprint(SecretValue(MARKER))
    per = (time.perf_counter() - start) / 5
    print(f"argon2id fingerprint: {per * 1000:.1f} ms")
    assert per < 1.0
