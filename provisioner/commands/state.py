"""``provision state list|rm|unlock``: look at and repair the state; GitHub is never touched."""

from __future__ import annotations

import sys
from typing import Any

from provisioner import output
from provisioner.commands.options import Options
from provisioner.commands.preamble import prepare
from provisioner.domain import StateKey, TargetRef
from provisioner.errors import EXIT_OK, StateError, UsageError
from provisioner.render.text import write_json


def state_list(options: Options) -> int:
    """Every recorded secret: scope, target, secret, registry, when and by which run."""
    prepared = prepare(options, warn=False)
    store = prepared.store
    entries = store.read()
    runs = store.runs()
    rows: list[dict[str, Any]] = []
    for (target, secret), entry in sorted(entries.items(), key=_order):
        run = runs.get((target, secret), {})
        rows.append(
            {
                "scope": target.scope,
                "target": target.name,
                "secret": secret,
                "registry": entry.registry,
                "updated_at": entry.updated_at.isoformat(),
                "written_at": run.get("at"),
                "written_by": run.get("run"),
                **({"actor": run["actor"]} if "actor" in run else {}),
            }
        )
    locks = [
        {"shard": store.backend.describe(key), **({} if h is None else _holder(h))}
        for key, h in sorted(store.backend.holders().items())
    ]
    if options.json:
        write_json({"format_version": 1, "secrets": rows, "locks": locks}, sys.stdout)
        return EXIT_OK
    if not rows:
        output.info(f"no state recorded at {store.backend.where}")
    for row in rows:
        by = f" by {row['written_by']}" if row["written_by"] else ""
        sys.stdout.write(
            f"{row['scope']}:{row['target']}  {row['secret']}  {row['registry'] or '-'}  "
            f"written {row['written_at'] or row['updated_at']}{by}\n"
        )
    for lock in locks:
        sys.stdout.write(f"locked: {lock['shard']} ID {lock.get('lock_id', '?')}\n")
    return EXIT_OK


def _order(item: tuple[StateKey, Any]) -> tuple[str, str, str]:
    (target, secret), _ = item
    return (target.scope, target.folded, secret)


def _holder(holder: Any) -> dict[str, Any]:
    return {
        "lock_id": holder.lock_id,
        "who": holder.who,
        "host": holder.host,
        "pid": holder.pid,
        "since": holder.since,
        "run": holder.run,
    }


def state_rm(options: Options, target_text: str, secrets: list[str]) -> int:
    """Forget a target's secrets (or the named ones) without deleting anything on GitHub."""
    target = TargetRef.parse(target_text)
    prepared = prepare(options, warn=False)
    store = prepared.store
    store.migrate()
    if target not in store.recorded_targets():
        raise UsageError(f"{target.label}: nothing recorded in the state at {store.backend.where}")
    with store.locked([target], options.lock_timeout, notify=output.warn):
        entries = store.read([target])
        names = {s.upper() for s in secrets}
        missing = sorted(names - {name for _, name in entries})
        if missing:
            raise UsageError(f"{target.label}: {', '.join(missing)} not in the state")
        kept = {k: v for k, v in entries.items() if names and k[1] not in names}
        store.save(kept)
    if store.conflicts:
        raise StateError(store.conflicts[0])
    gone = len(entries) - len(kept)
    output.info(
        f"{target.label}: {gone} secret(s) no longer managed (nothing was deleted on GitHub)"
    )
    return EXIT_OK


def state_unlock(options: Options, lock_id: str) -> int:
    """Remove the lock with ``lock_id`` (a run that died); refuses any other ID."""
    prepared = prepare(options, warn=False)
    backend = prepared.store.backend
    held = backend.holders()
    matches = [key for key, h in held.items() if h is not None and h.lock_id == lock_id]
    if not matches:
        ids = sorted(h.lock_id for h in held.values() if h is not None)
        known = f" (locks held: {', '.join(ids)})" if ids else " (no lock is held)"
        raise StateError(f"{backend.where}: no lock with ID {lock_id}{known}; nothing removed")
    for key in matches:
        backend.force_unlock(key, lock_id)
        output.info(f"{backend.describe(key)}: lock {lock_id} removed")
    return EXIT_OK
