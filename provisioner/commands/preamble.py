"""What every state-reading command does first: selection -> config -> warnings -> state.

Usage errors come first (a bad --target is reported before any file is read), then the
config, then the state, whose identity must be this config's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provisioner import output, state
from provisioner.commands.options import Options
from provisioner.config import Config, load_config
from provisioner.desired import check_selection
from provisioner.domain import Selection, StateEntry, StateKey


@dataclass(frozen=True)
class StateLocation:
    """Where this run's state lives, and an older default location to read it from."""

    path: Path
    legacy: Path | None = None
    """The pre-identity default (``.provision/<stem>.state.json``), when it is the one that
    exists: read from there, moved to ``path`` by the first apply."""

    @property
    def source(self) -> Path:
        return self.legacy if self.legacy is not None else self.path

    def load(self, identity: str) -> dict[StateKey, StateEntry]:
        return state.load(self.source, identity)

    def adopt_legacy(self) -> None:
        """Move the legacy file to the new place (under the state lock: nothing is lost)."""
        if self.legacy is not None and self.legacy.exists() and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(self.legacy, self.path)


def locate_state(config: Config, flag: Path | None) -> StateLocation:
    """``--state`` / ``PROVISION_STATE``, else the default derived from the config's name."""
    if flag is not None:
        return StateLocation(flag.expanduser())
    path = state.default_path(config.path, os.environ, config.identity)
    if os.environ.get("PROVISION_STATE", "").strip() or path.exists():
        return StateLocation(path)
    legacy = state.legacy_path(config.path)
    return StateLocation(path, legacy if legacy.exists() else None)


@dataclass
class Prepared:
    selection: Selection
    config: Config
    location: StateLocation
    state: dict[StateKey, StateEntry]


def prepare(options: Options, *, warn: bool = True) -> Prepared:
    """Parse the filters, load the config (warnings on stderr) and the state; check both."""
    selection = Selection.of(options.targets, options.registries)  # usage errors first
    config = load_config(options.config)
    if warn and not options.json:
        for warning in config.warnings:
            output.warn(warning)
    location = locate_state(config, options.state)
    entries = location.load(config.identity)
    check_selection(selection, config, {target for target, _ in entries})
    return Prepared(selection, config, location, entries)
