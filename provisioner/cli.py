"""The ``provision`` command line: parse flags, build collaborators, call the core, render.

No domain logic here. Every failure maps to an exit code in :func:`main`, the one error
boundary: 0 ok, 1 error, 2 changes pending (plan --detailed-exitcode), 64 usage, and 130, 143,
129 when stopped by SIGINT (Ctrl-C), SIGTERM, SIGHUP.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from types import FrameType
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
    STOP_EXIT_CODES,
    STOP_SIGNALS,
    ConfigError,
    Diagnostic,
    ProvisionError,
    Stopped,
    UsageError,
)

app = typer.Typer(
    name="provision",
    help="Make GitHub Codespaces able to pull from private container registries, declaratively.",
    no_args_is_help=True,
    # Typer's own --show-completion ignores a shell named after it (it detects the current
    # one); ours takes the shell, see _root.
    add_completion=False,
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
    str | None,
    typer.Option(
        "--state",
        envvar="PROVISION_STATE",
        metavar="PATH|s3://BUCKET/PREFIX/",
        help="Where the state lives [default: config state:, else "
        "<config dir>/.provision/<name or config stem>/].",
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
MAX_SECONDS = 7 * 24 * 3600
"""The most any duration flag takes (a week): no run should wait longer, and a wait of
``inf`` or ``1e400`` seconds would overflow (Python's waits take at most ~292 years)."""


def _seconds(value: float | None) -> float | None:
    """A duration flag's value (or its environment variable's): finite, within a week. Click's
    ``min=0.0`` lets ``inf`` and ``nan`` through."""
    if value is not None and not (math.isfinite(value) and value <= MAX_SECONDS):
        raise typer.BadParameter(
            f"must be a finite number of seconds, at most {MAX_SECONDS} (a week); got {value}"
        )
    return value


LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        envvar="PROVISION_LOCK_TIMEOUT",
        min=0.0,
        callback=_seconds,
        metavar="SECONDS",
        help="How long to wait for the state lock (0: fail at once, naming who holds it).",
    ),
]
MaxWaitOpt = Annotated[
    float,
    typer.Option(
        "--max-wait",
        envvar="PROVISION_MAX_WAIT",
        min=0.0,
        callback=_seconds,
        metavar="SECONDS",
        help="Most time the run may spend waiting on rate limits and retries, in total.",
    ),
]


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
    pwsh = "pwsh"


COMPLETE_VAR = "_PROVISION_COMPLETE"


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"provision {__version__}\n")
        raise typer.Exit(0)


def _show_completion(shell: Shell | None) -> None:
    if shell:
        # Typer exposes the script only through its own option, which ignores the shell.
        from typer._completion_shared import get_completion_script

        script = get_completion_script(
            prog_name="provision", complete_var=COMPLETE_VAR, shell=shell.value
        )
        sys.stdout.write(script.rstrip("\n") + "\n")
        raise typer.Exit(0)


def _install_completion(shell: Shell | None) -> None:
    if shell:
        from typer._completion_shared import install

        installed, path = install(
            shell=shell.value, prog_name="provision", complete_var=COMPLETE_VAR
        )
        output.info(f"{installed} completion installed in {path}; restart the shell to use it")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    show_completion: Annotated[
        Shell | None,
        typer.Option(
            "--show-completion",
            metavar="SHELL",
            callback=_show_completion,
            is_eager=True,
            expose_value=False,
            help="Print the completion script of SHELL (bash, zsh, fish, powershell).",
        ),
    ] = None,
    install_completion: Annotated[
        Shell | None,
        typer.Option(
            "--install-completion",
            metavar="SHELL",
            callback=_install_completion,
            is_eager=True,
            expose_value=False,
            help="Install completion for SHELL (bash, zsh, fish, powershell).",
        ),
    ] = None,
) -> None:
    """Make GitHub Codespaces able to pull from private container registries, declaratively."""


def _state_from(ctx: typer.Context) -> str:
    """Where ``--state``'s value came from, for its errors: the flag (a usage error, 64) or
    ``PROVISION_STATE`` (an error, 1)."""
    source = ctx.get_parameter_source("state")
    return "PROVISION_STATE" if source is not None and source.name == "ENVIRONMENT" else "--state"


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
def validate(config: ConfigArg, json_output: JsonOpt = False, no_color: NoColorOpt = False) -> int:
    """Parse and check the config; reads no value source and no network."""
    from provisioner.commands import validate as command

    return command.validate(config, json_output=json_output)


@app.command()
def schema(no_color: NoColorOpt = False) -> int:
    """Print the config's JSON Schema (for editors: yaml-language-server)."""
    from provisioner.commands import validate as command

    return command.print_schema()


@app.command()
def plan(
    ctx: typer.Context,
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
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Save the plan (0600, no value) for provision apply FILE.",
        ),
    ] = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> int:
    """Show what apply would change; writes nothing anywhere (but --out). Never locks."""
    from provisioner.commands.plan import plan as plan_command

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
        state_from=_state_from(ctx),
        prune=prune,
        max_wait=max_wait,
        lock_timeout=lock_timeout,  # accepted for scripts; a plan never waits on a lock
    )
    return plan_command(
        options,
        detailed_exitcode=detailed_exitcode,
        force_rotate=force_rotate,
        output_format=chosen,
        out=out,
    )


@app.command()
def apply(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Argument(
            help="The YAML configuration file, or a plan saved by plan --out.",
            show_default=False,
            metavar="CONFIG|PLANFILE",
        ),
    ],
    json_output: JsonOpt = False,
    target: TargetOpt = None,
    registry: RegistryOpt = None,
    state: StateOpt = None,
    api_url: ApiUrlOpt = None,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Apply without asking (required without a terminal and with --json).",
        ),
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
            callback=_seconds,
            metavar="SECONDS",
            help="Pause between write requests, as GitHub asks.",
        ),
    ] = 1.0,
    max_wait: MaxWaitOpt = 900.0,
    lock_timeout: LockTimeoutOpt = 0.0,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="Apply even when the plan deletes more than 30% of a target's managed "
            "secrets (targets holding at least 10).",
        ),
    ] = False,
) -> int:
    """Compute the plan, show it, ask, apply it, record state (or apply a saved plan)."""
    from provisioner import saved_plan
    from provisioner.commands.apply import apply as apply_command

    if json_output and not yes:
        # As terraform apply -json needs -auto-approve: stdout is the JSON document, so there
        # is no plan on it to confirm, and a "no" would leave it empty.
        raise UsageError(
            "apply --json needs --yes: the plan cannot be shown for confirmation "
            "(stdout is the JSON document); run plan --json to review it first"
        )
    saved = saved_plan.read(config)
    if saved is not None:
        if target or registry or prune or force_rotate:
            raise UsageError(
                "a saved plan fixes --target, --registry, --prune and --force-rotate: "
                "give none of them with PLANFILE"
            )
        config, target, registry = Path(saved.config), saved.targets, saved.registries
        prune, force_rotate = (
            saved.flags.get("prune", False),
            saved.flags.get("force_rotate", False),
        )
    options = _options(
        config,
        json_output,
        target,
        registry,
        api_url,
        verbose,
        no_color,
        state=state,
        state_from=_state_from(ctx),
        prune=prune,
        write_interval=write_interval,
        max_wait=max_wait,
        lock_timeout=lock_timeout,
    )
    return apply_command(
        options,
        yes=yes,
        force_rotate=force_rotate,
        allow_mass_delete=allow_mass_delete,
        saved=saved,
    )


@app.command()
def status(
    ctx: typer.Context,
    config: ConfigArg,
    json_output: JsonOpt = False,
    target: TargetOpt = None,
    registry: RegistryOpt = None,
    state: StateOpt = None,
    api_url: ApiUrlOpt = None,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    max_wait: MaxWaitOpt = 900.0,
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
        state_from=_state_from(ctx),
        fail_on_stale=fail_on_stale,
        max_wait=max_wait,
    )
    return command.status(options)


@app.command()
def doctor(
    config: ConfigArg,
    json_output: JsonOpt = False,
    target: TargetOpt = None,
    registry: RegistryOpt = None,
    api_url: ApiUrlOpt = None,
    verbose: VerboseOpt = False,
    no_color: NoColorOpt = False,
    max_wait: MaxWaitOpt = 900.0,
) -> int:
    """Check the token, each target's access and each registry's login; exit 1 on a failure."""
    from provisioner.commands import doctor as command

    return command.doctor(
        _options(
            config, json_output, target, registry, api_url, verbose, no_color, max_wait=max_wait
        )
    )


state_app = typer.Typer(
    name="state",
    help="Look at and repair the state (never touches GitHub).",
    no_args_is_help=True,
)
app.add_typer(state_app)


@state_app.command("list")
def state_list(
    ctx: typer.Context,
    config: ConfigArg,
    no_color: NoColorOpt = False,
    json_output: JsonOpt = False,
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> int:
    """What the state records: scope, target, secret, registry, when and by which run."""
    from provisioner.commands import state as command

    return command.state_list(
        Options(
            config=config,
            json=json_output,
            state=state,
            state_from=_state_from(ctx),
            lock_timeout=lock_timeout,
        )
    )


@state_app.command("rm")
def state_rm(
    ctx: typer.Context,
    config: ConfigArg,
    target: Annotated[str, typer.Argument(metavar="SCOPE:NAME", help="The target.")],
    secrets: Annotated[
        list[str] | None,
        typer.Argument(metavar="[SECRET...]", help="Only these secrets (default: all)."),
    ] = None,
    no_color: NoColorOpt = False,
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> int:
    """Stop managing a target's secrets (or the named ones); deletes nothing on GitHub."""
    from provisioner.commands import state as command

    options = Options(
        config=config, state=state, state_from=_state_from(ctx), lock_timeout=lock_timeout
    )
    return command.state_rm(options, target, secrets or [])


@state_app.command("unlock")
def state_unlock(
    ctx: typer.Context,
    config: ConfigArg,
    lock_id: Annotated[str, typer.Argument(metavar="LOCK_ID", help="The ID the lock names.")],
    no_color: NoColorOpt = False,
    state: StateOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> int:
    """Remove a lock left by a run that died; refuses an ID that does not match."""
    from provisioner.commands import state as command

    options = Options(
        config=config, state=state, state_from=_state_from(ctx), lock_timeout=lock_timeout
    )
    return command.state_unlock(options, lock_id)


@app.command()
def sandbox(
    no_color: NoColorOpt = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free port).")
    ] = 8080,
    world: Annotated[
        Path | None, typer.Option("--world", help="World file: user, orgs, repositories, tokens.")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Loopback address to bind.")] = "127.0.0.1",
    latency: Annotated[
        float,
        typer.Option("--latency", min=0.0, callback=_seconds, help="Seconds added per request."),
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


@contextmanager
def _signals_stop_the_run() -> Iterator[None]:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP end the run: :class:`Stopped` unwinds it (apply's
    writes defer them instead, see :class:`provisioner.apply.Applier`) to the boundary's one
    line (and one JSON document under --json). SIGINT too, not Python's KeyboardInterrupt:
    Typer turns that into a silent exit 130, which no caller can tell from a code returned.

    Only in the main thread (Python allows handlers nowhere else); a signal the process was
    started ignoring (``nohup``) stays ignored; the previous handlers are back when main
    returns. The handler raises once: a later signal finds the run already unwinding, and
    must not cut the boundary's own one-line report.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Stopped(signum)

    previous: dict[int, Any] = {}  # what signal.signal returned: a handler, SIG_*, None
    try:  # installed inside the try: a signal between two installs still restores the first
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                previous[signum] = signal.signal(signum, stop)
        yield
    finally:
        raised = True  # from here a signal is too late to change the outcome
        for signum, handler in previous.items():
            # None: a handler not set from Python; the default is the closest to it.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def wants_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON output (read from the words themselves, since
    a failure may come before, or from, parsing them)."""
    words = args[: args.index("--")] if "--" in args else args
    for i, word in enumerate(words):
        if word == "--json" or word == "--format=json":
            return True
        if word == "--format" and i + 1 < len(words) and words[i + 1] == "json":
            return True
    return False


def _fail(args: list[str], problems: list[Diagnostic], code: int) -> int:
    """Report a failure that came before any product: lines on stderr, and under --json the
    one JSON document stdout owes its reader."""
    for problem in problems:
        output.error(str(problem))
    if wants_json(args):
        document = {"format_version": 1, "errors": [p.data() for p in problems]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        sys.stdout.flush()
    return code


def _run(args: list[str]) -> int:
    try:
        result: Any = app(args=args, prog_name="provision", standalone_mode=False)
    except typer.Exit as e:
        return int(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _fail(args, [Diagnostic("interrupted")], EXIT_INTERRUPTED)
    except Stopped as e:
        return _fail(args, [Diagnostic(e.message)], e.exit_code)
    except ConfigError as e:
        return _fail(args, e.diagnostics, e.exit_code)
    except ProvisionError as e:
        return _fail(args, [Diagnostic(line) for line in str(e).splitlines()], e.exit_code)
    except Exception as e:
        if _is_cli_error(e):  # bad flags or arguments: Click's UsageError family
            code = EXIT_USAGE if _is_usage_error(e) else EXIT_ERROR
            if not wants_json(args):
                e.show()  # type: ignore[attr-defined]
                return code
            return _fail(args, [Diagnostic(e.format_message())], code)  # type: ignore[attr-defined]
        if os.environ.get("PROVISION_DEBUG"):
            raise
        # The last resort: one line, never a traceback (nor a value: they never format).
        message = f"internal error: {type(e).__name__} (set PROVISION_DEBUG=1 for details)"
        return _fail(args, [Diagnostic(message)], EXIT_ERROR)
    return int(result) if isinstance(result, int) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (tests call this directly)."""
    args = sys.argv[1:] if argv is None else argv
    from typer._completion_classes import completion_init

    completion_init()  # Typer's completion classes answer _PROVISION_COMPLETE=complete_SHELL
    with _signals_stop_the_run():
        try:
            return _run(args)
        except Stopped as e:  # arrived while another failure was being reported: it wins
            return _fail(args, [Diagnostic(e.message)], e.exit_code)


def entry() -> None:
    code = main()
    if code in STOP_EXIT_CODES:
        # Stopped by a signal, the report printed and the state saved: a read-back abandoned
        # at a hard stop may still be waiting on GitHub. It only reads and records nothing any
        # more, so it must not hold the exit (the interpreter would join it first).
        with suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "UsageError", "app", "entry", "main"]
