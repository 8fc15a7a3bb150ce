"""The state under an S3 prefix (or an S3-compatible store through ``AWS_ENDPOINT_URL``).

As Terraform's S3 backend since 1.10, a lock is an object ``<shard>.lock`` created with
``If-None-Match: *``; unlike it, the lock is released with a conditional delete on its own
ETag (a broken and re-taken lock is never removed by the run that lost it), and the shard is
written with ``If-Match`` on the ETag read, so a run whose lock was broken can never overwrite
a newer state. S3 answers 409 ``ConditionalRequestConflict`` when two conditional requests
race: those are retried. The client comes from the AWS owner module's seam; boto3 is imported
only when a state is on S3.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Final, TypeVar

from provisioner.errors import StateError
from provisioner.state.backend import Conflict, Holder, LockHeld, Notify

LOCK_SUFFIX: Final = ".lock"
CONFLICT_RETRIES: Final = 5
POLL_SECONDS: Final = 0.5
T = TypeVar("T")


def parse_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX/`` -> (bucket, prefix ending in ``/`` or empty)."""
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StateError(f"{url}: an S3 state is s3://BUCKET/PREFIX/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _code(e: Exception) -> str:
    response: Any = getattr(e, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Lock:
    def __init__(self, backend: S3Backend, key: str, etag: str, holder: Holder) -> None:
        self._backend, self._key, self._etag, self.holder = backend, key, etag, holder

    def release(self) -> None:
        """Delete the lock only if it is still ours (its ETag): a broken lock re-taken by
        another run stays that run's."""
        self._backend.release(self._key, self._etag)


class S3Backend:
    def __init__(self, url: str, client: Any) -> None:
        self.where = url
        self.bucket, self.prefix = parse_url(url)
        self._s3 = client

    @classmethod
    def open(cls, url: str) -> S3Backend:
        from provisioner.sources.aws import Aws

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return cls(url, Aws().make_client("s3", region or "us-east-1"))

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _call(self, what: str, operation: str, **params: Any) -> Any:
        """One S3 call; 409 ConditionalRequestConflict is retried with back-off."""
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return getattr(self._s3, operation)(Bucket=self.bucket, **params)
            except ClientError as e:
                if _code(e) == "ConditionalRequestConflict" and attempt < CONFLICT_RETRIES:
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise
            except BotoCoreError as e:
                raise StateError(f"{what}: {e}") from None
        raise AssertionError("unreachable")

    def _guard(self, what: str, fn: Callable[[], T]) -> T:
        from botocore.exceptions import ClientError

        try:
            return fn()
        except ClientError as e:
            raise _error(what, e) from None

    def _listed(self) -> list[str]:
        """Every object key under the prefix (relative to it), all pages."""

        def listing() -> list[str]:
            found: list[str] = []
            token: dict[str, str] = {}
            while True:
                page = self._call(self.where, "list_objects_v2", Prefix=self.prefix, **token)
                found += [str(item["Key"])[len(self.prefix) :] for item in page.get("Contents", [])]
                if not page.get("IsTruncated"):
                    return found
                token = {"ContinuationToken": page["NextContinuationToken"]}

        return self._guard(self.where, listing)

    def keys(self) -> list[str]:
        return sorted(k for k in self._listed() if k.endswith(".json") and k.count("/") == 1)

    def read(self, key: str) -> tuple[str, str] | None:
        from botocore.exceptions import ClientError

        what = self.describe(key)
        try:
            answer = self._call(what, "get_object", Key=self.prefix + key)
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404"):
                return None
            raise _error(what, e) from None
        body = answer["Body"].read()
        try:
            return body.decode("utf-8"), str(answer["ETag"])
        except UnicodeDecodeError:
            raise StateError(f"{what}: the state is damaged (not UTF-8)") from None

    def write(self, key: str, text: str, version: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
        return self._put(self.prefix + key, text, condition)

    def _put(self, full_key: str, text: str, condition: dict[str, str]) -> str:
        from botocore.exceptions import ClientError

        what = f"s3://{self.bucket}/{full_key}"
        try:
            answer = self._call(what, "put_object", Key=full_key, Body=text.encode(), **condition)
        except ClientError as e:
            if _code(e) in ("PreconditionFailed", "NoSuchKey", "412"):
                raise Conflict(f"{what}: changed since this run read it") from None
            raise _error(what, e) from None
        return str(answer["ETag"])

    def delete(self, key: str, version: str) -> None:
        self._delete(self.prefix + key, version)

    def _delete(self, full_key: str, etag: str) -> None:
        from botocore.exceptions import ClientError

        what = f"s3://{self.bucket}/{full_key}"
        try:
            self._call(what, "delete_object", Key=full_key, IfMatch=etag)
        except ClientError as e:
            if _code(e) in ("PreconditionFailed", "NoSuchKey", "412", "404"):
                raise Conflict(f"{what}: changed since this run read it") from None
            raise _error(what, e) from None

    def _holder(self, key: str) -> tuple[Holder | None, str] | None:
        from botocore.exceptions import ClientError

        what = self.describe(key) + LOCK_SUFFIX
        try:
            answer = self._call(what, "get_object", Key=self.prefix + key + LOCK_SUFFIX)
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404"):
                return None
            raise _error(what, e) from None
        return Holder.parse(answer["Body"].read()), str(answer["ETag"])

    def lock(self, key: str, holder: Holder, timeout: float, notify: Notify | None) -> S3Lock:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                etag = self._put(
                    self.prefix + key + LOCK_SUFFIX, holder.text(), {"IfNoneMatch": "*"}
                )
                return S3Lock(self, key, etag, holder)
            except Conflict:
                held = self._holder(key)
                other = held[0] if held else None
            if held is None:
                continue  # released between our put and our read: try again at once
            if time.monotonic() >= deadline:
                raise LockHeld(key, other, waited=timeout)
            if not told and notify is not None:
                notify(other)
                told = True
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def release(self, key: str, etag: str) -> None:
        # Broken (and perhaps re-taken) by someone else: theirs now, never ours to drop.
        with suppress(Conflict):
            self._delete(self.prefix + key + LOCK_SUFFIX, etag)

    def holders(self) -> dict[str, Holder | None]:
        locks = [
            k[: -len(LOCK_SUFFIX)] for k in self._listed() if k.endswith(".json" + LOCK_SUFFIX)
        ]
        found: dict[str, Holder | None] = {}
        for key in locks:
            held = self._holder(key)
            if held is not None:
                found[key] = held[0]
        return found

    def force_unlock(self, key: str, lock_id: str) -> None:
        held = self._holder(key)
        if held is None or held[0] is None or held[0].lock_id != lock_id:
            raise StateError(f"{self.describe(key)}{LOCK_SUFFIX}: no lock with ID {lock_id}")
        try:
            self._delete(self.prefix + key + LOCK_SUFFIX, held[1])
        except Conflict:
            raise StateError(
                f"{self.describe(key)}{LOCK_SUFFIX}: the lock changed while unlocking; "
                "look again (provision state list)"
            ) from None


def _error(what: str, e: Exception) -> StateError:
    """One line for an S3 error: where, S3's code and message (never a body)."""
    response: Any = getattr(e, "response", None) or {}
    message = str(response.get("Error", {}).get("Message", ""))
    return StateError(f"{what}: S3 said {_code(e) or 'error'} {message}".rstrip())
