"""Files only their owner may read (0600), written whole or not at all: the text goes to a
temporary file beside the target (``.NAME.XXXX.tmp``, 0600 from its creation, synced), which
then takes the target's place in one rename. The state's shards and saved plans use it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def temporary_beside(path: Path, text: str) -> str:
    """A complete, synced 0600 copy of ``text`` in ``path``'s folder; the caller renames or
    links it into place, and removes it (``Path(tmp).unlink(missing_ok=True)``)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_whole(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once: a failure leaves the old file (or none), never
    half of the new one. Raises ``OSError``."""
    tmp = temporary_beside(path, text)
    try:
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
