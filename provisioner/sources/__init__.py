"""Value sources: where each credential comes from (env, file, command, AWS).

A :class:`Resolver` turns a config :data:`~provisioner.config.Value` into a
:class:`~provisioner.secret.SecretValue`, lazily and at most once per run per source. Readers
are looked up by the source's type, so AWS (and the ECR token) plug in by registering a
reader, without touching any caller. Whatever the reader, an empty or whitespace-only value
is an error here (an expired helper printing nothing must never overwrite a working
password), and a command never sees the tool's GitHub credentials.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO

from provisioner import output
from provisioner.config import (
    CommandSource,
    EnvSource,
    FileSource,
    Literal,
    SecretsManagerSource,
    SsmSource,
)
from provisioner.errors import SourceError
from provisioner.printable import printable
from provisioner.secret import SecretValue
from provisioner.sources import process

MAX_SOURCE_BYTES: Final = 1024 * 1024
"""No value source may produce more than 1 MiB (GitHub's limit is 48 KB anyway)."""

GITHUB_CREDENTIALS: Final = frozenset(
    {"GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"}
)
"""Environment variables holding the tool's GitHub credentials: never passed to a command."""
GITHUB_CREDENTIAL_PREFIX: Final = "GITHUB_APP_PRIVATE_KEY"
"""...and every variable starting so (the key itself, ``_FILE``, and any variant)."""
STDERR_TAIL: Final = 2000
"""How much of a command's stderr an error shows (its end: where the reason usually is)."""


@dataclass(frozen=True)
class Read:
    """What a reader produced, when it knows more than the text.

    ``expires_at``: when the value stops working (an ECR token), aware; ``stderr``: what a
    command said besides its value, shown if the value turns out to be unusable. The text is
    plaintext: kept out of ``repr`` (a traceback's locals) like a SecretValue's.
    """

    text: str = field(repr=False)
    expires_at: datetime | None = None
    stderr: str = ""


Reader = Callable[[Any], "str | Read"]


@dataclass(frozen=True)
class EcrTokenPart:
    """One part (SERVER, USER, PASSWORD) of an ECR authorization token, minted by AWS."""

    region: str | None
    registry_id: str | None
    part: str


@dataclass(frozen=True)
class SwapKeyId:
    """The USER source of an ``ecr.mode: swap`` registry: an AWS access key ID.

    Read like its ``source``; a key ID of temporary credentials (``ASIA``) gets a warning,
    since GitHub's credential swap has no session token. The value itself is never shown.
    """

    registry: str
    source: object


def describe(source: object) -> str:
    """A short, value-free description of a source for error messages."""
    if isinstance(source, Literal):
        return "a literal value"
    if isinstance(source, EnvSource):
        return f"env {source.env}"
    if isinstance(source, FileSource):
        return f"file {source.file}"
    if isinstance(source, CommandSource):
        return f"command {source.command[0]!r}"
    if isinstance(source, SecretsManagerSource):
        return f"aws_secretsmanager {source.aws_secretsmanager}"
    if isinstance(source, SsmSource):
        return f"aws_ssm {source.aws_ssm}"
    if isinstance(source, EcrTokenPart):
        return f"ECR authorization token ({source.region or 'default region'})"
    if isinstance(source, SwapKeyId):
        return describe(source.source)
    return type(source).__name__


class Resolver:
    """Reads value sources on demand and remembers each result for the rest of the run."""

    def __init__(
        self,
        base_dir: Path,
        environ: Mapping[str, str] | None = None,
        readers: Mapping[type, Reader] | None = None,
        mask_stream: TextIO | None = None,
    ) -> None:
        """``mask_stream``: where GitHub Actions' ``::add-mask::`` commands go (stdout by
        default; stderr under ``--json``, so that stdout stays one JSON document)."""
        self._base_dir = base_dir
        self._mask_stream = mask_stream
        self._environ = dict(os.environ if environ is None else environ)
        self._readers: dict[type, Reader] = {
            EnvSource: self._read_env,
            FileSource: self._read_file,
            CommandSource: self._read_command,
            SecretsManagerSource: _aws_not_configured,
            SsmSource: _aws_not_configured,
            EcrTokenPart: _aws_not_configured,
            SwapKeyId: self._read_swap_key_id,
        }
        self._readers.update(readers or {})
        self._cache: dict[object, SecretValue | SourceError] = {}
        self._expiry: dict[object, datetime] = {}
        self.reads = 0
        """How many sources were actually read (tests assert laziness with it)."""

    def register(self, source_type: type, reader: Reader) -> None:
        """Plug in a reader for another kind of source (AWS, ECR tokens)."""
        self._readers[source_type] = reader

    def resolve(self, value: object) -> SecretValue:
        """The value of a literal or a source; each source is read at most once per run."""
        if isinstance(value, Literal):
            return SecretValue(value.value)
        cached = self._cache.get(value)
        if cached is None:
            cached = self._read(value)
            self._cache[value] = cached
        if isinstance(cached, SourceError):
            raise cached
        return cached

    def expires_at(self, source: object) -> datetime | None:
        """When the value an already-resolved source produced stops working (aware), if the
        source knows it (an ECR token's PASSWORD); None for any other or a source not read."""
        return self._expiry.get(source)

    def _read(self, source: object) -> SecretValue | SourceError:
        reader = self._readers.get(type(source))
        if reader is None:
            return SourceError(f"{describe(source)}: no reader for this kind of source")
        self.reads += 1
        try:
            produced = reader(source)
            read = produced if isinstance(produced, Read) else Read(produced)
            text = read.text
            key = getattr(source, "key", None)
            if key is not None:
                text = _select_key(text, key, source)
            _check_not_empty(text, source, key, read.stderr)
        except SourceError as e:
            return e
        if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
            return SourceError(f"{describe(source)}: value is larger than {MAX_SOURCE_BYTES} bytes")
        value = SecretValue(text)
        if output.in_github_actions(self._environ):
            output.mask(value, self._mask_stream)
        if read.expires_at is not None:
            self._expiry[source] = read.expires_at
        return value

    def _read_swap_key_id(self, source: SwapKeyId) -> str:
        text = self.resolve(source.source).reveal()
        if text.startswith("ASIA"):
            output.warn(
                f"registry {source.registry} (ecr.mode: swap): the access key ID starts with "
                "ASIA: temporary credentials expire and GitHub's credential swap has no "
                "session token; use a long-lived IAM user key (AKIA...)"
            )
        return text

    def _read_env(self, source: EnvSource) -> str:
        text = self._environ.get(source.env, "")
        if not text:
            raise SourceError(f"env {source.env}: the environment variable is unset or empty")
        return text

    def _read_file(self, source: FileSource) -> str:
        path = Path(os.path.expanduser(source.file))
        if not path.is_absolute():
            path = self._base_dir / path
        try:
            # Non-blocking open, then a regular-file check: a FIFO or device must not hang
            # the run (it would wait for a writer forever).
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise SourceError(f"file {path}: not a regular file")
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_SOURCE_BYTES + 1)
        except OSError as e:
            raise SourceError(f"file {path}: cannot read: {e.strerror or e}") from None
        if len(data) > MAX_SOURCE_BYTES:
            raise SourceError(f"file {path}: larger than {MAX_SOURCE_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"file {path}: not UTF-8 text") from None
        return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text

    def _read_command(self, source: CommandSource) -> Read:
        argv = [os.path.expanduser(a) for a in source.command]
        what = f"command {argv[0]!r}"
        env = command_environment(self._environ)
        try:
            # Read as it comes, killed past the cap or the timeout (bounded memory and time).
            done = process.run(argv, self._base_dir, source.timeout, MAX_SOURCE_BYTES, env=env)
        except FileNotFoundError:
            raise SourceError(f"{what}: program not found") from None
        except PermissionError:
            raise SourceError(f"{what}: not executable") from None
        except process.CommandTimeout:
            raise SourceError(f"{what}: timed out after {source.timeout:g}s") from None
        except process.CommandOutputTooLarge:
            raise SourceError(
                f"{what}: printed more than {MAX_SOURCE_BYTES} bytes; stopped it"
            ) from None
        except OSError as e:
            raise SourceError(f"{what}: cannot run: {e.strerror or e}") from None
        stderr = printable(done.stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:])
        if done.returncode != 0:
            detail = f": {stderr}" if stderr else ""
            raise SourceError(f"{what} exited with status {done.returncode}{detail}")
        try:
            return Read(done.stdout.decode("utf-8").strip(), stderr=stderr)
        except UnicodeDecodeError:
            raise SourceError(f"{what}: output is not UTF-8 text") from None


def command_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the tool's GitHub credentials: a value source's program (a token
    helper, a script from the config's repository) has no business with them."""
    return {
        name: value
        for name, value in environ.items()
        if name not in GITHUB_CREDENTIALS and not name.startswith(GITHUB_CREDENTIAL_PREFIX)
    }


def _check_not_empty(text: str, source: object, key: str | None, stderr: str) -> None:
    """An empty or whitespace-only value is an error from every source (README: reliability):
    writing it would replace a working credential with nothing."""
    if text.strip():
        return
    where = describe(source) + (f" key {key!r}" if key is not None else "")
    kind = "empty" if not text else "whitespace only"
    detail = f"; its stderr: {stderr}" if stderr else ""
    raise SourceError(f"{where}: the value is {kind}{detail}")


def _aws_not_configured(source: object) -> str:
    # factory.make_resolver registers the AWS readers whenever a config uses AWS.
    raise SourceError(f"{describe(source)}: no AWS reader registered for this run")


def _select_key(text: str, key: str, source: object) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        raise SourceError(
            f"{describe(source)}: value is not JSON, cannot select key {key!r}"
        ) from None
    if not isinstance(document, dict) or key not in document:
        raise SourceError(f"{describe(source)}: JSON value has no key {key!r}")
    selected = document[key]
    if not isinstance(selected, str):
        raise SourceError(f"{describe(source)}: key {key!r} is not a string")
    return selected
