"""``provision doctor``: check the token, each target and each registry before anything breaks.

Reads GitHub and the value sources (a registry login needs the credentials); prints no value.
Exit 1 when any check fails; warnings alone exit 0.
"""

from __future__ import annotations

import os
import sys

from provisioner import desired, doctor, registry_login, render_status, shadowing
from provisioner.commands.options import Options
from provisioner.config import Config, load_config
from provisioner.desired import check_selection, uses_aws
from provisioner.doctor import Check
from provisioner.domain import Selection, TargetRef
from provisioner.errors import EXIT_ERROR, EXIT_OK, ProvisionError
from provisioner.factory import make_client, make_resolver
from provisioner.observe import observe
from provisioner.render import progress
from provisioner.repos import RepoIndex


def _github_checks(options: Options, config: Config, selection: Selection) -> list[Check]:
    try:
        client = make_client(config, options.api_url, verbose=options.verbose)
    except ProvisionError as e:
        fix = "set GH_TOKEN (a personal access token) or the GITHUB_APP_* variables"
        return [Check("token", "", "fail", str(e), fix)]
    targets = [TargetRef.of(t) for t in config.targets]
    targets = [t for t in dict.fromkeys(targets) if selection.wants_target(t)]
    wanted = [
        d
        for d in desired.build(config)
        if selection.wants_target(d.target) and selection.wants_registry(d.registry)
    ]
    index = RepoIndex(client)
    with progress(
        "Reading GitHub", len(targets), enabled=not options.json, no_color=options.no_color
    ) as advance:
        observed = observe(client, index, targets, wanted, on_done=lambda _t: advance())
    per_target = [doctor.target_check(client, observed[t]) for t in targets]
    shadows = shadowing.shadow_checks(client, index, observed, wanted)
    # The token check comes first but is made last: classic scopes come with any answer.
    return [doctor.token_check(client, os.environ), *per_target, *shadows]


def _registry_checks(config: Config, selection: Selection) -> list[Check]:
    ids = doctor.registries_in(config, selection)
    try:
        resolver = make_resolver(config)
    except ProvisionError as e:
        return [Check("registry", r, "fail", str(e), "install what it names") for r in ids]
    swap_token = None
    if uses_aws(config):
        from provisioner.aws import Aws

        swap_token = Aws().swap_token
    return [
        doctor.registry_check(r, config, resolver, registry_login.login, swap_token) for r in ids
    ]


def run(options: Options) -> int:
    """Run every check, render them, exit 1 if any failed."""
    selection = Selection.of(options.targets, options.registries)
    config = load_config(options.config)
    check_selection(selection, config)
    checks = _github_checks(options, config, selection) + _registry_checks(config, selection)
    if options.json:
        render_status.write_json(render_status.doctor_data(checks), sys.stdout)
    else:
        render_status.write_doctor(checks, sys.stdout, no_color=options.no_color)
    return EXIT_ERROR if any(c.status == "fail" for c in checks) else EXIT_OK
