"""Value sources end to end: the CLI against the sandbox, which decrypts what it receives."""

from __future__ import annotations

import json
import sys

from tests.e2e import CONFIG, Cli

CREDENTIAL_NAMES = [
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_APP_PRIVATE_KEY_FILE",
    "ACR_PASSWORD",  # the control: any other variable is passed on
]
SAW = f"import os; print('saw:' + ','.join(n for n in {CREDENTIAL_NAMES!r} if n in os.environ))"


def test_a_command_source_never_sees_the_runs_github_token(cli: Cli) -> None:
    command = json.dumps([sys.executable, "-c", SAW])
    cli.write_config(CONFIG.replace("{file: hub-token}", f"{{command: {command}}}", 1))
    # The run authenticates with GH_TOKEN (the harness's); the App key names are set too.
    cli.env.update({"GITHUB_APP_PRIVATE_KEY": "k", "GITHUB_APP_PRIVATE_KEY_FILE": "f"})
    code, out, err = cli.apply()
    assert code == 0, err
    secret = cli.gh.secrets()[("repository", "octo-org/legacy", "HUB_CONTAINER_REGISTRY_PASSWORD")]
    assert secret["value"] == "saw:ACR_PASSWORD"
