"""Side by side with Debian's real ``gh`` on the distinct-values world (issue 13), in one run.

The world: 50 organizations whose secrets select 3 repositories each, and 50 repositories,
every target with its own registry (server and username written in the config, the password
from the environment): 300 distinct values, the worst case for fingerprints. Both tools talk
to one ``provision sandbox`` with the same latency per request.

gh reaches a sandbox only as ``GH_HOST=github.localhost`` over plain HTTP on port 80, so the
whole comparison runs inside a private network and mount namespace (``unshare``, as
``tests/support/gh_driver.py`` does): its own loopback, a hosts file bind-mounted over
/etc/hosts there only, the sandbox on port 80. gh does what a user's script would: one
``gh secret set -f FILE --app codespaces`` per target, one after another (it has no plan, so
every run rewrites all three secrets); for the password rotation one ``gh secret set NAME``
per target.

    .venv/bin/python -m bench.versus_gh [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.sandbox import Sandbox
from bench.startup import installed_environment
from bench.worlds import TOKEN
from tests.support.gh_driver import HOSTS, gh_env  # the namespace and gh as the suite runs them

ORGS = 50
REPOS = 50
SELECTED = 3
INSIDE = "PROVISION_BENCH_IN_NAMESPACE"


# -- the world ------------------------------------------------------------------------------
def targets() -> list[tuple[str, str, int]]:
    """(scope, target, index) of the 100 targets: the orgs, then the repositories."""
    out = [("org", f"dorg-{i:02d}", i) for i in range(ORGS)]
    out += [("repository", f"dorg-{i % ORGS:02d}/app-{i // ORGS}", ORGS + i) for i in range(REPOS)]
    return out


def password(index: int, generation: int = 1) -> str:
    return f"distinct-password-{index:03d}-gen{generation}"


def write_world(folder: Path) -> tuple[Path, Path, dict[str, str]]:
    """world.yaml, distinct.yaml and the environment holding the 100 passwords."""
    lines = ["user: {login: bench-user, id: 1}", "orgs:"]
    lines += [f"  - {{login: dorg-{i:02d}, id: {100 + i}}}" for i in range(ORGS)]
    lines.append("repositories:")
    repo_id = 20_001
    for i in range(ORGS):
        names = [f"svc-{k}" for k in range(SELECTED)]
        names += [f"app-{k}" for k in range(-(-REPOS // ORGS))]
        for name in names:
            lines.append(f"  - {{full_name: dorg-{i:02d}/{name}, id: {repo_id}, archived: false}}")
            repo_id += 1
    lines += ["tokens:", f"  - {{token: {TOKEN}, kind: classic, scopes: [repo, admin:org]}}"]
    world = folder / "world.yaml"
    world.write_text("\n".join(lines) + "\n")

    config = ["version: 1", "registries:"]
    env = {"GH_TOKEN": TOKEN}
    for _, _, i in targets():
        config += [
            f"  R{i:03d}:",
            f"    server: r{i:03d}.registry.example",
            f"    username: puller-{i:03d}",
            f"    password: {{env: BENCH_PW_{i:03d}}}",
        ]
        env[f"BENCH_PW_{i:03d}"] = password(i)
    config.append("targets:")
    repos = "[" + ", ".join(f"svc-{k}" for k in range(SELECTED)) + "]"
    for scope, target, i in targets():
        config += [f"  - {scope}: {target}", f"    registries: [R{i:03d}]"]
        if scope == "org":
            config.append(f"    repositories: {repos}")
    path = folder / "distinct.yaml"
    path.write_text("\n".join(config) + "\n")
    return world, path, env


# -- inside the namespace -------------------------------------------------------------------
def _timed(argv: Sequence[str], env: dict[str, str], what: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def _provision_cases(folder: Path, latency: float) -> dict[str, tuple[float, int]]:
    world, config, secrets = write_world(folder)
    installed = installed_environment()  # compiled, as installed (gh is a compiled binary)
    env = {k: v for k, v in installed.items() if not k.startswith(("GH_", "GITHUB_"))}
    env |= secrets | {"NO_COLOR": "1"}
    common = [str(config), "--api-url", "http://127.0.0.1", "--state", str(folder / "state")]
    apply = [sys.executable, "-m", "provisioner", "apply", *common, "--yes"]
    plan = [sys.executable, "-m", "provisioner", "plan", *common]
    sandbox = Sandbox(world, folder, port=80)
    out: dict[str, tuple[float, int]] = {}
    try:
        sandbox.admin("POST", "faults", {"latency": latency})
        sandbox.take_log()
        runs: list[tuple[str, list[str]]] = [
            ("cold apply (write interval 0)", [*apply, "--write-interval", "0"]),
            ("no change (plan)", plan),
            ("one value changed (apply)", [*apply, "--write-interval", "0"]),
            ("rotation of the PASSWORDs", [*apply, "--write-interval", "0"]),
        ]
        for case, argv in runs:
            if case.startswith("one value"):
                env["BENCH_PW_000"] = password(0, 2)
            if case.startswith("rotation"):
                env |= {f"BENCH_PW_{i:03d}": password(i, 3) for _, _, i in targets()}
            seconds = _timed(argv, env, f"provision, {case}")
            out[case] = (seconds, sandbox.take_log())
            print(f"  provision {case:<32} {out[case][1]:>5} req {seconds:6.1f} s", file=sys.stderr)
    finally:
        sandbox.close()
    return out


def _gh_where(scope: str, target: str) -> list[str]:
    if scope == "repository":
        return ["--repo", target]
    repos = ",".join(f"svc-{k}" for k in range(SELECTED))
    return ["--org", target, "--visibility", "selected", "--repos", repos]


def _gh_cases(folder: Path, latency: float) -> dict[str, tuple[float, int]]:
    """A full loop (what gh does for a cold apply, a no-change run and one changed value
    alike: it cannot tell), then a loop setting only each target's PASSWORD."""
    gh = shutil.which("gh") or "gh"
    world, _, _ = write_world(folder)
    env = {**gh_env(folder), "GH_TOKEN": TOKEN}  # the bench world's token
    sandbox = Sandbox(world, folder, port=80)
    out: dict[str, tuple[float, int]] = {}
    try:
        sandbox.admin("POST", "faults", {"latency": latency})
        sandbox.take_log()
        start = time.perf_counter()
        for scope, target, i in targets():
            dotenv = folder / f"t{i:03d}.env"
            dotenv.write_text(
                f"R{i:03d}_CONTAINER_REGISTRY_SERVER=r{i:03d}.registry.example\n"
                f"R{i:03d}_CONTAINER_REGISTRY_USER=puller-{i:03d}\n"
                f"R{i:03d}_CONTAINER_REGISTRY_PASSWORD={password(i)}\n"
            )
            argv = [gh, "secret", "set", "-f", str(dotenv), "--app", "codespaces"]
            _timed([*argv, *_gh_where(scope, target)], env, f"gh, {target}")
        out["every secret"] = (time.perf_counter() - start, sandbox.take_log())
        start = time.perf_counter()
        for scope, target, i in targets():
            name = f"R{i:03d}_CONTAINER_REGISTRY_PASSWORD"
            argv = [gh, "secret", "set", name, "--app", "codespaces", "--body", password(i, 3)]
            _timed([*argv, *_gh_where(scope, target)], env, f"gh, {target}")
        out["passwords"] = (time.perf_counter() - start, sandbox.take_log())
        for case, (seconds, count) in out.items():
            print(f"  gh {case:<39} {count:>5} req {seconds:6.1f} s", file=sys.stderr)
    finally:
        sandbox.close()
    return out


GH_CASE = {
    "cold apply (write interval 0)": "every secret",
    "no change (plan)": "every secret",
    "one value changed (apply)": "every secret",
    "rotation of the PASSWORDs": "passwords",
}


def inside(latency: float) -> dict[str, Any]:
    """The whole comparison; must run in the private namespace (port 80, /etc/hosts)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    with tempfile.TemporaryDirectory(prefix="provision-vs-gh-") as tmp:
        folder = Path(tmp)
        (folder / "hosts").write_text(HOSTS)
        subprocess.run(["mount", "--bind", str(folder / "hosts"), "/etc/hosts"], check=True)
        (folder / "p").mkdir()
        (folder / "g").mkdir()
        ours = _provision_cases(folder / "p", latency)
        theirs = _gh_cases(folder / "g", latency)
    return {"provision": ours, "gh": theirs}


# -- from the host ----------------------------------------------------------------------------
def namespace_command() -> list[str] | None:
    """``unshare`` for a private net+mount(+pid) namespace, or None when it cannot be made."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    command = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child"]
    command += [] if os.geteuid() == 0 else ["--map-root-user"]
    probe = subprocess.run([*command, "true"], capture_output=True, timeout=30, check=False)
    return command if probe.returncode == 0 else None


def compare(latency: float) -> list[str]:
    """The side-by-side table (ratios and exact request counts), or one line saying why not."""
    if shutil.which("gh") is None:
        return ["(gh is not installed: no side-by-side run)"]
    command = namespace_command()
    if command is None:
        return ["(unshare cannot make a private network namespace here: no side-by-side run)"]
    done = subprocess.run(
        [*command, sys.executable, "-m", "bench.versus_gh", "--latency", str(latency)],
        env=os.environ | {INSIDE: "1"},
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the side-by-side run failed (exit {done.returncode})")
    return table(json.loads(done.stdout), latency)


def table(result: dict[str, Any], latency: float) -> list[str]:
    lines = [
        f"Distinct-values world: {ORGS} orgs ({SELECTED} selected repositories each) + {REPOS} "
        f"repositories, one registry each: {3 * (ORGS + REPOS)} distinct values; "
        f"{latency * 1000:g} ms per request; gh {_gh_version()}, one `gh secret set` per target, "
        "serial.",
        "",
        "| case | provision requests | gh requests | provision / gh wall time |",
        "| --- | --- | --- | --- |",
    ]
    for case, (seconds, count) in result["provision"].items():
        gh_seconds, gh_count = result["gh"][GH_CASE[case]]
        lines.append(f"| {case} | {count:,} | {gh_count:,} | {seconds / gh_seconds:.2f} |")
    return lines


def _gh_version() -> str:
    done = subprocess.run(["gh", "--version"], capture_output=True, text=True, check=False)
    first = done.stdout.split()
    return first[2] if len(first) > 2 else "?"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args(argv)
    if os.environ.get(INSIDE) == "1":
        print(json.dumps(inside(args.latency)))
    else:
        print("\n".join(compare(args.latency)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
