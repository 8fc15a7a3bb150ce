"""``provision plan``: compute the plan and render it; write nothing anywhere."""

from __future__ import annotations

import sys

from provisioner.commands.options import Options
from provisioner.commands.preamble import (
    load_state,
    make_plan,
    plan_inputs,
    prepare,
    report_problems,
)
from provisioner.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from provisioner.render.plan import plan_data, write_plan
from provisioner.render.text import write_json


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
    prepared = prepare(options)
    inputs = plan_inputs(prepared, load_state(prepared))
    result = make_plan(inputs, options, force_rotate=force_rotate)
    if options.json or output_format == "json":
        write_json(plan_data(result), sys.stdout)
    elif output_format == "markdown":
        from provisioner.render.markdown import write_markdown

        write_markdown(result, sys.stdout)
    else:
        write_plan(result, sys.stdout, no_color=options.no_color)
    report_problems(result, prepared.location)
    if result.has_errors:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK
