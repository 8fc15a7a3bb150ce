"""Start-up time of ``provision --version`` and ``provision validate`` against ``python -c pass``,
what they import, and the load time of a large state file."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import worlds
from provisioner import state
from provisioner.domain import StateEntry, StateKey, TargetRef

RUNS = 10
HEAVY = ("boto3", "botocore", "github", "jwt", "cryptography", "rich", "requests")
"""What the light commands never import: AWS, PyGithub (and its jwt, cryptography and
requests), and Rich (the progress bar of apply)."""


PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"


def installed_environment() -> dict[str, str]:
    """The environment of an installed package: every module runs from compiled bytecode, as
    pip leaves it (site-packages keeps its ``__pycache__``; the checkout's package is compiled
    here, once, into its own, which git ignores). Under PYTHONDONTWRITEBYTECODE every run would
    compile the package from source (about 30 ms for ``validate``, 70 ms for ``apply``); with
    a fresh PYTHONPYCACHEPREFIX the first run would compile every library too (about 1.5 s)."""
    skip = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    environ = {k: v for k, v in os.environ.items() if k not in skip}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(PACKAGE)],
        env=environ,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    return environ


def _best(argv: list[str], environ: dict[str, str], runs: int = RUNS) -> float:
    """The minimum wall time of ``runs`` runs (the least disturbed by the machine), after one
    run that fills the bytecode cache."""

    def run() -> None:
        subprocess.run(
            argv, check=True, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    run()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def imported(args: list[str]) -> set[str]:
    """Top-level packages a ``python -m provisioner ARGS`` process imports (``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "provisioner", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"provision {' '.join(args)} failed: {done.stderr[-2000:]}")
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    if not lines:
        raise RuntimeError("no -X importtime output")
    return {line.split("|")[-1].strip().split(".")[0] for line in lines}


def heavy_imports(args: list[str]) -> list[str]:
    """Which of :data:`HEAVY` a ``python -m provisioner ARGS`` run imports."""
    return sorted(imported(args) & set(HEAVY))


BARE_TYPER = """\
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command()
def validate(
    config: Path,
    json_output: Annotated[bool, typer.Option("--json")] = False,
    no_color: Annotated[bool, typer.Option("--no-color")] = False,
) -> None:
    pass


@app.command()
def schema() -> None:
    pass


app()
"""
"""The floor of any Typer CLI here: an app whose ``validate`` takes the same three parameters
as ours and does nothing (Typer 0.29 builds a pydantic TypeAdapter per parameter, so it
imports pydantic, and with it importlib.metadata for pydantic's plugins)."""


def startup_lines(root: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        _, config = worlds.write(worlds.Shape(10), Path(tmp))
        py, environ = sys.executable, installed_environment()
        bare = _best([py, "-c", "pass"], environ)
        (Path(tmp) / "bare_typer.py").write_text(BARE_TYPER)
        typer_floor = _best([py, str(Path(tmp) / "bare_typer.py"), "validate", "x"], environ)
        version = _best([py, "-m", "provisioner", "--version"], environ)
        validate = _best([py, "-m", "provisioner", "validate", str(config)], environ)
        imports = {
            "--version": heavy_imports(["--version"]),
            "validate": heavy_imports(["validate", str(config)]),
        }
    lines = [
        f"| start-up (min of {RUNS}) | wall | over `python -c pass` | heavy imports |",
        "| --- | --- | --- | --- |",
        f"| `python -c pass` | {bare * 1000:.0f} ms | | |",
    ]
    for label, seconds, key in (
        ("a bare Typer app: `validate X` (same 3 parameters, does nothing)", typer_floor, ""),
        ("`provision --version`", version, "--version"),
        ("`provision validate` (10 targets)", validate, "validate"),
    ):
        heavy = ", ".join(imports[key]) or "no" if key else ""
        lines.append(
            f"| {label} | {seconds * 1000:.0f} ms | +{(seconds - bare) * 1000:.0f} ms | {heavy} |"
        )
    return lines


def synthetic_state(count: int) -> dict[StateKey, StateEntry]:
    """``count`` entries shaped like real ones (argon2id-length fingerprints, timestamps)."""
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    fingerprint = "$argon2id$v=19$m=16384,t=3,p=1$" + "A" * 22 + "$" + "B" * 43
    entries: dict[StateKey, StateEntry] = {}
    for i in range(count):
        target = TargetRef("repository", f"org-{i // 900:04d}/app-{i // 9}")
        entries[(target, f"R{i % 9}_CONTAINER_REGISTRY_PASSWORD")] = StateEntry(
            fingerprint, stamp, f"R{i % 9}"
        )
    return entries


def state_load_seconds(count: int, runs: int = 5) -> float:
    """The best of ``runs`` ``state.load`` calls on a file of ``count`` entries."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        state.save(path, synthetic_state(count))
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            loaded = state.load(path)
            best = min(best, time.perf_counter() - start)
        assert len(loaded) == count
    return best


if __name__ == "__main__":
    print("\n".join(startup_lines(Path.cwd())))
