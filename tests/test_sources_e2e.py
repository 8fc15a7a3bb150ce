"""Value sources end to end: the CLI against the sandbox, which decrypts what it receives."""

from __future__ import annotations

import json
import sys

from tests.support.e2e import ACR_PASSWORD, CONFIG, Cli

ACR = ("org", "octo-org", "ACR_CONTAINER_REGISTRY_PASSWORD")
EXPIRED_HELPER = '{command: [sh, -c, "echo expired >&2"]}'


def test_a_command_that_prints_nothing_never_overwrites_a_working_password(cli: Cli) -> None:
    assert cli.apply()[0] == 0
    before = cli.gh.secrets()[ACR]
    assert before["value"] == ACR_PASSWORD
    # The token helper now exits 0 but prints only to stderr (its login expired).
    cli.write_config(CONFIG.replace("{env: ACR_PASSWORD}", EXPIRED_HELPER, 1))
    error = "command 'sh': the value is empty; its stderr: expired"
    code, out, err = cli("plan", "--detailed-exitcode")
    assert code == 1 and error in err and "Traceback" not in err, err
    cli.reset_log()
    code, out, err = cli.apply()
    assert code == 1 and error in err, err
    after = cli.gh.secrets()[ACR]
    assert (after["value"], after["updated_at"]) == (ACR_PASSWORD, before["updated_at"])
    assert not [r for r in cli.requests() if r["method"] != "GET" and r["path"].endswith(ACR[2])]


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
