"""BaseClient: every outbound call has a timeout, is classified into the error family, is counted,
and is logged without secrets (no query strings, no auth headers).

Transport failures (requests/urllib3 exceptions, whose text holds the full URL with its query string —
TikTok's token calls carry app_secret and auth_code there) are turned into a connector error carrying a
redacted one-line description and NO __cause__/__context__: the original exception object never reaches
a traceback, a log handler or the DEBUG page."""
from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import requests
import requests.adapters
import urllib3.exceptions
from urllib.parse import urlsplit
from django.conf import settings

from integrations.exceptions import AuthError, ConnectorError, NotSentError, PermanentError, RateLimitedError, TransientError
from integrations.redaction import describe, redact, secrets_register, secrets_register_params

logger = logging.getLogger("integrations.http")


class NetworkDisabledError(RuntimeError):
    """Raised when INTEGRATIONS_ALLOW_NETWORK is false (tests) and nothing intercepted the call."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now if now is not None else time.time()
    return max(0.0, when.timestamp() - now)


@dataclass
class CallCounter:
    """Counts API calls made by one flow run (SyncRun.api_calls)."""

    count: int = 0

    def add(self) -> None:
        self.count += 1


@dataclass
class RequestBudget:
    """A token bucket per client keeping requests under a remote's QPS; `sleep` injectable for tests."""

    rate_per_second: float
    capacity: float = 0.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(default=-1.0, init=False)
    _updated: float = field(default=0.0, init=False)

    def acquire(self) -> None:
        if self.rate_per_second <= 0:
            return
        capacity = self.capacity or self.rate_per_second
        now = self.clock()
        if self._tokens < 0:
            self._tokens, self._updated = capacity, now
        self._tokens = min(capacity, self._tokens + (now - self._updated) * self.rate_per_second)
        self._updated = now
        if self._tokens < 1:
            wait = (1 - self._tokens) / self.rate_per_second
            self.sleep(wait)
            self._tokens, self._updated = 0.0, self.clock()
        else:
            self._tokens -= 1


class BaseClient:
    """Subclasses set `role` and `base_url`, add one method per endpoint, and may override
    `finalize_request` (signing) and `classify` (vendor error codes inside 200 answers)."""

    role = "remote"
    base_url = ""

    def __init__(self, *, base_url: str | None = None, session: requests.Session | None = None,
                 counter: CallCounter | None = None, budget: RequestBudget | None = None,
                 timeout: tuple[float, float] | None = None) -> None:
        if base_url is not None:
            self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.trust_env = False
        self.counter = counter or CallCounter()
        self.budget = budget
        self.timeout = timeout or settings.INTEGRATIONS_HTTP_TIMEOUT

    def build_url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def finalize_request(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        return prepared

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                data: Any = None, headers: dict | None = None) -> Any:
        if not settings.INTEGRATIONS_ALLOW_NETWORK and not _network_intercepted(self.build_url(path)):
            raise NetworkDisabledError(f"{self.role}: outbound HTTP is disabled (INTEGRATIONS_ALLOW_NETWORK)")
        secrets_register_params(params)
        req = requests.Request(method, self.build_url(path), params=params, json=json, data=data, headers=headers or {})
        prepared = self.finalize_request(self.session.prepare_request(req))
        secrets_register(*(part for k, v in prepared.headers.items() if k.lower() in _SECRET_HEADERS
                           for part in (v, v.split(" ", 1)[-1])))  # "Basic <token>": the token alone too
        if self.budget:
            self.budget.acquire()
        self.counter.add()
        started = time.monotonic()
        path = _path_only(path)
        failure: ConnectorError | None = None
        try:
            response = self.send(prepared)
        except requests.ConnectTimeout as exc:  # before the connection was made: the request never left
            logger.warning("http.connect_timeout", extra={"role": self.role, "method": method, "path": path})
            failure = NotSentError(f"{self.role}: connect timeout calling {method} {path} ({describe(exc)})")
        except requests.Timeout as exc:
            logger.warning("http.timeout", extra={"role": self.role, "method": method, "path": path})
            failure = TransientError(f"{self.role}: timeout calling {method} {path} ({describe(exc)})")
        except requests.ConnectionError as exc:
            logger.warning("http.connection_error", extra={"role": self.role, "method": method, "path": path})
            failure = (NotSentError if _never_connected(exc) else TransientError)(f"{self.role}: cannot connect for {method} {path} ({describe(exc)})")
        except requests.RequestException as exc:  # invalid URL, too many redirects, broken encoding...
            logger.warning("http.request_error", extra={"role": self.role, "method": method, "path": path})
            failure = PermanentError(f"{self.role}: request failed for {method} {path} ({describe(exc)})")
        if failure is not None:
            raise failure  # outside the except block: no __context__ holding the unredacted URL
        logger.info(
            "http.response",
            extra={"role": self.role, "method": method, "path": path, "status": response.status_code,
                   "duration_ms": int((time.monotonic() - started) * 1000)},
        )
        return self.classify(response)

    def send(self, prepared: requests.PreparedRequest) -> requests.Response:
        """The transport call (subclasses may pin the address or bound the whole exchange)."""
        return self.session.send(prepared, timeout=self.timeout, allow_redirects=False)

    def classify(self, response: requests.Response) -> Any:
        """Map HTTP status to the error family and return the decoded body."""
        status = response.status_code
        text = response.text[:500]
        if status == 429:
            raise RateLimitedError(f"{self.role}: rate limited", status=status,
                                   retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise TransientError(f"{self.role}: server error {status}: {text}", status=status)
        if status in (401, 403):
            raise AuthError(f"{self.role}: not authorized ({status}): {text}", status=status)
        if status >= 400:
            raise PermanentError(f"{self.role}: request rejected ({status}): {text}", status=status)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            pass
        raise TransientError(f"{self.role}: malformed JSON answer (status {status})", status=status)


_SECRET_HEADERS = ("authorization", "x-tts-access-token", "x-api-key", "proxy-authorization", "cookie")
_REAL_SEND = requests.adapters.HTTPAdapter.send
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "testserver")


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the connection was never established (refused, name not resolved): no byte of the request
    was sent. A connection dropped after sending ("Connection aborted") is not this: the remote may have it."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _network_intercepted(url: str) -> bool:
    """True when the call cannot leave the machine: `responses` has patched the transport (tests)
    or the target is loopback (the sandbox)."""
    if requests.adapters.HTTPAdapter.send is not _REAL_SEND:
        return True
    host = urlsplit(url).hostname or ""
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _path_only(path: str) -> str:
    """What may be logged of a request target: scheme, host and path, never the query string."""
    return redact(path.split("?", 1)[0])


def utcnow() -> datetime:
    return datetime.now(tz=timezone.utc)
