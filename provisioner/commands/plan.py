"""``provision plan``: compute the plan and render it; write nothing anywhere."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provisioner import output, saved_plan
from provisioner.commands.options import Options
from provisioner.commands.preamble import (
    load_state,
    make_plan,
    plan_inputs,
    prepare,
    report_problems,
    state_targets,
)
from provisioner.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, UsageError
from provisioner.plan import Plan
from provisioner.render.plan import plan_data, write_plan
from provisioner.render.text import write_json


def plan(
    options: Options,
    *,
    detailed_exitcode: bool = False,
    force_rotate: bool = False,
    output_format: str = "text",
    out: Path | None = None,
) -> int:
    """Compute and render (``output_format``: text, json or markdown); write nothing anywhere
    but ``out``, the saved plan, when asked. A plan never locks the state.

    ``force_rotate`` previews ``apply --force-rotate``: every rotating secret plans a rotation.
    """
    prepared = prepare(options)
    if out is not None and _same_file(out, prepared.config.path):
        raise UsageError(
            f"--out {out}: that is the config file; save the plan to a file of its own"
        )
    targets = state_targets(prepared)  # the state's listing: which targets it records
    # Its shards are read beside GitHub's reads; the planner waits for them only when it
    # first needs an entry.
    with ThreadPoolExecutor(max_workers=1) as reading:
        pending = reading.submit(load_state, prepared, targets)
        inputs = plan_inputs(prepared, {}, pending)
        inputs.recorded = targets
        try:
            with saved_plan.recording(inputs.client) as recorder:
                result = make_plan(inputs, options, force_rotate=force_rotate)
        finally:
            inputs.settled_state()  # a state error is raised, never lost with the thread
    if out is not None and not result.has_errors:
        # Saved before anything is printed: a file that cannot be written is then the run's
        # one error (under --json its one document), not a second one after the plan.
        flags = {"prune": options.prune, "force_rotate": force_rotate}
        identity = prepared.config.identity
        saved_plan.write(out, snapshot(options, identity, result, recorder.observed, flags))
    if options.json or output_format == "json":
        write_json(plan_data(result), sys.stdout)
    elif output_format == "markdown":
        from provisioner.render.markdown import write_markdown

        write_markdown(result, sys.stdout)
    else:
        write_plan(result, sys.stdout, no_color=options.no_color)
    report_problems(result, prepared.store)
    if result.has_errors:
        if out is not None:
            output.error(f"{out}: not saved: a plan with errors cannot be applied")
        return EXIT_ERROR
    if out is not None and not options.json:
        output.info(f"Saved the plan to {out}: apply it with: provision apply {out}")
    return EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK


def snapshot(
    options: Options,
    identity: str,
    result: Plan,
    observed: saved_plan.Observed,
    flags: dict[str, bool],
) -> saved_plan.SavedPlan:
    """What a saved plan records of this run (never a value, fingerprint or ciphertext)."""
    from provisioner.render.plan import change_data

    return saved_plan.SavedPlan(
        config=str(options.config),
        identity=identity,
        digest=saved_plan.config_digest(options.config),
        targets=sorted(options.targets),
        registries=sorted(options.registries),
        flags=flags,
        observed=observed,
        changes=[change_data(c) for c in result.changes],
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and a.samefile(b))
    except OSError:
        return False
