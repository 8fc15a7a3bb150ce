"""`make demo`: the whole loop against a local sandbox, as a user would type it.

Starts `provision sandbox` on a free loopback port, then runs validate, plan, apply --yes and
plan again on configs/example.yaml, shows what the sandbox decrypted, and stops the sandbox.
The credentials are the demo's fake ones; the state goes to a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "example.yaml"
PROVISION = [sys.executable, "-m", "provisioner"]


def step(title: str, argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> None:
    print(f"\n$ provision {' '.join(argv)}    # {title}", flush=True)
    code = subprocess.run([*PROVISION, *argv], env=env, check=False).returncode
    if code not in ok:
        sys.exit(f"demo: 'provision {argv[0]}' exited {code}")


DEMO_ENV = {
    "GH_TOKEN": "ghp_sandbox_admin",  # a token of the sandbox's default world
    "ACR_PASSWORD": "demo-acr-password-not-real",
    "DOCKERHUB_USER": "demo-dockerhub-user",
    "PROVISION_WRITE_INTERVAL": "0.1",  # GitHub wants 1 s between writes; the sandbox does not
    "NO_COLOR": "1",
}


def exports(values: dict[str, str]) -> str:
    """``export NAME=value`` lines a user can paste to retype the demo's commands."""
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items())


def main() -> None:
    env = dict(os.environ)
    env.update(DEMO_ENV)
    sandbox = subprocess.Popen(
        [*PROVISION, "sandbox", "--port", "0"],
        stdout=subprocess.DEVNULL,  # its own export lines: the demo prints the whole set below
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert sandbox.stderr is not None
        line = sandbox.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not match:
            sys.exit(f"demo: the sandbox did not start: {line.strip()}")
        url = match.group(1)
        print(f"sandbox: a local GitHub API emulator at {url}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            env["GITHUB_API_URL"] = url
            env["PROVISION_STATE"] = str(Path(tmp) / "example.state.json")
            shown = {**DEMO_ENV, "GITHUB_API_URL": url, "PROVISION_STATE": env["PROVISION_STATE"]}
            print("\nThe demo's environment (paste it to retype the commands below):")
            print(exports(shown), flush=True)
            config = (
                str(CONFIG.relative_to(Path.cwd()))
                if CONFIG.is_relative_to(Path.cwd())
                else str(CONFIG)
            )
            step("check the config, offline", ["validate", config], env)
            step("what would change", ["plan", config], env)
            step("make it so", ["apply", config, "--yes"], env)
            step("nothing left to do", ["plan", config, "--detailed-exitcode"], env)
        with urllib.request.urlopen(f"{url}/_sandbox/secrets") as answer:
            secrets = json.load(answer)
        print("\nWhat the sandbox decrypted (the demo's fake credentials):")
        rows = [
            (
                f"{s['scope']}:{s['target']}",
                s["name"],
                s["value"],
                ", ".join(s.get("repositories") or []) or "-",
            )
            for s in secrets
        ]
        header = ("target", "secret", "value", "repositories")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            print(("  " + "  ".join(cells)).rstrip())
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    print("\nsandbox stopped. Next: `make test`, or point --api-url at GitHub with a real token.")


if __name__ == "__main__":
    main()
