"""The state in a local folder: one file per shard, an OS lock per shard.

Files are 0600 in 0700 folders, written atomically (temporary file + rename in the same
folder). An object's version is its content's hash: a write checks it under the shard's lock,
and a first write creates the file with a hard link, which fails if another run created it
first. The OS lock dies with its process; a sidecar names the holder for waiting runs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import filelock

from provisioner.errors import StateError
from provisioner.private_file import temporary_beside
from provisioner.state.backend import Conflict, Holder, LockHeld, Notify

LOCK_SUFFIX = ".lock"
HOLDER_SUFFIX = ".lock.holder"


def _version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class LocalLock:
    def __init__(self, lock: filelock.BaseFileLock, sidecar: Path, holder: Holder) -> None:
        self._lock, self._sidecar, self.holder = lock, sidecar, holder

    def release(self) -> None:
        self._sidecar.unlink(missing_ok=True)
        self._lock.release()


class LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def describe(self, key: str) -> str:
        return str(self.root / key)

    def keys(self) -> list[str]:
        """Every shard's key, whatever it is on disk: one that is no readable file (a folder,
        say) fails when read, in every command alike, rather than counting as no shard."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.glob("*/*.json")
            if not p.name.startswith(".")
        )

    def read(self, key: str) -> tuple[str, str] | None:
        path = self.root / key
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise StateError(f"{path}: cannot read the state: not UTF-8 text") from None
        except OSError as e:
            raise StateError(f"{path}: cannot read the state: {e.strerror or e}") from None
        return text, _version(text)

    def write(self, key: str, text: str, version: str | None) -> str:
        path = self.root / key
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.parent.mkdir(exist_ok=True, mode=0o700)
            current = self.read(key)
            if version is not None and (current is None or current[1] != version):
                raise Conflict(f"{path}: the state changed since this run read it")
            tmp = temporary_beside(path, text)
            try:
                if version is None:
                    try:
                        os.link(tmp, path)  # atomic create-if-absent
                    except FileExistsError:
                        raise Conflict(f"{path}: another run created this state first") from None
                else:
                    os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except Conflict:
            raise
        except OSError as e:
            raise StateError(f"{path}: cannot write the state: {e.strerror or e}") from None
        return _version(text)

    def delete(self, key: str, version: str) -> None:
        path = self.root / key
        current = self.read(key)
        if current is None or current[1] != version:
            raise Conflict(f"{path}: the state changed since this run read it")
        try:
            path.unlink()
        except OSError as e:
            raise StateError(f"{path}: cannot delete the state: {e.strerror or e}") from None

    def lock(self, key: str, holder: Holder, timeout: float, notify: Notify | None) -> LocalLock:
        path = self.root / key
        lock = filelock.FileLock(f"{path}{LOCK_SUFFIX}", mode=0o600)
        sidecar = Path(f"{path}{HOLDER_SUFFIX}")
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.parent.mkdir(exist_ok=True, mode=0o700)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                other = _read_holder(sidecar)
                if timeout <= 0:
                    raise LockHeld(key, other, waited=0.0) from None
                if notify is not None:
                    notify(other)
                try:
                    lock.acquire(timeout=timeout)
                except filelock.Timeout:
                    raise LockHeld(key, _read_holder(sidecar), waited=timeout) from None
        except OSError as e:
            where = f"{path}{LOCK_SUFFIX}"
            raise StateError(f"{where}: cannot lock the state: {e.strerror or e}") from None
        _write_holder(sidecar, holder)
        return LocalLock(lock, sidecar, holder)

    def holders(self) -> dict[str, Holder | None]:
        if not self.root.is_dir():
            return {}
        found: dict[str, Holder | None] = {}
        for sidecar in self.root.glob(f"*/*.json{HOLDER_SUFFIX}"):
            key = sidecar.relative_to(self.root).as_posix()[: -len(HOLDER_SUFFIX)]
            found[key] = _read_holder(sidecar)
        return found

    def force_unlock(self, key: str, lock_id: str) -> None:
        path = self.root / key
        sidecar = Path(f"{path}{HOLDER_SUFFIX}")
        lock = filelock.FileLock(f"{path}{LOCK_SUFFIX}", mode=0o600)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            holder = _read_holder(sidecar)
            raise StateError(
                f"{path}: the lock {lock_id} is held by a live process "
                f"({holder.describe() if holder else 'unknown'}): a local lock ends with its "
                "process, stop that run instead"
            ) from None
        try:
            sidecar.unlink(missing_ok=True)  # the run died: only its name was left
        finally:
            lock.release()


def _read_holder(sidecar: Path) -> Holder | None:
    try:
        return Holder.parse(sidecar.read_bytes())
    except OSError:
        return None


def _write_holder(sidecar: Path, holder: Holder) -> None:
    tmp = sidecar.with_name(f".{sidecar.name}.{holder.pid}.tmp")
    try:
        tmp.write_text(holder.text(), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, sidecar)
    except OSError:
        tmp.unlink(missing_ok=True)  # the lock holds anyway; only the waiters' message is less
