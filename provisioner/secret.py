"""SecretValue: a string that never shows itself.

The plaintext is read through :meth:`SecretValue.reveal` only to encrypt or fingerprint it
(:mod:`provisioner.crypto`), to mask it in GitHub Actions, to log in to a registry (doctor) or to
hand it to AWS or check it; ``tests/test_layout.py`` lists the modules allowed to, and fails when
another one does. Every formatting path (``repr``, ``str``, f-strings, ``%``,
logging, exception messages, pickling) yields a redacted marker instead.
"""

from __future__ import annotations

from typing import Any, NoReturn

REDACTED = "<redacted>"


class SecretValue:
    """A secret string. ``str()``/``repr()``/``format()`` are redacted; use :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("SecretValue wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The plaintext. Call only to encrypt, fingerprint or mask it."""
        value: str = object.__getattribute__(self, "_value")
        return value

    def __len__(self) -> int:
        return len(self.reveal())

    @property
    def size(self) -> int:
        """Length of the UTF-8 encoding in bytes (GitHub's 48 KB limit)."""
        return len(self.reveal().encode("utf-8"))

    def __repr__(self) -> str:
        return f"SecretValue({REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        return self.reveal() == other.reveal()

    def __hash__(self) -> int:
        return hash(("SecretValue", self.reveal()))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("SecretValue is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled")
