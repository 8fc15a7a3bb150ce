"""Run Debian's real ``gh`` against a sandbox, inside a private network and mount namespace.

Started by ``test_gh_cli.py`` as ``unshare --net --mount ... python gh_driver.py WORKDIR
STEPS_JSON``; never run on the host's namespaces. gh speaks plain HTTP to
``api.github.localhost`` (and ``/graphql`` there) only when ``GH_HOST=github.localhost``, so
this namespace gets its own loopback, a hosts file naming that host (bind-mounted over
/etc/hosts here only) and a sandbox on port 80. Each step runs one gh command with a
timeout; the admin view of the sandbox is read after it. The report is JSON on stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HOSTS = "127.0.0.1 api.github.localhost github.localhost\n::1 localhost\n127.0.0.1 localhost\n"
ADMIN = "http://127.0.0.1/_sandbox/"
STEP_TIMEOUT = 30
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def main(workdir: Path, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Each step is ``{"args": [...], "env": {...}, "input": "..."}`` (env: added to gh's;
    input: gh's standard input, as ``gh secret set`` reads a value without ``--body``)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    hosts = workdir / "hosts"
    hosts.write_text(HOSTS)
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True, timeout=10)
    log = (workdir / "sandbox.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "sandbox", "--port", "80", "--host", "127.0.0.1"],
        stdout=log,
        stderr=log,
        cwd=workdir,
    )
    try:
        _wait_until_listening()
        env = gh_env(workdir)
        report = [_step(step, env) for step in steps]
        requests = _admin("requests")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return {"steps": report, "requests": requests}


def gh_env(workdir: Path) -> dict[str, str]:
    """A clean environment: no proxy, no real token, config and state under ``workdir``."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".state"),
        "XDG_DATA_HOME": str(home / ".data"),
        "GH_HOST": "github.localhost",
        "GH_TOKEN": "ghp_sandbox_admin",
        "GH_CONFIG_DIR": str(workdir / "gh-config"),
        "GH_NO_UPDATE_NOTIFIER": "1",
        "GH_PROMPT_DISABLED": "1",
        "NO_COLOR": "1",
        "GH_PAGER": "cat",
    }


def _step(step: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    gh = shutil.which("gh") or "gh"
    try:
        done = subprocess.run(
            [gh, *step["args"]],
            env=env | step.get("env", {}),
            input=step.get("input", ""),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = -1, "", f"gh timed out after {STEP_TIMEOUT}s"
    secrets = _admin("secrets")
    return {"args": step["args"], "rc": rc, "stdout": out, "stderr": err, "secrets": secrets}


def _wait_until_listening() -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            _admin("secrets")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _admin(path: str) -> Any:
    with _NO_PROXY.open(ADMIN + path, timeout=10) as response:
        return json.loads(response.read())


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), json.loads(sys.argv[2]))))
