"""``provision sandbox`` as the benchmarks run it: its own process, read through its admin API."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

PYTHON = sys.executable


class Sandbox:
    """``provision sandbox`` in its own process (its own core and GIL), on a free port (or
    ``port``: 80 inside the private network namespace where gh reaches it)."""

    def __init__(self, world: Path, folder: Path, port: int = 0) -> None:
        self.log = (folder / "sandbox.log").open("w")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "provisioner", "sandbox", "--port", str(port), "--world", str(world)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.url = ""
        deadline = time.monotonic() + 120
        while not self.url and time.monotonic() < deadline:
            for line in (folder / "sandbox.log").read_text().splitlines():
                if line.startswith("sandbox listening on "):
                    self.url = line.split()[-1]
            if self.proc.poll() is not None:
                raise SystemExit(f"sandbox exited: {(folder / 'sandbox.log').read_text()}")
            time.sleep(0.1)
        if not self.url:
            raise SystemExit("sandbox did not start within 120 s")
        self.session = requests.Session()
        self.session.trust_env = False

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, f"{self.url}/_sandbox/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def latency(self, seconds: float) -> None:
        self.admin("POST", "faults", {"latency": seconds})

    def take_log(self) -> int:
        """How many API requests were made since the last call (then forget them)."""
        count = len(self.admin("GET", "requests"))
        self.admin("POST", "reset-log")
        return count

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
