"""What every state-reading command does first: selection -> config -> warnings -> client ->
state, in one place for plan, apply and status.

Usage errors come first (a bad --target is reported before any file is read), then the
config, then the state, whose identity must be this config's. ``apply`` loads the state
under its lock (:func:`load_state` after locking), the others without.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provisioner import output, planner, state
from provisioner.commands.options import Options
from provisioner.config import Config, load_config
from provisioner.desired import check_selection
from provisioner.domain import Selection, StateEntry, StateKey
from provisioner.factory import make_client, make_resolver
from provisioner.plan import Plan
from provisioner.planner import Inputs
from provisioner.render.text import plural, progress


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


@dataclass(frozen=True)
class Prepared:
    """The run's filters, config and where its state lives (not read yet)."""

    options: Options
    selection: Selection
    config: Config
    location: StateLocation


def prepare(options: Options, *, warn: bool = True) -> Prepared:
    """Parse the filters, load the config (its warnings on stderr), locate the state."""
    selection = Selection.of(options.targets, options.registries)  # usage errors first
    config = load_config(options.config)
    if warn and not options.json:
        for warning in config.warnings:
            output.warn(warning)
    return Prepared(options, selection, config, locate_state(config, options.state))


def load_state(prepared: Prepared) -> dict[StateKey, StateEntry]:
    """The state (refused if it belongs to another config); a --target naming nothing in the
    config or the state is a usage error."""
    entries = prepared.location.load(prepared.config.identity)
    check_selection(prepared.selection, prepared.config, {target for target, _ in entries})
    return entries


def plan_inputs(prepared: Prepared, state: dict[StateKey, StateEntry]) -> Inputs:
    """The planner's inputs: the real GitHub client and value resolver, built by the factory."""
    options, config = prepared.options, prepared.config
    client = make_client(
        config,
        options.api_url,
        write_interval=options.write_interval,
        verbose=options.verbose,
        max_wait=options.max_wait,
    )
    return Inputs(
        config=config,
        client=client,
        resolver=make_resolver(config, json_output=options.json),
        state=state,
        selection=prepared.selection,
    )


def report_problems(plan: Plan, location: StateLocation) -> None:
    """Targets that could not be read, values that cannot be written, warnings, on stderr."""
    if not location.source.exists():
        unknown = sum(1 for c in plan.changes if "value-unknown" in c.reasons)
        if unknown:
            secrets = plural(unknown, "existing secret")
            verb = "plans" if unknown == 1 else "plan"
            output.warn(f"no state at {location.path}: {secrets} {verb} as value-unknown")
    for warning in plan.warnings:
        output.warn(warning)
    for mass in plan.mass_deletes:
        output.warn(mass.message)
    for target, message in plan.failed_targets:
        output.error(message if message.startswith(target.label) else f"{target.label}: {message}")
    for message, keys in plan.value_errors:
        first = f"{keys[0][0].label} {keys[0][1]}"
        more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
        output.error(f"{message} (needed by {first}{more})")


def make_plan(inputs: Inputs, options: Options, *, force_rotate: bool = False) -> Plan:
    """The plan, with a progress bar on stderr while targets are read (terminal only)."""
    total = len(planner.observed_targets(inputs))
    with progress(
        "Reading GitHub", total, enabled=not options.json, no_color=options.no_color
    ) as advance:
        return planner.make_plan(
            inputs,
            prune=options.prune,
            force_rotate=force_rotate,
            on_observed=lambda _target: advance(),
        )
