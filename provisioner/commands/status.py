"""``provision status``: what each target holds, how old it is, and what is stale.

Reads GitHub (the same observation as ``plan``) and the state; never a value source.
"""

from __future__ import annotations

import sys

from provisioner import desired, engine, render_status, status
from provisioner.commands.options import Options
from provisioner.commands.preamble import prepare
from provisioner.errors import EXIT_ERROR, EXIT_OK
from provisioner.factory import make_client
from provisioner.observe import observe
from provisioner.render import progress
from provisioner.sources import Resolver


def run(options: Options) -> int:
    """Observe every selected target, render a table per target; exit 1 on unreadable targets
    (and, with ``fail_on_stale``, on a rotating secret past due or expired)."""
    prepared = prepare(options, warn=False)
    config, selection = prepared.config, prepared.selection
    client = make_client(config, options.api_url, verbose=options.verbose)
    # A resolver with no reader at all: status never reads a value source.
    the_run = engine.Run(
        config=config,
        client=client,
        resolver=Resolver(config.base_dir, {}),
        state=prepared.state,
        selection=selection,
    )
    targets = engine.targets_to_observe(the_run)
    wanted = desired.build(config)
    with progress(
        "Reading GitHub", len(targets), enabled=not options.json, no_color=options.no_color
    ) as advance:
        observed = observe(
            client, the_run.repo_index(), targets, wanted, on_done=lambda _t: advance()
        )
    rows = status.build(wanted, observed, the_run.state, the_run.now(), selection)
    if options.json:
        render_status.write_json(render_status.status_data(rows), sys.stdout)
    else:
        render_status.write_status(rows, sys.stdout, no_color=options.no_color)
    if any(t.error is not None for t in rows):
        return EXIT_ERROR
    if options.fail_on_stale and status.stale(rows):
        return EXIT_ERROR
    return EXIT_OK
