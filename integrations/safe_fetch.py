"""SSRF-safe GET of a URL a user supplied (product image URLs; any future user-given URL).

- only http and https, no credentials in the URL;
- the host is resolved here and EVERY address it resolves to must be public (no loopback, private,
  link-local — 169.254.169.254 —, shared, multicast, reserved or unspecified addresses; IPv4 embedded in
  IPv6 — ::ffff:a.b.c.d, 6to4, Teredo, NAT64 — is checked as IPv4; decimal/hex forms such as 2130706433
  are resolved like any host, then checked);
- the connection goes to the checked address (pinned: no second DNS lookup to rebind), with the original
  host name kept for the Host header, TLS SNI and certificate check;
- redirects are followed by hand, each hop re-checked the same way, at most `max_redirects`;
- one total deadline for the whole fetch (every hop: DNS resolution, connect, headers and body): the
  resolution runs on a small bounded pool and is abandoned when the deadline passes (getaddrinfo has no
  timeout of its own); a watchdog shuts the socket down when it passes, so a server dripping a byte a
  second cannot hold the fetch;
- every failure raises FetchError with ONE generic message (nothing tells open, closed and filtered ports
  apart); the precise reason is logged for operators (host only, never the query string).

Loopback is allowed only when settings.FETCH_ALLOW_LOOPBACK is on (tests, the local sandbox); production
refuses to start with it and `check --deploy` fails (integrations.E022).

`pinned_session(url)` applies the same address rule to a user-supplied *base URL* of an API (OSA's "OSA
base URL override"): the host is checked once and every request of the session goes to the checked address;
any other host is refused. settings.REMOTE_URL_CHECK switches it (on in base and production; test settings
turn it off because their hosts are fake)."""
from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import socket
import threading
import time
from typing import Callable
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter, _urllib3_request_context

from integrations import http as integrations_http

logger = logging.getLogger("integrations.safe_fetch")

GENERIC_ERROR = "the URL could not be fetched (it must be a public http(s) address answering within the time limit)"
DEFAULT_TOTAL_SECONDS = 20.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """The URL could not be fetched; the message is deliberately the same whatever the reason."""

    def __init__(self, reason: str = ""):
        super().__init__(GENERIC_ERROR)
        self.reason = reason


class _Refused(Exception):
    pass


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to (tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


# A few threads for DNS lookups: a hung resolver ties up at most these, never the caller past its deadline.
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="safe-fetch-dns")


def resolve_within(host: str, port: int, seconds: float) -> list[str]:
    """`resolve(host, port)`, or _Refused when it does not answer within `seconds`."""
    if seconds <= 0:
        raise _Refused("deadline passed before DNS resolution")
    future = _RESOLVER.submit(lambda: resolve(host, port))
    try:
        return future.result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise _Refused("DNS resolution did not finish within the deadline") from None


def address_allowed(address: str) -> bool:
    """True for public unicast addresses (loopback too when FETCH_ALLOW_LOOPBACK is on)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        for inner in embedded:
            if inner is not None:
                return address_allowed(str(inner))
    if ip.is_loopback and getattr(settings, "FETCH_ALLOW_LOOPBACK", False):
        return True
    if (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global):
        return False
    return True


def _target(url: str, *, deadline: float, clock: Callable[[], float]) -> tuple[str, int, str]:
    """(host, port, checked address) of a URL, or _Refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _Refused(f"scheme {parts.scheme!r} is not http(s)")
    if parts.username is not None or parts.password is not None:
        raise _Refused("credentials in the URL")
    host = parts.hostname
    if not host:
        raise _Refused("no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _Refused("bad port") from None
    try:
        addresses = resolve_within(host, port, deadline - clock())
    except (OSError, UnicodeError) as exc:
        raise _Refused(f"cannot resolve host ({type(exc).__name__})") from None
    if not addresses:
        raise _Refused("host resolves to nothing")
    blocked = [a for a in addresses if not address_allowed(a)]
    if blocked:  # every answer must be public: a mixed answer could be used for the connection
        raise _Refused(f"host resolves to a non-public address {blocked[0]}")
    return host, port, addresses[0]


class _Watch:
    """Sockets opened for one fetch; `kill` shuts them down (the deadline watchdog)."""

    def __init__(self):
        self.sockets: list[socket.socket] = []
        self.killed = False

    def kill(self) -> None:
        self.killed = True
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked address whatever the URL's host; SNI and certificate check use the host."""

    def __init__(self, *, address: str, watch: _Watch):
        self._address, self._watch = address, watch
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, pool_kwargs = _urllib3_request_context(request, verify, cert, self.poolmanager)
        if host_params["scheme"] == "https":
            pool_kwargs = {**pool_kwargs, "server_hostname": host_params["host"], "assert_hostname": host_params["host"]}
        pool = self.poolmanager.connection_from_host(host=self._address, port=host_params["port"],
                                                     scheme=host_params["scheme"], pool_kwargs=pool_kwargs)
        watch, base = self._watch, pool.ConnectionCls

        class WatchedConnection(base):
            def _new_conn(self):
                sock = super()._new_conn()
                watch.sockets.append(sock)
                return sock

        pool.ConnectionCls = WatchedConnection
        return pool


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def _get_once(url: str, *, address: str, deadline: float, clock: Callable[[], float], max_bytes: int,
              content_ok: Callable[[str], bool]) -> tuple[str, object]:
    remaining = deadline - clock()
    if remaining <= 0:
        raise _Refused("deadline passed")
    if (not settings.INTEGRATIONS_ALLOW_NETWORK and not integrations_http._network_intercepted(url)
            and not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback):
        raise integrations_http.NetworkDisabledError("safe_fetch: outbound HTTP is disabled (INTEGRATIONS_ALLOW_NETWORK)")
    watch = _Watch()
    session = requests.Session()
    session.trust_env = False
    adapter = _PinnedAdapter(address=address, watch=watch)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    connect_timeout, read_timeout = settings.INTEGRATIONS_HTTP_TIMEOUT
    timer = threading.Timer(remaining, watch.kill)
    timer.daemon = True
    timer.start()
    try:
        response = session.get(url, headers={"Host": _host_header(url), "Accept": "image/*,*/*;q=0.1"},
                               timeout=(min(connect_timeout, remaining), min(read_timeout, remaining)),
                               allow_redirects=False, stream=True)
        with response:
            status = response.status_code
            if 300 <= status < 400:
                location = response.headers.get("Location")
                if not location:
                    raise _Refused(f"redirect {status} without Location")
                return "redirect", location
            if status >= 400:
                raise _Refused(f"HTTP {status}")
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if not content_ok(content_type):
                raise _Refused(f"content type {content_type!r} refused")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _Refused(f"larger than {max_bytes} bytes")
            chunks, size = [], 0
            for chunk in response.iter_content(16 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise _Refused(f"larger than {max_bytes} bytes")
                if clock() > deadline or watch.killed:
                    raise _Refused("deadline passed while reading the body")
                chunks.append(chunk)
            if clock() > deadline or watch.killed:
                raise _Refused("deadline passed while reading the body")
            return "ok", b"".join(chunks)
    finally:
        timer.cancel()
        session.close()


def fetch(url: str, *, max_bytes: int, content_ok: Callable[[str], bool] = lambda content_type: True,
          max_redirects: int = 3, clock: Callable[[], float] = time.monotonic) -> bytes:
    """The body of a GET of `url` under the rules above, or FetchError."""
    total = float(getattr(settings, "FETCH_TOTAL_SECONDS", DEFAULT_TOTAL_SECONDS))
    deadline = clock() + total
    current = url
    try:
        for _ in range(max_redirects + 1):
            _, _, address = _target(current, deadline=deadline, clock=clock)
            kind, value = _get_once(current, address=address, deadline=deadline, clock=clock, max_bytes=max_bytes,
                                    content_ok=content_ok)
            if kind == "ok":
                return value
            current = urljoin(current, value)
        raise _Refused("too many redirects")
    except integrations_http.NetworkDisabledError:
        raise
    except _Refused as exc:
        reason = str(exc)
    except (requests.RequestException, OSError, ValueError, UnicodeError) as exc:
        reason = f"{type(exc).__name__}"
    logger.info("safe_fetch.refused", extra={"host": (urlsplit(current).hostname or "")[:200], "reason": reason})
    raise FetchError(reason)


# --- user-supplied API base URLs ---------------------------------------------------------------


class _RefuseAdapter(HTTPAdapter):
    """Mounted for every host but the checked one in a pinned session: nothing else is contacted."""

    def send(self, request, *args, **kwargs):
        raise requests.ConnectionError("refused: only the checked host may be contacted")


def url_check(url: str, *, seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> tuple[str, int, str]:
    """(host, port, checked address) of a user-supplied URL under the address rule, or FetchError."""
    total = float(getattr(settings, "FETCH_TOTAL_SECONDS", DEFAULT_TOTAL_SECONDS)) if seconds is None else seconds
    try:
        return _target(url, deadline=clock() + total, clock=clock)
    except _Refused as exc:
        logger.info("safe_fetch.url_refused", extra={"host": (urlsplit(url).hostname or "")[:200], "reason": str(exc)})
        raise FetchError(str(exc)) from None
    except ValueError as exc:
        raise FetchError(type(exc).__name__) from None


def pinned_session(url: str) -> requests.Session:
    """A requests Session for an API whose base URL a user supplied: the host is checked (public addresses
    only, bounded DNS) and every request to it goes to the checked address, with the host name kept for
    the Host header, SNI and the certificate; requests to any other host are refused. FetchError when the
    URL breaks the rule."""
    host, port, address = url_check(url)
    parts = urlsplit(url)
    session = requests.Session()
    session.trust_env = False
    refuse = _RefuseAdapter()
    session.mount("http://", refuse)
    session.mount("https://", refuse)
    default_port = 443 if parts.scheme == "https" else 80
    pinned = _PinnedAdapter(address=address, watch=_Watch())
    bare = f"[{host}]" if ":" in host else host
    netlocs = {_host_header(url)} | ({bare, f"{bare}:{port}"} if port == default_port else set())
    for netloc in netlocs:
        session.mount(f"{parts.scheme}://{netloc}/", pinned)
    return session
