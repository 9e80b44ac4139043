"""SSRF-safe fetches of user-supplied URLs (issue #11, critical 4): only http(s) to public addresses,
checked on the resolved IP of every hop and connected to that IP, redirects re-checked and bounded, one
total deadline, one generic error message."""
from __future__ import annotations

import http.server
import io
import socket
import threading

import pytest
from django.core.checks import Error

from integrations import safe_fetch
from integrations.connectors.tiktok import images as img
from tests.integrations.connectors.tiktok.conftest import png_bytes

PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS for names (numeric hosts resolve as the OS does, without any lookup)."""
    table = {"cdn.example": [PUBLIC_IP], "localhost": ["127.0.0.1"], "loop.example": ["127.0.0.1"],
             "mixed.example": [PUBLIC_IP, "10.0.0.5"], "img.test": ["127.0.0.1"]}

    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return list(table[host])
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        return [info[4][0] for info in infos]

    monkeypatch.setattr(safe_fetch, "resolve", resolve)
    return table


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.8.8", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "0.0.0.0", "100.64.0.1",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "fe80::1",
    "fc00::1", "ff02::1", "2002:7f00:1::1", "64:ff9b::a9fe:a9fe", "2001:db8::1"])
def test_non_public_addresses_are_refused(address):
    assert safe_fetch.address_allowed(address) is False


@pytest.mark.parametrize("address", [PUBLIC_IP, "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert safe_fetch.address_allowed(address) is True


def test_loopback_is_allowed_only_by_the_explicit_setting(settings):
    settings.FETCH_ALLOW_LOOPBACK = True
    assert safe_fetch.address_allowed("127.0.0.1") is True
    assert safe_fetch.address_allowed("169.254.169.254") is False and safe_fetch.address_allowed("10.0.0.1") is False


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/a.png", "http://localhost/a.png", "http://[::ffff:127.0.0.1]/a.png", "http://2130706433/a.png",
    "http://0x7f000001/a.png", "http://loop.example/a.png", "http://169.254.169.254/latest/meta-data/",
    "http://mixed.example/a.png", "http://[::1]:8000/a.png", "file:///etc/passwd", "gopher://cdn.example/_x",
    "ftp://cdn.example/a.png", "http://user:pw@cdn.example/a.png", "http:///a.png", "http://cdn.example:99999/a.png",
])
def test_refused_urls_are_never_contacted_and_all_fail_alike(responses, dns, url):
    with pytest.raises(img.ImageError) as info:
        img.image_fetch(url=url)
    assert str(info.value) == img.FETCH_ERROR
    assert len(responses.calls) == 0


@pytest.mark.parametrize("location", ["http://127.0.0.1/x.png", "http://loop.example/x.png", "file:///etc/passwd",
                                      "gopher://127.0.0.1:6379/_FLUSHALL", "http://169.254.169.254/"])
def test_redirects_are_rechecked(responses, dns, location):
    responses.add("GET", "https://cdn.example/a.png", status=302, headers={"Location": location})
    with pytest.raises(img.ImageError) as info:
        img.image_fetch(url="https://cdn.example/a.png")
    assert str(info.value) == img.FETCH_ERROR
    assert [c.request.url for c in responses.calls] == ["https://cdn.example/a.png"]


def test_redirects_are_bounded_and_status_errors_look_like_any_other_failure(responses, dns):
    for n in range(6):
        responses.add("GET", f"https://cdn.example/{n}.png", status=302, headers={"Location": f"/{n + 1}.png"})
    responses.add("GET", "https://cdn.example/missing.png", status=404)
    messages = set()
    for url in ("https://cdn.example/0.png", "https://cdn.example/missing.png"):
        with pytest.raises(img.ImageError) as info:
            img.image_fetch(url=url)
        messages.add(str(info.value))
    assert messages == {img.FETCH_ERROR}
    assert len(responses.calls) == img.MAX_REDIRECTS + 1 + 1


def test_a_public_image_is_fetched(responses, dns):
    responses.add("GET", "https://cdn.example/a.png", body=png_bytes(), content_type="image/png")
    assert img.image_fetch(url="https://cdn.example/a.png") == png_bytes()


class _Drip(io.RawIOBase):
    """A 100,000-byte body trickling one byte per read, each read costing 1 ms on the injected clock
    (100 s in all)."""

    def __init__(self, clock):
        self.clock, self.left = clock, 100_000

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self.left:
            return 0
        self.clock.now += 0.001
        self.left -= 1
        buffer[0:1] = b"x"
        return 1


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_one_total_deadline_covers_the_whole_body(responses, dns, settings):
    settings.FETCH_TOTAL_SECONDS = 20
    clock = _Clock()
    responses.add("GET", "https://cdn.example/slow.png", body=io.BufferedReader(_Drip(clock), buffer_size=1),
                  content_type="image/png")
    with pytest.raises(safe_fetch.FetchError):
        safe_fetch.fetch("https://cdn.example/slow.png", max_bytes=1_000_000, clock=clock)
    assert clock.now - 1000.0 < 40  # stopped at the 20 s deadline (one 16 KB chunk late at most), not after 100 s


class _Server(http.server.BaseHTTPRequestHandler):
    hosts: list = []
    hold = threading.Event()

    def do_GET(self):  # noqa: N802
        type(self).hosts.append(self.headers.get("Host"))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        if self.path == "/drip.png":
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\x89PNG")
            self.wfile.flush()
            type(self).hold.wait(10)  # never sends the rest within the deadline
            return
        body = png_bytes()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def image_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    _Server.hosts, _Server.hold = [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    _Server.hold.set()
    server.shutdown()
    server.server_close()


def test_connects_to_the_checked_address_and_keeps_the_host_name(dns, image_server, settings):
    # img.test resolves (fake DNS) to loopback, allowed here by the explicit setting; the system resolver
    # would not know img.test, so success proves the connection went to the checked address.
    settings.FETCH_ALLOW_LOOPBACK = True
    assert img.image_fetch(url=f"http://img.test:{image_server}/a.png") == png_bytes()
    assert _Server.hosts == [f"img.test:{image_server}"]


def test_a_server_dripping_bytes_is_cut_at_the_total_deadline(dns, image_server, settings):
    settings.FETCH_ALLOW_LOOPBACK = True
    settings.FETCH_TOTAL_SECONDS = 0.5
    with pytest.raises(img.ImageError) as info:
        img.image_fetch(url=f"http://img.test:{image_server}/drip.png")
    assert str(info.value) == img.FETCH_ERROR


def test_loopback_setting_is_refused_by_the_deploy_check(settings):
    from integrations.checks import check_deploy_settings

    settings.FETCH_ALLOW_LOOPBACK = True
    assert "integrations.E022" in [e.id for e in check_deploy_settings(None) if isinstance(e, Error)]
    settings.FETCH_ALLOW_LOOPBACK = False
    assert "integrations.E022" not in [e.id for e in check_deploy_settings(None)]


# --- DNS inside the deadline; user-supplied API base URLs (issue #11, item 3) -------------------------

def test_dns_resolution_counts_inside_the_one_total_deadline(responses, monkeypatch, settings):
    import time

    settings.FETCH_TOTAL_SECONDS = 0.5
    release = threading.Event()

    def slow_resolve(host, port):  # a resolver that hangs (getaddrinfo has no timeout of its own)
        release.wait(5)
        return [PUBLIC_IP]

    monkeypatch.setattr(safe_fetch, "resolve", slow_resolve)
    responses.get("http://cdn.example/a.png", body=png_bytes(), content_type="image/png")
    started = time.monotonic()
    try:
        with pytest.raises(safe_fetch.FetchError) as caught:
            safe_fetch.fetch("http://cdn.example/a.png", max_bytes=10_000)
        assert time.monotonic() - started < 1.5
    finally:
        release.set()
    assert str(caught.value) == safe_fetch.GENERIC_ERROR and "DNS" in caught.value.reason
    assert len(responses.calls) == 0


def test_the_time_dns_takes_is_taken_from_the_fetch(responses, monkeypatch, settings):
    """A slow (but answering) resolver leaves the rest of the fetch only what is left of the deadline."""
    now = [0.0]
    settings.FETCH_TOTAL_SECONDS = 10

    def resolve(host, port):
        now[0] += 10.5  # resolution took longer than the whole deadline
        return [PUBLIC_IP]

    monkeypatch.setattr(safe_fetch, "resolve", resolve)
    responses.get("http://cdn.example/a.png", body=png_bytes(), content_type="image/png")
    with pytest.raises(safe_fetch.FetchError):
        safe_fetch.fetch("http://cdn.example/a.png", max_bytes=10_000, clock=lambda: now[0])
    assert len(responses.calls) == 0


@pytest.mark.parametrize("url", ["http://169.254.169.254/api/v1", "http://127.0.0.1:9/api/v1", "http://loop.example/api",
                                 "http://mixed.example/api", "ftp://cdn.example/api", "http://u:p@cdn.example/api"])
def test_pinned_session_refuses_non_public_base_urls(dns, url):
    with pytest.raises(safe_fetch.FetchError):
        safe_fetch.pinned_session(url)


def test_pinned_session_goes_to_the_checked_address_and_nowhere_else(dns, monkeypatch):
    session = safe_fetch.pinned_session("https://cdn.example/api/v1")
    adapter = session.get_adapter("https://cdn.example/api/v1/account")
    assert isinstance(adapter, safe_fetch._PinnedAdapter) and adapter._address == PUBLIC_IP
    dns["cdn.example"] = ["127.0.0.1"]  # rebinding after the check changes nothing: no second lookup
    assert session.get_adapter("https://cdn.example/api/v1/orders")._address == PUBLIC_IP
    for other in ("https://cdn.example.evil.test/x", "http://169.254.169.254/latest", "https://other.example/x"):
        with pytest.raises(Exception) as caught:
            session.get(other, timeout=1)
        assert "only the checked host" in str(caught.value)
