"""``provision doctor``: check the token, each target and each registry before anything breaks.

Reads GitHub and the value sources (a registry login needs the credentials); prints no value.
Exit 1 when any check fails; warnings alone exit 0.
"""

from __future__ import annotations

import os
import sys

from provisioner import desired
from provisioner.commands.options import Options
from provisioner.config import Config, load_config
from provisioner.desired import check_selection, uses_aws
from provisioner.doctor import checks, login, shadowing
from provisioner.doctor.checks import Check
from provisioner.domain import Selection, TargetRef
from provisioner.errors import EXIT_ERROR, EXIT_OK, ProvisionError
from provisioner.factory import make_client, make_resolver
from provisioner.github.auth import api_url
from provisioner.github.repos import RepoIndex
from provisioner.observe import observe
from provisioner.render.doctor import doctor_data, write_doctor
from provisioner.render.text import progress, write_json


def _github_checks(options: Options, config: Config, selection: Selection) -> list[Check]:
    try:  # the URL first: a bad one is its own failure, not the token's
        api_url(options.api_url, config.github.api_url, os.environ)
    except ProvisionError as e:
        return [checks.api_url_check(str(e))]
    try:
        client = make_client(
            config, options.api_url, verbose=options.verbose, max_wait=options.max_wait
        )
    except ProvisionError as e:
        return [checks.credentials_check(e)]
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
    per_target = [checks.target_check(client, observed[t]) for t in targets]
    shadows = shadowing.shadow_checks(client, index, observed, wanted)
    # The token check comes first but is made last: classic scopes come with any answer.
    return [checks.token_check(client, observed.values()), *per_target, *shadows]


def _registry_checks(config: Config, selection: Selection) -> list[Check]:
    ids = checks.registries_in(config, selection)
    try:
        resolver = make_resolver(config)
    except ProvisionError as e:
        return [Check("registry", r, "fail", str(e), "install what it names") for r in ids]
    swap_token = None
    if uses_aws(config):
        from provisioner.sources.aws import Aws

        swap_token = Aws().swap_token
    return [checks.registry_check(r, config, resolver, login.login, swap_token) for r in ids]


def doctor(options: Options) -> int:
    """Run every check, render them, exit 1 if any failed."""
    selection = Selection.of(options.targets, options.registries)
    config = load_config(options.config)
    check_selection(selection, config)
    found = _github_checks(options, config, selection) + _registry_checks(config, selection)
    if options.json:
        write_json(doctor_data(found), sys.stdout)
    else:
        write_doctor(found, sys.stdout, no_color=options.no_color)
    return EXIT_ERROR if any(c.status == "fail" for c in found) else EXIT_OK
