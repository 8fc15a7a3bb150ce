"""``provision plan`` and ``provision apply``: compute the plan, render it, maybe apply it."""

from __future__ import annotations

import sys

from provisioner import engine, output, render, state
from provisioner.apply import Applier, Outcome
from provisioner.commands.options import Options
from provisioner.commands.preamble import Prepared, StateLocation, prepare
from provisioner.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, UsageError, stop_exit
from provisioner.factory import make_client, make_resolver
from provisioner.plan import Plan


def _run(options: Options) -> tuple[engine.Run, Prepared]:
    prepared = prepare(options)
    client = make_client(
        prepared.config,
        options.api_url,
        write_interval=options.write_interval,
        verbose=options.verbose,
    )
    client.set_max_wait(options.max_wait)
    run = engine.Run(
        config=prepared.config,
        client=client,
        resolver=make_resolver(prepared.config, json_output=options.json),
        state=prepared.state,
        selection=prepared.selection,
    )
    return run, prepared


def _report_problems(plan: Plan, location: StateLocation) -> None:
    """Targets that could not be read, values that cannot be written, warnings, on stderr."""
    if not location.source.exists():
        unknown = sum(1 for c in plan.changes if "value-unknown" in c.reasons)
        if unknown:
            secrets = render.plural(unknown, "existing secret")
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


def plan(
    options: Options,
    *,
    detailed_exitcode: bool = False,
    force_rotate: bool = False,
    output_format: str = "text",
) -> int:
    """Compute and render (``output_format``: text, json or markdown); write nothing anywhere.

    ``force_rotate`` previews ``apply --force-rotate``: every rotating secret plans a rotation.
    """
    run, prepared = _run(options)
    result = _make_plan(run, options, force_rotate=force_rotate)
    if options.json or output_format == "json":
        render.write_json(render.plan_data(result), sys.stdout)
    elif output_format == "markdown":
        from provisioner.render_markdown import write_markdown

        write_markdown(result, sys.stdout)
    else:
        render.write_plan(result, sys.stdout, no_color=options.no_color)
    _report_problems(result, prepared.location)
    if result.has_errors:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK


def _make_plan(run: engine.Run, options: Options, *, force_rotate: bool = False) -> Plan:
    """The plan, with a progress bar on stderr while targets are read (terminal only)."""
    total = len(engine.targets_to_observe(run))
    with render.progress(
        "Reading GitHub", total, enabled=not options.json, no_color=options.no_color
    ) as advance:
        return engine.make_plan(
            run,
            prune=options.prune,
            force_rotate=force_rotate,
            on_observed=lambda _target: advance(),
        )


def _confirm() -> bool:
    if not sys.stdin.isatty():
        raise UsageError("apply needs --yes when standard input is not a terminal")
    sys.stderr.write("\nApply these changes? Only 'yes' will be accepted: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip() == "yes"


def apply(
    options: Options,
    *,
    yes: bool = False,
    force_rotate: bool = False,
    allow_mass_delete: bool = False,
) -> int:
    """Plan, show, confirm, write serially, record state, report."""
    if not yes and not sys.stdin.isatty():
        raise UsageError("apply needs --yes when standard input is not a terminal")
    run, prepared = _run(options)
    location, identity = prepared.location, prepared.config.identity
    path = location.path
    with state.locked(path, options.lock_timeout, notify=output.warn):
        location.adopt_legacy()
        run.state = state.load(path, identity)
        result = _make_plan(run, options, force_rotate=force_rotate)
        if not options.json:
            render.write_plan(result, sys.stdout, no_color=options.no_color)
        _report_problems(result, location)
        if result.mass_deletes and not allow_mass_delete:
            output.error(
                "apply refused: the plan deletes too much of a target (see above); nothing "
                "was written. Check the config and state, or pass --allow-mass-delete"
            )
            if options.json:
                render.write_json(render.plan_data(result), sys.stdout)
            return EXIT_ERROR
        if not result.has_changes:
            if result.forget:
                for key in result.forget:
                    run.state.pop(key, None)
                state.save(path, run.state, identity)
            if options.json:
                render.write_json(render.plan_data(result), sys.stdout)
            return EXIT_ERROR if result.has_errors else EXIT_OK
        if not yes and not _confirm():
            output.info("Apply cancelled.")
            return EXIT_ERROR

        with render.progress(
            "Applying", len(result.changes), enabled=not options.json, no_color=options.no_color
        ) as advance:
            total, finished = len(result.changes), [0]
            # Without a terminal (CI logs) there is no bar: a line per finished write shows
            # that a long run is alive; on a terminal, -v adds them under the bar.
            lines = options.verbose or not sys.stderr.isatty()

            def progress(outcome: Outcome) -> None:
                advance()
                finished[0] += 1
                if lines:
                    c = outcome.change
                    output.info(
                        f"[{finished[0]}/{total}] {outcome.result}: {c.action} "
                        f"{c.target.label} {c.secret}"
                    )

            applier = Applier(
                run.client,
                run.resolver,
                run.repo_index(),
                run.state,
                lambda entries: state.save(path, entries, identity),
                on_change=progress,
            )
            report = applier.apply(result)
    if options.json:
        render.write_json(render.plan_data(result, report), sys.stdout)
    else:
        sys.stdout.write("\n")
        render.write_report(report, sys.stdout, no_color=options.no_color)
    if report.interrupted:  # 130, 143 or 129: the first signal's
        return stop_exit(report.stopped_by)[0]
    return EXIT_OK if report.ok and not result.has_errors else EXIT_ERROR
