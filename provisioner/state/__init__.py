"""The state layer: what the last writes recorded, per target, in a local folder or on S3.

- :mod:`.document`: one document's format (never a value, only salted fingerprints);
- :mod:`.backend`: the small interface a store implements, and lock holders;
- :mod:`.local`, :mod:`.s3`: the two stores (boto3 only imported for S3);
- :mod:`.shards`: one shard per target, parallel reads, per-shard locks and conditional
  writes, and the migration from the single pre-sharding document.

Where: ``--state`` / ``PROVISION_STATE`` > config ``state:`` > the default
``<config dir>/.provision/<name or stem>/``. The state records the config's identity; a run
refuses a state recorded for another config.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from provisioner.domain import StateEntry, StateKey
from provisioner.state.backend import Backend, Holder
from provisioner.state.document import FORMAT_VERSION
from provisioner.state.local import LocalBackend
from provisioner.state.shards import Store, shard_key

__all__ = [
    "FORMAT_VERSION",
    "Backend",
    "Holder",
    "Store",
    "default_path",
    "is_s3",
    "legacy_paths",
    "load",
    "open_backend",
    "save",
    "shard_key",
]


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def default_path(config_path: Path, identity: str | None = None) -> Path:
    """``<config dir>/.provision/<name or stem>/``: derived from the config's identity, so
    renaming a named config's file keeps its state."""
    return config_path.parent / ".provision" / (identity or config_path.stem)


def legacy_paths(config_path: Path, root: Path) -> list[Path]:
    """The pre-sharding single documents a local state at ``root`` may still have, oldest
    first: ``.provision/<stem>.state.json`` (before the config identity), then
    ``<root>/state.json`` (the identity's single file), and ``root`` itself when it is a
    file (``--state FILE``) or was moved aside for the migration."""
    candidates = [
        config_path.parent / ".provision" / f"{config_path.stem}.state.json",
        root / "state.json",
        root.with_name(root.name + ".unsharded"),
        root,
    ]
    return [p for p in candidates if p.is_file()]


def open_backend(location: str) -> Backend:
    """The store a ``--state`` value names: ``s3://BUCKET/PREFIX/`` or a local folder."""
    if is_s3(location):
        from provisioner.state.s3 import S3Backend

        return S3Backend.open(location)
    return LocalBackend(Path(location).expanduser())


def load(path: Path, config: str | None = None) -> dict[StateKey, StateEntry]:
    """Every entry of the local state at ``path`` (a folder of shards, or a single document)."""
    store = Store(LocalBackend(path), config, legacy=[p for p in (path,) if p.is_file()])
    return store.read()


def save(path: Path, entries: Mapping[StateKey, StateEntry], config: str | None = None) -> None:
    """Write ``entries`` as the whole local state at ``path``, one shard per target."""
    store = Store(LocalBackend(path), config)
    targets = {target for target, _ in entries} | store.recorded_targets()
    store.read(targets)
    with store.locked(targets):
        store.save(entries)
