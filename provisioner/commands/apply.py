"""``provision apply``: plan under the state lock, show, confirm, write, record, report."""

from __future__ import annotations

import sys
from collections.abc import Callable

from provisioner import output, saved_plan
from provisioner.apply import Applier, Outcome, Report
from provisioner.commands.options import Options
from provisioner.commands.plan import snapshot
from provisioner.commands.preamble import (
    load_state,
    make_plan,
    plan_inputs,
    prepare,
    report_problems,
    state_targets,
)
from provisioner.domain import StateEntry, StateKey
from provisioner.errors import EXIT_ERROR, EXIT_OK, UsageError, stop_exit
from provisioner.plan import Plan
from provisioner.planner import Inputs
from provisioner.render.plan import plan_data, write_plan, write_report
from provisioner.render.text import progress, write_json


def _confirm() -> bool:
    if not sys.stdin.isatty():
        raise UsageError("apply needs --yes when standard input is not a terminal")
    sys.stderr.write("\nApply these changes? Only 'yes' will be accepted: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip() == "yes"


def _progress_lines(options: Options, total: int) -> Callable[[Outcome], None] | None:
    """Without a terminal (CI logs) there is no bar: a line per finished write shows that a
    long run is alive; on a terminal, -v adds them under the bar."""
    if not (options.verbose or not sys.stderr.isatty()):
        return None
    finished = [0]

    def line(outcome: Outcome) -> None:
        finished[0] += 1
        c = outcome.change
        output.info(
            f"[{finished[0]}/{total}] {outcome.result}: {c.action} {c.target.label} {c.secret}"
        )

    return line


def _write(inputs: Inputs, result: Plan, options: Options, save: Callable[..., None]) -> Report:
    """Carry out the plan (its writes, and the state entries it forgets) through an Applier."""
    total = len(result.changes)
    with progress(
        "Applying", total, enabled=not options.json, no_color=options.no_color
    ) as advance:
        line = _progress_lines(options, total)

        def on_change(outcome: Outcome) -> None:
            advance()
            if line is not None:
                line(outcome)

        applier = Applier(
            inputs.client,
            inputs.resolver,
            inputs.repo_index(),
            inputs.state,
            save,
            on_change=on_change,
            fingerprints=inputs.fingerprints,
            write_interval=options.write_interval,
        )
        return applier.apply(result)


def apply(
    options: Options,
    *,
    yes: bool = False,
    force_rotate: bool = False,
    allow_mass_delete: bool = False,
    saved: saved_plan.SavedPlan | None = None,
) -> int:
    """Plan, show, confirm, write serially, record state, report.

    ``saved``: a saved plan (``plan --out``): applied only if the plan computed now is the
    same, else refused as stale with nothing written. Only the targets this run may write
    are locked, each shard on its own.
    """
    if not yes and not sys.stdin.isatty():
        raise UsageError("apply needs --yes when standard input is not a terminal")
    prepared = prepare(options)
    store = prepared.store
    targets = state_targets(prepared)  # a bad --target is a usage error before any lock
    store.migrate()  # a pre-sharding document becomes shards (create-if-absent: no lock)
    with store.locked(targets, options.lock_timeout, notify=output.warn):
        inputs = plan_inputs(prepared, load_state(prepared, targets))  # read once, locked
        inputs.client.seed_keys(store.public_keys())  # no GET public-key for a cached key
        with saved_plan.recording(inputs.client) as recorder:
            result = make_plan(inputs, options, force_rotate=force_rotate)
        if saved is not None:
            flags = {"prune": options.prune, "force_rotate": force_rotate}
            now = snapshot(options, prepared.config.identity, result, recorder.observed, flags)
            stale = saved_plan.staleness(saved, now)
            if stale:
                raise saved_plan.StalePlan(
                    f"the plan is stale: {'; '.join(stale)}; nothing was written. "
                    "Make a new plan (provision plan --out)"
                )
        if not options.json:
            write_plan(result, sys.stdout, no_color=options.no_color)
        report_problems(result, store)
        if result.mass_deletes and not allow_mass_delete:
            output.error(
                "apply refused: the plan deletes too much of a target (see above); nothing "
                "was written. Check the config and state, or pass --allow-mass-delete"
            )
            if options.json:  # every change not attempted, each refused target an error
                write_json(plan_data(result, Report(()), refused=True), sys.stdout)
            return EXIT_ERROR
        if result.has_changes and not yes and not _confirm():
            output.info("Apply cancelled.")
            return EXIT_ERROR
        # With no change the applier still drops the entries the plan forgets, and saves.
        client = inputs.client

        def save(entries: dict[StateKey, StateEntry]) -> None:
            store.save(entries, client.known_keys())  # with the keys the writes used

        report = _write(inputs, result, options, save)
    for conflict in store.conflicts:
        output.error(conflict)
    failed = result.has_errors or bool(store.conflicts)
    if not result.has_changes:
        if options.json:
            write_json(plan_data(result), sys.stdout)
        return EXIT_ERROR if failed else EXIT_OK
    if options.json:
        write_json(plan_data(result, report), sys.stdout)
    else:
        sys.stdout.write("\n")
        write_report(report, sys.stdout, no_color=options.no_color)
    if report.interrupted:  # 130, 143 or 129: the first signal's
        return stop_exit(report.stopped_by)[0]
    return EXIT_OK if report.ok and not failed else EXIT_ERROR
