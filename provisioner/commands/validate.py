"""``provision validate`` and ``provision schema``: offline, no source is read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from provisioner import desired, output
from provisioner.config import load_config
from provisioner.errors import EXIT_OK, ConfigError
from provisioner.render.text import plural, write_json


def validate(path: Path, *, json_output: bool = False) -> int:
    """Check the config; print every problem at once (``file:line:column: message``)."""
    try:
        config = load_config(path)
    except ConfigError as e:
        if not json_output:
            for warning in e.warnings:
                output.warn(warning)
            raise
        warnings = [w.data() for w in e.warnings]
        document = {"format_version": 1, "valid": False, "warnings": warnings}
        write_json({**document, "errors": [d.data() for d in e.diagnostics]}, sys.stdout)
        return e.exit_code
    secrets = desired.build(config)
    if json_output:
        write_json(
            {
                "format_version": 1,
                "valid": True,
                "errors": [],
                "warnings": [w.data() for w in config.warnings],
                "registries": len(config.registries),
                "targets": len(config.targets),
                "secrets": len(secrets),
            },
            sys.stdout,
        )
        return EXIT_OK
    for warning in config.warnings:
        output.warn(warning)
    registries = plural(len(config.registries), "registry")
    targets = plural(len(config.targets), "target")
    sys.stdout.write(f"{path}: valid ({registries}, {targets}, {plural(len(secrets), 'secret')})\n")
    return EXIT_OK


def print_schema() -> int:
    from provisioner.config.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK
