"""Command-line options shared by the commands that read GitHub (plan, apply, status, doctor)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line; each command reads the fields it needs."""

    config: Path
    json: bool = False
    targets: list[str] = field(default_factory=list)
    registries: list[str] = field(default_factory=list)
    state: str | None = None
    """--state: a local path or s3://BUCKET/PREFIX/ (a str: a Path would fold the //)."""
    state_from: str = "--state"
    """Where ``state`` came from: ``--state`` or ``PROVISION_STATE`` (for its errors)."""
    api_url: str | None = None
    verbose: bool = False
    no_color: bool = False
    prune: bool = False
    write_interval: float = 1.0
    max_wait: float = 900.0
    fail_on_stale: bool = False
    lock_timeout: float = 0.0
