"""The ``provision`` command line: parse flags, build collaborators, call the core, render.

No domain logic here. Every failure maps to an exit code in :func:`main`, the one error
boundary: 0 ok, 1 error, 2 changes pending (plan --detailed-exitcode), 64 usage, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from provisioner import __version__, output
from provisioner.commands.options import Options
from provisioner.errors import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ProvisionError,
    UsageError,
)

app = typer.Typer(
    name="provision",
    help="Make GitHub Codespaces able to pull from private container registries, declaratively.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigArg = Annotated[
    Path, typer.Argument(help="The YAML configuration file.", show_default=False, metavar="CONFIG")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout, nothing else.")]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        metavar="SCOPE:NAME",
        help="Only this target (repeatable): org:NAME, repository:OWNER/NAME, user:LOGIN.",
    ),
]
RegistryOpt = Annotated[
    list[str] | None,
    typer.Option("--registry", metavar="ID", help="Only this registry ID (repeatable)."),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        envvar="PROVISION_STATE",
        help="State file [default: <config dir>/.provision/<name or config stem>/state.json].",
    ),
]
ApiUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="GitHub API URL [default: config github.api_url, "
        "GITHUB_API_URL, https://api.github.com].",
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("-v", "--verbose", help="Request lines on stderr (never bodies).")
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colours (also NO_COLOR).")]
PruneOpt = Annotated[
    bool, typer.Option("--prune", help="Also delete unmanaged *_CONTAINER_REGISTRY_* secrets.")
]
MaxWaitOpt = Annotated[
    float,
    typer.Option(
        "--max-wait",
        envvar="PROVISION_MAX_WAIT",
        min=0.0,
        metavar="SECONDS",
        help="Most time the run may spend waiting on rate limits and retries, in total.",
    ),
]


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"provision {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Make GitHub Codespaces able to pull from private container registries, declaratively."""


def _options(
    config: Path,
    json_output: bool,
    target: list[str] | None,
    registry: list[str] | None,
    api_url: str | None,
    verbose: bool,
    no_color: bool,
    **specific: Any,
) -> Options:
    """The flags every GitHub-reading command shares, plus the command's own."""
    return Options(
        config=config,
        json=json_output,
        targets=target or [],
        registries=registry or [],
        api_url=api_url,
        verbose=verbose,
        no_color=no_color,
        **specific,
    )


@app.command()
def validate(config: ConfigArg, json_output: JsonOpt = False) -> int:
    """Parse and check the config; reads no value source and no network."""
    from provisioner.commands import validate as command

    return command.run(config, json_output=json_output)


@app.command()
def schema() -> int:
    """Print the config's JSON Schema (for editors: yaml-language-server)."""
    from provisioner.commands import validate as command

    return command.print_schema()


@app.command()
def plan(
    config: ConfigArg,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout (--format json).")
    ] = False,
    target: TargetOpt = None,
    registry: RegistryOpt = None,
    state: StateOpt = None,
    api_url: ApiUrlOpt = None,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="Exit 2 when changes are pending, 0 when none."),
    ] = False,
    prune: PruneOpt = False,
    force_rotate: Annotated[
        bool,
        typer.Option(
            "--force-rotate", help="Preview apply --force-rotate: every rotating secret rotates."
        ),
    ] = False,
    output_format: Annotated[
        Literal["text", "json", "markdown"] | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            show_default=False,
            help="text (the default), json (as --json) or markdown (for pull requests "
            "and $GITHUB_STEP_SUMMARY).",
        ),
    ] = None,
    max_wait: MaxWaitOpt = 900.0,
) -> int:
    """Show what apply would change; writes nothing anywhere."""
    from provisioner.commands import plan_apply

    if json_output and output_format not in (None, "json"):
        raise UsageError(f"--json and --format {output_format} disagree: give one of them")
    chosen = "json" if json_output else output_format or "text"
    options = _options(
        config,
        chosen == "json",
        target,
        registry,
        api_url,
        verbose,
        no_color,
        state=state,
        prune=prune,
        max_wait=max_wait,
    )
    return plan_apply.plan(
        options,
        detailed_exitcode=detailed_exitcode,
        force_rotate=force_rotate,
        output_format=chosen,
    )


@app.command()
def apply(
    config: ConfigArg,
    json_output: JsonOpt = False,
    target: TargetOpt = None,
    registry: RegistryOpt = None,
    state: StateOpt = None,
    api_url: ApiUrlOpt = None,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Apply without asking (required without a terminal)."),
    ] = False,
    prune: PruneOpt = False,
    force_rotate: Annotated[
        bool, typer.Option("--force-rotate", help="Rotate every rotating secret now, due or not.")
    ] = False,
    write_interval: Annotated[
        float,
        typer.Option(
            "--write-interval",
            envvar="PROVISION_WRITE_INTERVAL",
            min=0.0,
            metavar="SECONDS",
            help="Pause between write requests, as GitHub asks.",
        ),
    ] = 1.0,
    max_wait: MaxWaitOpt = 900.0,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="Apply even when the plan deletes more than 30% of a target's managed "
            "secrets (targets holding at least 10).",
        ),
    ] = False,
) -> int:
    """Compute the plan, show it, ask, apply it, record state."""
    from provisioner.commands import plan_apply

    options = _options(
        config,
        json_output,
        target,
        registry,
        api_url,
        verbose,
        no_color,
        state=state,
        prune=prune,
        write_interval=write_interval,
        max_wait=max_wait,
    )
    return plan_apply.apply(
        options, yes=yes, force_rotate=force_rotate, allow_mass_delete=allow_mass_delete
    )


@app.command()
def status(
    config: ConfigArg,
    json_output: JsonOpt = False,
    target: TargetOpt = None,
    registry: RegistryOpt = None,
    state: StateOpt = None,
    api_url: ApiUrlOpt = None,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    fail_on_stale: Annotated[
        bool,
        typer.Option(
            "--fail-on-stale",
            help="Exit 1 when a rotating secret is past due or expired (for monitors).",
        ),
    ] = False,
) -> int:
    """Show which registry secrets each target holds, their age, policy and rotation."""
    from provisioner.commands import status as command

    options = _options(
        config,
        json_output,
        target,
        registry,
        api_url,
        verbose,
        no_color,
        state=state,
        fail_on_stale=fail_on_stale,
    )
    return command.run(options)


@app.command()
def doctor(
    config: ConfigArg,
    json_output: JsonOpt = False,
    target: TargetOpt = None,
    registry: RegistryOpt = None,
    api_url: ApiUrlOpt = None,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
) -> int:
    """Check the token, each target's access and each registry's login; exit 1 on a failure."""
    from provisioner.commands import doctor as command

    return command.run(_options(config, json_output, target, registry, api_url, verbose, no_color))


@app.command()
def sandbox(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free port).")
    ] = 8080,
    world: Annotated[
        Path | None, typer.Option("--world", help="World file: user, orgs, repositories, tokens.")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Loopback address to bind.")] = "127.0.0.1",
    latency: Annotated[
        float, typer.Option("--latency", min=0.0, help="Seconds added per request.")
    ] = 0.0,
    fail_every: Annotated[
        int,
        typer.Option("--fail-every", min=0, metavar="N", help="Answer 502 to every Nth request."),
    ] = 0,
    secondary_limit_writes: Annotated[
        int,
        typer.Option(
            "--secondary-limit-writes",
            min=0,
            metavar="N",
            help="Answer the first N writes with a secondary rate limit (403, Retry-After).",
        ),
    ] = 0,
    retry_after: Annotated[
        int, typer.Option("--retry-after", min=0, help="Retry-After seconds of those limits.")
    ] = 1,
    rotate_key_after_writes: Annotated[
        int,
        typer.Option(
            "--rotate-key-after-writes",
            min=0,
            metavar="N",
            help="Rotate every target's public key after the Nth successful write.",
        ),
    ] = 0,
) -> int:
    """Serve a local GitHub REST API emulator of the Codespaces secrets endpoints."""
    from provisioner.sandbox import serve

    knobs = {
        "latency": latency,
        "fail_every": fail_every,
        "secondary_limit_writes": secondary_limit_writes,
        "rotate_key_after_writes": rotate_key_after_writes,
    }
    faults: dict[str, float | int] = {k: v for k, v in knobs.items() if v}
    if faults:
        faults["retry_after"] = retry_after
    serve(world, host, port, faults or None)
    return EXIT_OK


def _is_cli_error(e: Exception) -> bool:
    # Typer vendors Click (typer._click) in recent releases and uses click itself in older
    # ones; both raise ClickException subclasses, recognised here by name, not by module.
    return any(c.__name__ == "ClickException" for c in type(e).__mro__) and hasattr(e, "show")


def _is_usage_error(e: Exception) -> bool:
    return any(c.__name__ in ("UsageError", "BadParameter") for c in type(e).__mro__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (tests call this directly)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result: Any = app(args=args, prog_name="provision", standalone_mode=False)
    except typer.Exit as e:
        return int(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        output.error("interrupted")
        return EXIT_INTERRUPTED
    except ProvisionError as e:
        output.error(str(e))
        return e.exit_code
    except Exception as e:
        if _is_cli_error(e):  # bad flags or arguments: Click's UsageError family
            e.show()  # type: ignore[attr-defined]
            return EXIT_USAGE if _is_usage_error(e) else EXIT_ERROR
        if os.environ.get("PROVISION_DEBUG"):
            raise
        # The last resort: one line, never a traceback (nor a value: they never format).
        output.error(f"internal error: {type(e).__name__} (set PROVISION_DEBUG=1 for details)")
        return EXIT_ERROR
    return int(result) if isinstance(result, int) else EXIT_OK


def entry() -> None:
    sys.exit(main())


__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "UsageError", "app", "entry", "main"]
