"""``make bench``: the real CLI against the sandbox, with latency, on generated worlds.

For each size it runs, as subprocesses (real start-up, real memory), a cold apply
(``--write-interval 0``), a no-op plan, a one-value change and a scheduled rotation, counts the
requests in the sandbox's log, and sets them beside the floor of issue 3's budget and beside a
naive ``gh secret set`` loop run for real against the same sandbox. Then start-up times and the
load time of a 10,000-secret state file; and (:mod:`bench.versus_gh`) the distinct-values
world side by side with the real ``gh`` when it is installed. Everything stays on loopback.

    .venv/bin/python -m bench.run [--sizes 10,100,1000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench import naive, versus_gh, worlds
from bench.sandbox import Sandbox
from bench.startup import installed_environment, startup_lines, state_load_seconds
from bench.worlds import Shape

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent
AGE = timedelta(hours=1)  # older than GAR's rotate_after (45m)


@dataclass(frozen=True)
class Measure:
    case: str
    latency: float
    requests: int
    floor: int
    seconds: float
    peak_mb: float
    naive_requests: int
    naive_seconds: float | None
    """None when the naive loop ran at another latency (no fair time ratio)."""


# -- the CLI ------------------------------------------------------------------------------
def run_cli(args: Sequence[str], env: dict[str, str], folder: Path) -> tuple[int, float, float]:
    """(exit code, wall seconds, peak RSS MB) of one ``python -m provisioner`` process."""
    out, err = folder / "cli.out", folder / "cli.err"
    start = time.perf_counter()
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([PYTHON, "-m", "provisioner", *args], stdout=o, stderr=e, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, seconds, usage.ru_maxrss / 1024


def age_rotating(sandbox: Sandbox, shape: Shape, state_path: Path) -> None:
    """Let an hour pass for GAR's passwords: on GitHub (updated_at) and in the state (the
    folder of shards at ``state_path``) alike."""
    name = f"{worlds.ROTATING}_CONTAINER_REGISTRY_PASSWORD"
    targets = [("org", o) for o in shape.orgs] + [
        ("repository", r) for r in shape.repository_targets
    ]
    for scope, target in targets:
        body = {"scope": scope, "target": target, "name": name, "seconds": int(AGE.total_seconds())}
        sandbox.admin("POST", "age", body)
    shards = sorted(state_path.glob("*/*.json"))  # one document per target
    if not shards:
        raise RuntimeError(f"no state shards under {state_path}")
    for shard in shards:
        document = json.loads(shard.read_text())
        for entry in document["secrets"]:
            if entry["secret"] == name:
                then = datetime.fromisoformat(entry["updated_at"]) - AGE
                entry["updated_at"] = then.isoformat()
        shard.write_text(json.dumps(document))


# -- floors (issue 3's budget) -----------------------------------------------------------
def floors(shape: Shape) -> dict[str, int]:
    """The fewest requests each case can make (see the README's Performance section)."""
    t, o = shape.size, len(shape.orgs)
    glob_orgs = sum(1 for i in range(o) if shape.glob_org(i))
    listings = o  # one page (<= 100 repositories) per org: globs or 12 names
    # Lists and glob listings: each selected-repositories read is skipped, since the state
    # recorded the selection at our write and GitHub's updated_at proves it unchanged.
    observe = t + glob_orgs
    return {
        "cold apply": shape.secrets + t + t + t + listings,
        "no-op plan": observe,
        # + the IDs of the orgs named repositories (a listing, as at the cold apply), and a
        # write and a read-back per target: the public key is cached in the state
        "one-value change": observe + (o - glob_orgs) + 2 * t,
        "rotation": observe + (o - glob_orgs) + 2 * t,  # GAR's secrets only
    }


def naive_items(shape: Shape, only: str | None = None) -> list[naive.Item]:
    """The ``gh secret set`` calls for every secret (or only the secrets named ``only``)."""
    ids = {name: repo_id for name, repo_id, _ in worlds.repositories(shape)}
    items: list[naive.Item] = []
    names = [f"{r}_CONTAINER_REGISTRY_{p}" for r in worlds.REGISTRIES for p in worlds.PARTS]
    names = [n for n in names if only is None or n == only]
    for i, org in enumerate(shape.orgs):
        selected = shape.selected(i)
        repo_ids = tuple(ids[r] for r in selected)
        items += [naive.Item("org", org, n, "v", selected[0], repo_ids) for n in names]
    for repo in shape.repository_targets:
        items += [naive.Item("repository", repo, n, "v", repo) for n in names]
    return items


# -- one size ---------------------------------------------------------------------------
def bench_size(shape: Shape, latency: float, big_latency: float, big: int) -> list[Measure]:
    write_latency = big_latency if shape.size >= big else latency
    with tempfile.TemporaryDirectory(prefix="provision-bench-") as tmp:
        folder = Path(tmp)
        world, config = worlds.write(shape, folder)
        state_path = folder / "state"  # a folder of shards, one per target
        installed = installed_environment()  # compiled, as pip installs it
        env = {k: v for k, v in installed.items() if not k.startswith(("GH_", "GITHUB_"))}
        env |= worlds.ENV | {"NO_COLOR": "1"}
        sandbox = Sandbox(world, folder)
        try:
            common = [str(config), "--api-url", sandbox.url, "--state", str(state_path)]
            apply = ["apply", *common, "--yes", "--write-interval", "0"]
            floor = floors(shape)
            results: dict[str, tuple[int, float, float, float]] = {}

            def case(name: str, args: list[str], lat: float, expect: int = 0) -> None:
                sandbox.latency(lat)
                sandbox.take_log()
                code, seconds, peak = run_cli(args, env, folder)
                if code != expect:
                    err = (folder / "cli.err").read_text()[-2000:]
                    raise SystemExit(f"{shape.size} targets, {name}: exit {code}\n{err}")
                results[name] = (sandbox.take_log(), seconds, peak, lat)
                print(
                    f"  {shape.size:>5} {name:<17} {results[name][0]:>6} req {seconds:7.1f} s",
                    file=sys.stderr,
                    flush=True,
                )

            case("cold apply", apply, write_latency)
            case("no-op plan", ["plan", *common, "--detailed-exitcode"], latency)
            env["BENCH_ACR_PASSWORD"] = "acr-password-2"
            case("one-value change", apply, write_latency)
            age_rotating(sandbox, shape, state_path)
            case("rotation", [*apply, "--registry", worlds.ROTATING], write_latency)

            sandbox.latency(write_latency)
            sandbox.take_log()
            every = naive_items(shape)
            every_seconds = naive.run(sandbox.url, every, naive.WORKERS)
            every_requests = sandbox.take_log()
            one = naive_items(shape, f"{worlds.ROTATING}_CONTAINER_REGISTRY_PASSWORD")
            one_seconds = naive.run(sandbox.url, one, naive.WORKERS)
            one_requests = sandbox.take_log()
        finally:
            sandbox.close()
    naive_for = {
        "cold apply": (every_requests, every_seconds),
        "no-op plan": (every_requests, every_seconds),
        "one-value change": (one_requests, one_seconds),
        "rotation": (one_requests, one_seconds),
    }
    measures = []
    for name, (count, seconds, peak, lat) in results.items():
        n_req, n_sec = naive_for[name]
        fair = n_sec if lat == write_latency else None
        measures.append(Measure(name, lat, count, floor[name], seconds, peak, n_req, fair))
    return measures


# -- the table --------------------------------------------------------------------------
def table(rows: list[tuple[int, Measure]]) -> list[str]:
    head = (
        "| targets | case | latency | requests | floor | req/target | naive requests | "
        "requests vs naive | wall s | naive wall s | time vs naive | peak MB |"
    )
    lines = [head, "|" + " --- |" * 12]
    for size, m in rows:
        naive_s = "—" if m.naive_seconds is None else f"{m.naive_seconds:.1f}"
        ratio = "—" if m.naive_seconds is None else f"{m.seconds / m.naive_seconds:.2f}"
        lines.append(
            f"| {size:,} | {m.case} | {m.latency * 1000:g} ms | {m.requests:,} | {m.floor:,} | "
            f"{m.requests / size:.2f} | {m.naive_requests:,} | "
            f"{m.requests / m.naive_requests:.2f} | {m.seconds:.1f} | {naive_s} | "
            f"{ratio} | {m.peak_mb:.0f} |"
        )
    return lines


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="target counts, comma-separated")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument(
        "--big", type=int, default=1000, help="from this size, write cases use --big-latency"
    )
    parser.add_argument("--big-latency", type=float, default=0.005)
    parser.add_argument(
        "--no-gh",
        dest="gh",
        action="store_false",
        help="skip the side-by-side run of the real gh on the distinct-values world",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    rows: list[tuple[int, Measure]] = []
    for size in sizes:
        print(f"benchmarking {size} targets ...", file=sys.stderr, flush=True)
        rows += [
            (size, m) for m in bench_size(Shape(size), args.latency, args.big_latency, args.big)
        ]

    print(f"Machine: {machine()}.")
    print(
        f"Sandbox latency {args.latency * 1000:g} ms per request; the naive loop runs "
        f"{naive.WORKERS} targets at a time (a real gh loop is serial: {naive.WORKERS}x slower)."
    )
    if any(size >= args.big for size in sizes):
        print(
            f"From {args.big:,} targets the write cases (and their naive loops) run at "
            f"{args.big_latency * 1000:g} ms: {args.big:,} x 9 serial writes at "
            f"{args.latency * 1000:g} ms alone would take "
            f"{args.big * 9 * args.latency / 60:.1f} min."
        )
    print()
    print("\n".join(table(rows)))
    print()
    if args.gh:
        print("\n".join(versus_gh.compare(args.latency)))
        print()
    print("\n".join(startup_lines(ROOT)))
    print(f"| state.load of 10,000 secrets | {state_load_seconds(10_000) * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
