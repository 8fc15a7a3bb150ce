"""Retries: PyGithub's ``GithubRetry`` (urllib3 ``Retry``), configured and bounded per run.

What is retried (every request this tool makes is an idempotent GET, PUT or DELETE, so a
retry can never duplicate or half-apply a secret):

- 5xx answers, a ``202 Accepted`` to a GET (GitHub still computing), failed connections and
  answers that did not come whole (timed out, or cut off): exponential back-off with jitter,
  ``backoff * 2**(n-1)`` (1, 2, 4, ... s by default), each wait at most ``cap``;
- 429 and secondary-rate-limit 403: ``Retry-After`` when GitHub sends it; else, with
  ``x-ratelimit-remaining: 0``, until ``x-ratelimit-reset`` (+1 s); else at least ``floor``
  (GitHub asks for one minute), doubling on each further refusal;
- anything else (a permission 403, a 404, a 422) is not retried.

Every wait of the run draws on one :class:`WaitBudget` (``--max-wait``): a wait that would
overdraw it is not waited; the request fails at once with :class:`WaitLimitExceeded`, naming
the limit and, for a primary rate limit, when it resets. The time an attempt spent waiting
for an answer that never came draws on it too, and no attempt may take longer than the
budget has left (but at least ``ANSWER_GRACE``): :mod:`.transport` runs the attempts.

Why a subclass of ``GithubRetry`` and not just its parameters: it retries 429 only with a
``Retry-After`` header and ignores ``x-ratelimit-reset`` there; it reads the primary limit from
the message, not from ``x-ratelimit-remaining``; its secondary-limit wait is flat, not
exponential; its ``max_rate_limit_wait`` bounds one wait, not the run's total, and does not
apply to ``Retry-After`` at all; and its sleeps cannot be interrupted by Ctrl-C during apply.
Its message-based recognition of header-less secondary limits on 403 is kept as it is.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import takewhile
from types import TracebackType
from typing import Any, Final

from github import GithubRetry
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import ProtocolError
from urllib3.response import BaseHTTPResponse, HTTPResponse
from urllib3.util.retry import Retry

from provisioner.errors import UsageError

log = logging.getLogger("provisioner.github")

DEFAULT_MAX_WAIT: Final = 900.0
ANSWER_GRACE: Final = 5.0
"""Least time an attempt is given for its answer, however little of the budget is left."""
RATE_LIMITED: Final = frozenset({403, 429})
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE"})
SAFE: Final = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class RetryPolicy:
    """The numbers of the retry policy (README "Reliability")."""

    retries: int = 8
    """Retries per request after the first attempt (9 attempts in all)."""
    connect_retries: int = 3
    """Of those, at most this many for a refused or failed connection (a wrong URL fails fast)."""
    read_retries: int = 3
    """And at most this many for an answer that did not come whole (timed out, or broken)."""
    floor: float = 60.0
    """Least wait after a rate-limit answer that names no time (GitHub asks for a minute)."""
    backoff: float = 1.0
    """First wait after a 5xx or connection failure; doubles on each retry."""
    cap: float = 300.0
    """Most any computed back-off waits (a Retry-After or a rate-limit reset may be longer)."""
    jitter: float = 1.0
    """Up to this many seconds added at random to computed back-offs."""
    max_wait: float = DEFAULT_MAX_WAIT
    """Most the whole run waits on retries, in total (``--max-wait``)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """Defaults, with ``PROVISION_RETRY_FLOOR`` (seconds) for fast tests and demos.

        A floor below the 5xx back-off or the jitter lowers those too, so that a tiny floor
        makes every computed wait tiny.
        """
        env = os.environ if environ is None else environ
        raw = env.get("PROVISION_RETRY_FLOOR", "").strip()
        if not raw:
            return cls()
        try:
            floor = float(raw)
        except ValueError:
            floor = -1.0
        if not floor >= 0:
            raise UsageError(f"PROVISION_RETRY_FLOOR={raw!r} is not a number of seconds >= 0")
        policy = cls()
        return replace(
            policy,
            floor=floor,
            backoff=min(policy.backoff, floor),
            jitter=min(policy.jitter, floor),
        )


class WaitLimitExceeded(Exception):
    """Waiting more would overdraw the run's ``--max-wait``: the request gives up at once."""

    @classmethod
    def over(cls, reason: str, wait: float, budget: WaitBudget) -> WaitLimitExceeded:
        if budget.spent >= budget.limit:  # nothing left: "more would exceed" reads oddly
            return cls(
                f"{reason}; gave up waiting: --max-wait {seconds(budget.limit)} is spent "
                f"(already waited {seconds(budget.spent)})"
            )
        return cls(
            f"{reason}; gave up waiting: {seconds(wait)} more would exceed --max-wait "
            f"{seconds(budget.limit)} (already waited {seconds(budget.spent)})"
        )


class RetryInterrupted(Exception):
    """The run was interrupted (Ctrl-C during apply) while waiting to retry."""


class WaitBudget:
    """The run's total retry wait, shared by every request and thread; interruptible sleeps."""

    def __init__(self, limit: float = DEFAULT_MAX_WAIT, grace: float = ANSWER_GRACE) -> None:
        self.limit = limit
        self.grace = grace
        self.spent = 0.0
        self.stalled = False
        """An attempt timed out: GitHub (or the way to it) has stopped answering."""
        self.cancelled = threading.Event()
        self.notify: Callable[[str], None] | None = None
        """Told of each wait before it starts (the CLI prints it on stderr)."""
        self._lock = threading.Lock()
        self._local = threading.local()

    def reserve(self, wait: float, reason: str) -> None:
        with self._lock:
            if self.spent + wait > self.limit:
                raise WaitLimitExceeded.over(reason, wait, self)
            self.spent += wait

    def charge(self, elapsed: float, *, timed_out: bool = False) -> None:
        """Time an attempt spent waiting for an answer that never came counts as waiting."""
        with self._lock:
            self.spent += max(elapsed, 0.0)
            self.stalled = self.stalled or timed_out

    def attempt_limit(self, deadline: float) -> float:
        """How long the next attempt may take: ``deadline``, cut to what the budget has left.

        Never below ``grace``: a request must be able to get a prompt answer even when the
        budget is spent (``--max-wait 0`` means "never wait to retry", not "never ask"). But
        once the budget is spent and an attempt has timed out, GitHub is not answering: no
        further attempt is made (:class:`WaitLimitExceeded`), so the run overdraws its
        ``--max-wait`` by at most one grace per request in flight, not one per request left.
        """
        with self._lock:
            left, stalled = self.limit - self.spent, self.stalled
        if stalled and left <= 0:
            raise WaitLimitExceeded(
                f"not sent: an earlier request timed out and --max-wait {seconds(self.limit)} "
                f"is spent (already waited {seconds(self.spent)})"
            )
        return min(deadline, max(left, self.grace))

    def sleep(self, wait: float) -> None:
        if wait > 0 and self.cancelled.wait(wait):
            raise RetryInterrupted("interrupted while waiting to retry")
        if self.cancelled.is_set():
            raise RetryInterrupted("interrupted while waiting to retry")

    # Per-thread record of the request in progress, for error messages.
    def begin(self) -> None:
        self._local.retries = 0
        self._local.reason = ""

    def note(self, reason: str) -> None:
        self._local.retries = getattr(self._local, "retries", 0) + 1
        self._local.reason = reason

    def retries(self) -> int:
        return int(getattr(self._local, "retries", 0))


def seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.3g}s"


def describe(error: Exception | None) -> str:
    """Why an attempt got no answer, in a few words (never a URL, header or body)."""
    why = getattr(error, "why", None)
    if isinstance(why, str):
        return why
    if isinstance(error, ProtocolError):
        inner = error.args[1] if len(error.args) > 1 else error
        return f"the connection broke before the answer was complete ({type(inner).__name__})"
    return f"connection failed ({type(error).__name__})"


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)
    return str(value).strip() if value is not None else None


def rate_limit_wait(status: int, headers: Any, now: float) -> tuple[float, str] | None:
    """For a 403/429: the wait GitHub's headers ask for, and why; None if they name none."""
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None and retry_after.isdigit():
        return float(
            retry_after
        ), f"GitHub's secondary rate limit ({status}, Retry-After {retry_after}s)"
    remaining = _header(headers, "X-RateLimit-Remaining")
    reset = _header(headers, "X-RateLimit-Reset")
    if remaining == "0" and reset is not None and reset.isdigit():
        at = datetime.fromtimestamp(int(reset), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        limit = _header(headers, "X-RateLimit-Limit") or "?"
        resource = _header(headers, "X-RateLimit-Resource") or "core"
        why = f"GitHub's primary rate limit ({limit} {resource} requests per hour) resets at {at}"
        return max(int(reset) - now, 0.0) + 1.0, why
    return None


class BudgetedRetry(GithubRetry):
    """``GithubRetry`` with the policy above and one shared :class:`WaitBudget` per run."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        budget: WaitBudget | None = None,
        next_wait: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.budget = budget or WaitBudget(self.policy.max_wait)
        self.next_wait = next_wait
        p = self.policy
        kwargs.setdefault("total", p.retries)
        kwargs.setdefault("connect", min(p.connect_retries, p.retries))
        kwargs.setdefault("read", min(p.read_retries, p.retries))
        # 202: GitHub is still computing the answer (PyGithub would re-ask forever).
        kwargs.setdefault("status_forcelist", [202, 429, *range(500, 600)])
        kwargs.setdefault("allowed_methods", IDEMPOTENT)
        kwargs.setdefault("backoff_factor", p.backoff)
        kwargs.setdefault("backoff_max", p.cap)
        kwargs.setdefault("backoff_jitter", p.jitter)
        # The last answer is returned rather than MaxRetryError, so the error names its status.
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("secondary_rate_wait", p.floor)
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> BudgetedRetry:
        kw.setdefault("policy", self.policy)
        kw.setdefault("budget", self.budget)
        kw.setdefault("next_wait", None)
        retry: BudgetedRetry = super().new(**kw)
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 202:  # a write GitHub accepted is done: only a read asks again
            return method.upper() in SAFE and status_code in (self.status_forcelist or ())
        return super().is_retry(method, status_code, has_retry_after)

    def get_backoff_time(self) -> float:
        """Exponential from ``backoff`` (5xx) or ``floor`` (rate limits), capped, jittered."""
        errors = list(takewhile(lambda h: h.redirect_location is None, reversed(self.history)))
        if not errors:
            return 0.0
        p = self.policy
        limited = errors[0].status in RATE_LIMITED
        base = p.floor if limited else p.backoff
        value = min(p.cap, base * 2 ** (len(errors) - 1)) if base > 0 else 0.0
        return max(0.0, value + random.random() * p.jitter) if value > 0 else 0.0

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: HTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Retry:
        asked: tuple[float, str] | None = None
        if response is not None and response.status in RATE_LIMITED:
            asked = rate_limit_wait(response.status, response.headers, time.time())
        base: Retry
        if asked is not None:
            # The headers say how long: skip GithubRetry's message-based guess.
            base = Retry.increment(self, method, url, response, error, _pool, _stacktrace)
        else:
            # 5xx, connection errors, 429 without headers, and a 403 whose message
            # GithubRetry inspects (a secondary limit is retried, anything else raised).
            base = super().increment(method, url, response, error, _pool, _stacktrace)
        assert isinstance(base, BudgetedRetry)
        retry = base
        if asked is not None:
            wait, reason = asked
        else:
            wait = retry.get_backoff_time()
            status = response.status if response is not None else None
            if status in RATE_LIMITED:
                reason = f"GitHub's secondary rate limit ({status}, no Retry-After)"
            elif status == 202:
                reason = "GitHub answered 202 Accepted (still processing)"
            elif status is not None:
                reason = f"GitHub answered {status}"
            else:
                reason = describe(error)
        self.budget.reserve(wait, reason)
        self.budget.note(reason)
        log.info("%s %s: %s; retrying in %.1fs", method, url, reason, wait)
        if self.budget.notify is not None:
            path = (url or "").split("?", 1)[0]
            self.budget.notify(f"{method} {path}: {reason}; retrying in {seconds(wait)}")
        retry.next_wait = wait
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        self.budget.sleep(self.next_wait if self.next_wait is not None else 0.0)


def make_retry(policy: RetryPolicy | None = None) -> BudgetedRetry:
    """A fresh retry (with a fresh budget) for one client."""
    return BudgetedRetry(policy or RetryPolicy.from_env())
