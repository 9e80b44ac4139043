"""The remote side of the reliability suite: every outbound call of every connector is routed in-process
to the project's own emulators (TikTok sandbox, OSA emulator, the hub's webhook endpoint) through Django's
test client, and faults are injected on the wire.

A `Fault` matches calls by method and path (regex) and by the flow that makes them, fires a number of times,
and acts like the real failure:

- `5xx`: the remote answers 503 and does nothing;
- `timeout_before`: the request never reaches the remote (connect timeout);
- `timeout_after`: the remote receives and commits the request, the answer is lost (read timeout);
- `429`: the remote answers 429 with `Retry-After` and does nothing;
- `malformed`: the remote does the work, the answer body is not JSON;
- `partial`: the remote does the work, the answer is valid JSON with a record's fields cut (`mutate`);
- `hook`: the remote answers normally, and `hook()` runs first (a row updated while paging, a second
  worker starting in the middle of a run, a webhook arriving during the poll...).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
import threading
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from django.test import Client

KINDS = ("5xx", "timeout_before", "timeout_after", "429", "malformed", "partial", "hook")
HOST = "http://127.0.0.1:8000"


@dataclass
class Fault:
    kind: str
    path: str = ".*"  # regex searched in the URL path
    method: str = ""  # "" = any
    times: int = 1
    skip: int = 0  # let this many matching calls through first
    retry_after: int = 7
    mutate: Callable[[Any], Any] | None = None  # partial: decoded JSON -> cut JSON
    hook: Callable[[], None] | None = None
    fired: int = 0
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (not self.method or self.method == method) and re.search(self.path, path) is not None

    @property
    def spent(self) -> bool:
        return self.fired >= self.times


@dataclass
class Call:
    method: str
    path: str
    status: int
    fault: str = ""


@dataclass
class Remote:
    """Routes HTTP to the emulators; holds the armed faults and the call log."""

    faults: list[Fault] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inject(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault {fault.kind!r}")
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def install(self, responses) -> None:
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            responses.add_callback(method, re.compile(re.escape(HOST) + r"/.*"), callback=self._handle)

    # --- the wire ---

    def _forward(self, request) -> tuple[int, dict, bytes]:
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        content_type = request.headers.get("Content-Type", "application/json")
        # A client per call: workers in threads (PostgreSQL scenarios) must not share one.
        response = Client().generic(request.method, path, data=body, content_type=content_type, **headers)
        kept = {k: v for k, v in response.items() if k.lower() in ("retry-after", "content-type", "x-pagination", "location")}
        if "Location" in kept:  # an accepted action's status URL (Acumatica's 202), built by the test client's host
            kept["Location"] = kept["Location"].replace("http://testserver", HOST)
        return response.status_code, kept, response.content

    def _handle(self, request):
        path = urlsplit(request.url).path
        with self._lock:
            fault = self._pick(request.method, path)
        return self._answer(request, path, fault)

    def _pick(self, method, path):
        fault = None
        for candidate in self.faults:
            if candidate.spent or not candidate.matches(method, path):
                continue
            candidate.seen += 1
            if candidate.seen <= candidate.skip:
                continue
            fault = candidate
            fault.fired += 1
            break
        return fault

    def _answer(self, request, path, fault):
        kind = fault.kind if fault else ""
        if kind == "5xx":
            return self._log(request, path, 503, kind, (503, {}, b'{"error": "service unavailable"}'))
        if kind == "timeout_before":
            self.calls.append(Call(request.method, path, 0, kind))
            return requests.ConnectTimeout("injected: connect timeout")
        if kind == "429":
            return self._log(request, path, 429, kind, (429, {"Retry-After": str(fault.retry_after)},
                                                        b'{"code": 36009002, "message": "rate limited", "error": {"code": "rate_limited"}}'))
        if kind == "hook" and fault.hook is not None:
            fault.hook()
        status, headers, content = self._forward(request)
        if kind == "timeout_after":
            self.calls.append(Call(request.method, path, status, kind))
            return requests.ReadTimeout("injected: read timeout after the remote accepted")
        if kind == "malformed":
            content = content[: max(1, len(content) // 2)] + b"<html>"
        elif kind == "partial" and fault.mutate is not None:
            content = json.dumps(fault.mutate(json.loads(content))).encode()
        return self._log(request, path, status, kind, (status, headers, content))

    def _log(self, request, path, status, kind, answer):
        self.calls.append(Call(request.method, path, status, kind))
        return answer

    def writes(self, path_regex: str) -> list[Call]:
        return [c for c in self.calls if c.method != "GET" and re.search(path_regex, c.path)]
