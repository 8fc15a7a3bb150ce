"""What every state-reading command does first: selection -> config -> warnings -> client ->
state, in one place for plan, apply and status.

Usage errors come first (a bad --target is reported before any file is read), then the
config, then the state, whose identity must be this config's. ``apply`` loads the shards
of the targets it may write under their locks (:func:`load_state` after locking), the
others without.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from provisioner import crypto, output, planner, state
from provisioner.commands.options import Options
from provisioner.config import Config, load_config
from provisioner.desired import check_selection
from provisioner.domain import Selection, StateEntry, StateKey, TargetRef
from provisioner.errors import StateError, UsageError
from provisioner.factory import make_client, make_resolver
from provisioner.hosts import state_location_problem
from provisioner.plan import Plan
from provisioner.planner import Inputs
from provisioner.render.text import plural, progress
from provisioner.state import Store


def locate_state(config: Config, flag: str | None, flag_from: str = "--state") -> Store:
    """``--state`` / ``PROVISION_STATE``, else config ``state:`` (a relative path starts at the
    config's folder), else the default derived from the config's name.

    ``flag_from`` names where ``flag`` came from: a value that is neither a local path nor
    ``s3://BUCKET/PREFIX/`` is a usage error from ``--state`` (64), an error (1) from
    ``PROVISION_STATE`` (the config's ``state:`` was checked when it loaded)."""
    if flag and (problem := state_location_problem(flag)):
        error = UsageError if flag_from == "--state" else StateError
        raise error(f"{flag_from} {flag!r}: {problem}")
    location = flag or config.state
    given = bool(location)
    if location and not state.is_s3(location):
        path = Path(location).expanduser()
        location = str(path if flag or path.is_absolute() else config.path.parent / path)
    location = location or str(state.default_path(config.path, config.identity))
    backend = state.open_backend(location)
    legacy: list[Path] = []
    if not state.is_s3(location):
        legacy = state.legacy_paths(config.path, Path(location))
        if given:  # the pre-identity default belongs to the default location only
            old = config.path.parent / ".provision" / f"{config.path.stem}.state.json"
            legacy = [p for p in legacy if p != old]
    return Store(
        backend,
        config.identity,
        legacy=legacy,
        unlock_hint=f"provision state unlock {config.path}",
    )


@dataclass(frozen=True)
class Prepared:
    """The run's filters, config and where its state lives (not read yet)."""

    options: Options
    selection: Selection
    config: Config
    store: Store


def prepare(options: Options, *, warn: bool = True) -> Prepared:
    """Parse the filters, load the config (its warnings on stderr), locate the state."""
    selection = Selection.of(options.targets, options.registries)  # usage errors first
    config = load_config(options.config)
    if warn and not options.json:
        for warning in config.warnings:
            output.warn(warning)
    return Prepared(
        options, selection, config, locate_state(config, options.state, options.state_from)
    )


def state_targets(prepared: Prepared) -> list[TargetRef]:
    """The targets this run observes (and ``apply`` may write): the selected configured ones
    and those only the state records; a --target naming none of them is a usage error."""
    recorded = prepared.store.recorded_targets()

    def recorded_registries() -> set[str]:
        return {e.registry for e in prepared.store.read(recorded).values() if e.registry}

    check_selection(prepared.selection, prepared.config, recorded, recorded_registries)
    configured = [TargetRef.of(t) for t in prepared.config.targets]
    return planner.targets_to_observe(configured, [(t, "") for t in recorded], prepared.selection)


def load_state(
    prepared: Prepared, targets: list[TargetRef] | None = None
) -> dict[StateKey, StateEntry]:
    """The shards of ``targets`` (default: :func:`state_targets`), each read once, in
    parallel; refused if they belong to another config."""
    return prepared.store.read(state_targets(prepared) if targets is None else targets)


def plan_inputs(
    prepared: Prepared,
    state: dict[StateKey, StateEntry],
    pending: Future[dict[StateKey, StateEntry]] | None = None,
) -> Inputs:
    """The planner's inputs: the real GitHub client and value resolver, built by the factory.

    ``pending``: the state's entries still being read (``state`` is then empty). The checks
    of values free to read start before the client is built (:func:`planner.check_ahead`).
    """
    options, config = prepared.options, prepared.config
    resolver = make_resolver(config, json_output=options.json)
    fingerprints = crypto.Fingerprints()
    planner.check_ahead(
        config, prepared.selection, resolver, fingerprints, state if pending is None else pending
    )
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
        resolver=resolver,
        state=state,
        selection=prepared.selection,
        fingerprints=fingerprints,
        pending=pending,
    )


def report_problems(plan: Plan, store: Store) -> None:
    """Targets that could not be read, values that cannot be written, warnings, on stderr."""
    if store.empty:
        unknown = sum(1 for c in plan.changes if "value-unknown" in c.reasons)
        if unknown:
            secrets = plural(unknown, "existing secret")
            verb = "plans" if unknown == 1 else "plan"
            output.warn(f"no state at {store.backend.where}: {secrets} {verb} as value-unknown")
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
