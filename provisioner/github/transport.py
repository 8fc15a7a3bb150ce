"""The transport under PyGithub: each attempt within a deadline, retried in one loop, no loops.

PyGithub's requester sends every request through a ``requests`` session; :func:`install`
mounts :class:`BoundedAdapter` on it. Why an adapter of our own rather than urllib3's retry
loop: requests reads the body only after urllib3 has returned, outside its retries, so a
connection dropped mid-body was never retried, and a body trickling in byte by byte was never
timed out (a socket timeout bounds each read, not their sum). Here one attempt is the
connection, the headers and the whole body, under one deadline cut to what the run's
``--max-wait`` has left (:meth:`.retry.WaitBudget.attempt_limit`); the policy
(:class:`.retry.BudgetedRetry`, urllib3's ``Retry`` API) decides between attempts, and the
time a failed attempt waited is drawn from the budget.

Also bounded here, because PyGithub loops on them unboundedly: a ``301`` chain that comes
back to a path it already visited, and ``202 Accepted`` answers to a GET (PyGithub re-asks
every 2 s, forever). A header section that trickles is bounded per read only (the socket
timeout), not in total: requests gives no hold on the socket before the headers are in.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import requests
from github.Requester import (
    HTTPRequestsConnectionClass,
    HTTPSRequestsConnectionClass,
    Requester,
    RequestsResponse,
)
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    MaxRetryError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.response import HTTPResponse
from urllib3.util.retry import Retry

from provisioner.github.retry import SAFE, BudgetedRetry, describe, seconds

DEFAULT_DEADLINE: Final = 30.0
MAX_REDIRECTS: Final = 5
"""Most 301s followed in a row (GitHub redirects a renamed repository once)."""
CHUNK: Final = 65536


class DeadlineExceeded(ReadTimeoutError):
    """No complete answer within the attempt's deadline: retried like a read timeout."""

    def __init__(self, limit: float) -> None:
        self.why = f"no complete answer within {seconds(limit)}"
        super().__init__(None, None, self.why)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.why


class TransportFailure(Exception):
    """A request that failed for good below HTTP's level; the message is one line, no data."""


class BoundedAdapter(HTTPAdapter):
    """Sends each request as attempts bounded in time, retried per a :class:`BudgetedRetry`."""

    def __init__(self, retry: BudgetedRetry, deadline: float, pool_size: int) -> None:
        # urllib3 makes single attempts (total=False: its errors are raised as they are);
        # the loop in send() does the retrying, body included.
        super().__init__(
            max_retries=Retry(total=False, redirect=False),
            pool_connections=pool_size,
            pool_maxsize=pool_size,
        )
        self.retry = retry
        self.deadline = deadline
        self._redirects = threading.local()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        try:
            return self._send(request, verify, cert, dict(proxies) if proxies else None)
        except BaseException:
            self._redirects.chain = []  # the redirect chain, if any, ends here
            raise

    def _send(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: Any,
        proxies: dict[str, str] | None,
    ) -> requests.Response:
        method, url = (request.method or "GET").upper(), request.url or ""
        retry = self.retry
        while True:
            start = time.monotonic()
            limit = retry.budget.attempt_limit(self.deadline)
            try:
                response = self._attempt(request, limit, verify, cert, proxies)
            except (HTTPError, requests.ConnectionError, requests.Timeout) as e:
                error = _cause(e, limit)
                timed_out = isinstance(error, ReadTimeoutError | ConnectTimeoutError)
                retry.budget.charge(time.monotonic() - start, timed_out=timed_out)  # waited
                retry = _next(retry, method, url, error)
                retry.sleep()
                continue
            status = response.status_code
            if retry.is_retry(method, status, bool(response.headers.get("Retry-After"))):
                try:
                    retry = _policy(retry.increment(method, url, response=_for_policy(response)))
                except MaxRetryError:  # out of retries: the last answer is the answer
                    return self._checked(request, response)
                retry.sleep()
                continue
            return self._checked(request, response)

    def _attempt(
        self,
        request: requests.PreparedRequest,
        limit: float,
        verify: bool | str,
        cert: Any,
        proxies: dict[str, str] | None,
    ) -> requests.Response:
        """Connection, headers and the whole body, within ``limit`` seconds."""
        deadline = time.monotonic() + limit
        response = super().send(
            request, stream=True, timeout=(limit, limit), verify=verify, cert=cert, proxies=proxies
        )
        try:
            body = _read_body(response.raw, deadline, limit)
            response._content = _decoded(response.raw, body)
        except BaseException:
            response.raw.close()  # never back to the pool with half an answer in it
            response.raw.release_conn()
            raise
        response._content_consumed = True
        response.raw.release_conn()
        return response

    def _checked(
        self, request: requests.PreparedRequest, response: requests.Response
    ) -> requests.Response:
        """The final answer; errors for the answers PyGithub would loop on."""
        if response.status_code == 202 and (request.method or "").upper() in SAFE:
            raise TransportFailure("GitHub kept answering 202 Accepted (still processing)")
        self._check_redirect(request, response)
        return response

    def _check_redirect(
        self, request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # PyGithub follows a 301 to the same host and scheme by its path, recursively and
        # without a limit: this thread's chain of paths so far says whether it came back.
        chain: list[str] = getattr(self._redirects, "chain", [])
        self._redirects.chain = []
        location = response.headers.get("Location")
        if response.status_code != 301 or not location:
            return
        target = urljoin(request.url or "", location)
        response.headers["Location"] = target  # PyGithub takes a relative one for another scheme
        here, there = urlsplit(request.url or ""), urlsplit(target)
        if (here.scheme, here.netloc) != (there.scheme, there.netloc):
            return  # PyGithub refuses it, and the client says why
        chain = [*chain, here.path]
        followed = len(chain) - 1
        if there.path in chain:
            plural = "redirect" if followed == 1 else "redirects"
            raise TransportFailure(
                f"redirect loop (followed {followed} {plural}, then back to {there.path})"
            )
        if followed >= MAX_REDIRECTS:
            raise TransportFailure(f"too many redirects (followed {followed})")
        self._redirects.chain = chain


def _read_body(raw: HTTPResponse, deadline: float, limit: float) -> bytes:
    """The whole body as sent (still encoded), one system call at a time, by the deadline."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(limit)
        # getattr: a replayed answer (vcrpy) has no connection.
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(remaining)  # so no single read outlasts the deadline either
        try:
            chunk = raw.read1(CHUNK)  # still encoded: requests opened it with decode_content=False
        except ReadTimeoutError:
            raise DeadlineExceeded(limit) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _decoded(raw: HTTPResponse, body: bytes) -> bytes:
    """The body as read, decoded per its Content-Encoding (as requests would have)."""
    try:
        return _over(raw, body, keep_encoding=True).read()
    except DecodeError:  # the same bytes again would not decode either: no retry
        raise TransportFailure("GitHub's answer does not decode per its Content-Encoding") from None


def _for_policy(response: requests.Response) -> HTTPResponse:
    """The answer again, for the policy to read (GithubRetry reads a 403's message)."""
    return _over(response.raw, response.content, keep_encoding=False)


def _over(raw: HTTPResponse, body: bytes, *, keep_encoding: bool) -> HTTPResponse:
    dropped = {"content-length", "transfer-encoding"} | (
        set() if keep_encoding else {"content-encoding"}
    )
    headers = {k: v for k, v in raw.headers.items() if k.lower() not in dropped}
    return HTTPResponse(
        body=io.BytesIO(body),
        headers=headers,
        status=raw.status,
        reason=raw.reason,
        preload_content=False,
        decode_content=True,
    )


def _cause(error: Exception, limit: float) -> Exception:
    """The urllib3 error under what requests raised (the policy classifies urllib3's errors)."""
    cause: Exception = error
    if isinstance(error, requests.RequestException) and error.args:
        inner = error.args[0]
        cause = inner if isinstance(inner, Exception) else error
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    if isinstance(cause, ReadTimeoutError) and not isinstance(cause, DeadlineExceeded):
        cause = DeadlineExceeded(limit)  # the socket timeout was the deadline
    return cause


def _next(retry: BudgetedRetry, method: str, url: str, error: Exception) -> BudgetedRetry:
    """The policy after a failed attempt; when it gives up, one error that says why."""
    try:
        following = _policy(retry.increment(method, url, error=error))
    except (MaxRetryError, HTTPError):
        if isinstance(error, ReadTimeoutError | ProtocolError):
            raise TransportFailure(describe(error)) from None
        if isinstance(error, SSLError):
            raise requests.exceptions.SSLError(error) from None
        raise requests.ConnectionError(error) from None  # the client: "cannot reach ..."
    return following


def _policy(retry: Retry) -> BudgetedRetry:
    assert isinstance(retry, BudgetedRetry)  # Retry.new() keeps the class
    return retry


class _Bounded:
    """PyGithub's connection, over :class:`BoundedAdapter`, and safe to share between threads.

    PyGithub's own keeps the request of ``request()`` on the shared object until
    ``getresponse()``: two threads in between swap their requests. Here it is per thread.
    """

    protocol: str
    host: str
    port: int
    timeout: int | None
    verify: bool | str
    session: requests.Session
    pool_size: int

    def _bound(self, retry: object) -> None:
        if not isinstance(retry, BudgetedRetry):
            raise TypeError("the client's requester must be given a BudgetedRetry")
        deadline = float(self.timeout or DEFAULT_DEADLINE)
        self.bounded = BoundedAdapter(retry, deadline, self.pool_size)
        self.session.mount(f"{self.protocol}://", self.bounded)
        self._pending = threading.local()

    def request(
        self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False
    ) -> None:
        self._pending.call = (verb, url, input, headers)

    def getresponse(self) -> RequestsResponse:
        verb, url, data, headers = self._pending.call
        host = f"[{self.host}]" if ":" in self.host else self.host  # PyGithub keeps IPv6 bare
        answer = self.session.request(
            verb,
            f"{self.protocol}://{host}:{self.port}{url}",
            headers=headers,
            data=data,
            timeout=self.timeout,
            verify=self.verify,
            allow_redirects=False,
        )
        return RequestsResponse(answer)


class BoundedHttp(_Bounded, HTTPRequestsConnectionClass):
    def __init__(self, host: str, port: int | None = None, **kwargs: Any) -> None:
        HTTPRequestsConnectionClass.__init__(self, host, port, **kwargs)
        self._bound(kwargs.get("retry"))


class BoundedHttps(_Bounded, HTTPSRequestsConnectionClass):
    def __init__(self, host: str, port: int | None = None, **kwargs: Any) -> None:
        HTTPSRequestsConnectionClass.__init__(self, host, port, **kwargs)
        self._bound(kwargs.get("retry"))


# PyGithub offers no per-instance seam for its connection class (injectConnectionClasses is
# process-wide and turns connection reuse off), so the instance's private attribute is set.
_CONNECTION_CLASS: Final = "_Requester__connectionClass"
_BOUNDED: Final[dict[type, type]] = {
    HTTPRequestsConnectionClass: BoundedHttp,
    HTTPSRequestsConnectionClass: BoundedHttps,
}


def install(requester: Requester) -> None:
    """Send this requester's requests (not another's) through :class:`BoundedAdapter`."""
    current = getattr(requester, _CONNECTION_CLASS, None)
    bounded = _BOUNDED.get(current) if isinstance(current, type) else None
    if bounded is None:
        raise RuntimeError("PyGithub's Requester changed: its connection class is not known")
    setattr(requester, _CONNECTION_CLASS, bounded)
