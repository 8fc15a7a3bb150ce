"""``provision status``: what each target holds, how old it is, and what is stale.

Reads GitHub (the same observation as ``plan``) and the state; never a value source.
"""

from __future__ import annotations

import sys
from datetime import datetime

from provisioner import desired, planner
from provisioner import status as statuses
from provisioner.commands.options import Options
from provisioner.commands.preamble import load_state, prepare
from provisioner.domain import TargetRef
from provisioner.errors import EXIT_ERROR, EXIT_OK
from provisioner.factory import make_client
from provisioner.github.repos import RepoIndex
from provisioner.observe import observe
from provisioner.render.status import status_data, write_status
from provisioner.render.text import progress, write_json


def status(options: Options) -> int:
    """Observe every selected target, render a table per target; exit 1 on unreadable targets
    (and, with ``fail_on_stale``, on a rotating secret past due or expired)."""
    prepared = prepare(options, warn=False)
    config, selection = prepared.config, prepared.selection
    state = load_state(prepared)
    client = make_client(
        config, options.api_url, verbose=options.verbose, max_wait=options.max_wait
    )
    configured = [TargetRef.of(t) for t in config.targets]
    targets = planner.targets_to_observe(configured, state, selection)
    wanted = desired.build(config)
    with progress(
        "Reading GitHub", len(targets), enabled=not options.json, no_color=options.no_color
    ) as advance:
        observed = observe(client, RepoIndex(client), targets, wanted, on_done=lambda _t: advance())
    rows = statuses.build(wanted, observed, state, datetime.now().astimezone(), selection)
    if options.json:
        write_json(status_data(rows), sys.stdout)
    else:
        write_status(rows, sys.stdout, no_color=options.no_color)
    if any(t.error is not None for t in rows):
        return EXIT_ERROR
    if options.fail_on_stale and statuses.stale(rows):
        return EXIT_ERROR
    return EXIT_OK
