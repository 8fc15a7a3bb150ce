"""``make bench``: the extra wall time of a no-op plan with the state on S3 over a local state.

The 100-target world of :mod:`bench.worlds` is applied once (sandbox latency 0) with a local
state, whose shards are then copied to a bucket of moto's server on loopback; then no-op
plans (real ``python -m provisioner`` processes, sandbox latency ``--latency``) alternate
between the two states, and the medians are set side by side. Everything stays on loopback:
the credentials are fake and the endpoint is moto's (``AWS_ENDPOINT_URL``).

    .venv/bin/python -m bench.state_s3 [--targets 100] [--latency 0.05] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import worlds
from bench.run import run_cli
from bench.sandbox import Sandbox
from bench.worlds import Shape

BUCKET = "provision-bench"
PREFIX = "state/"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _moto() -> tuple[Any, str]:
    """moto's server on a free loopback port, and its URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _upload(local: Path, endpoint: str) -> int:
    """Copy every shard of the local state to the bucket (the same keys under PREFIX)."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    shards = sorted(local.glob("*/*.json"))
    for shard in shards:
        key = PREFIX + shard.relative_to(local).as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=shard.read_bytes())
    return len(shards)


def measure(targets: int, latency: float, rounds: int) -> tuple[float, float, int]:
    """(median local seconds, median S3 seconds, shards) of ``rounds`` no-op plans each."""
    shape = Shape(targets)
    with tempfile.TemporaryDirectory(prefix="provision-bench-s3-") as tmp:
        folder = Path(tmp)
        world, config = worlds.write(shape, folder)
        local = folder / "state"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "AWS_"))}
        env |= worlds.ENV | FAKE_AWS | {"NO_COLOR": "1"}
        sandbox = Sandbox(world, folder)
        server, endpoint = _moto()
        env["AWS_ENDPOINT_URL"] = endpoint
        try:
            common = [str(config), "--api-url", sandbox.url]
            sandbox.latency(0)
            apply = ["apply", *common, "--state", str(local), "--yes", "--write-interval", "0"]
            if run_cli(apply, env, folder)[0] != 0:
                raise SystemExit(f"cold apply failed: {(folder / 'cli.err').read_text()[-2000:]}")
            shards = _upload(local, endpoint)
            sandbox.latency(latency)
            times: dict[str, list[float]] = {"local": [], "s3": []}
            where = {"local": str(local), "s3": f"s3://{BUCKET}/{PREFIX}"}
            for _ in range(rounds):
                for kind in ("local", "s3"):  # alternating: the machine's drift hits both
                    plan = ["plan", *common, "--state", where[kind], "--detailed-exitcode"]
                    code, seconds, _ = run_cli(plan, env, folder)
                    if code != 0:
                        err = (folder / "cli.err").read_text()[-2000:]
                        raise SystemExit(f"no-op plan ({kind} state) exited {code}:\n{err}")
                    times[kind].append(seconds)
        finally:
            server.stop()
            sandbox.close()
    return statistics.median(times["local"]), statistics.median(times["s3"]), shards


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05, help="sandbox seconds/request")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"benchmarking S3 vs local state, {args.targets} targets ...", file=sys.stderr)
    local, s3, shards = measure(args.targets, args.latency, args.rounds)
    print(
        f"No-op plan of {args.targets} targets ({shards} shards), sandbox latency "
        f"{args.latency * 1000:g} ms, median of {args.rounds}:"
    )
    print("| state | wall s |")
    print("| --- | --- |")
    print(f"| local folder | {local:.2f} |")
    print(f"| S3 (moto server on loopback) | {s3:.2f} |")
    print(f"S3 over local: {s3 - local:+.2f} s ({s3 / local:.2f}x).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
