"""`make demo` end to end: the script a new user runs first."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_the_loop_and_prints_its_environment_as_exports() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "export GH_TOKEN=ghp_sandbox_admin" in out
    assert re.search(r"^export GITHUB_API_URL=http://127\.0\.0\.1:\d+$", out, re.MULTILINE)
    assert re.search(r"^export PROVISION_STATE=\S+$", out, re.MULTILINE)
    assert "No changes." in out
    assert "Traceback" not in done.stderr
