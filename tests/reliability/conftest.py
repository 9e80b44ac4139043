from datetime import timedelta

import pytest
from django.utils import timezone

from tests.reliability.remote import Remote
from tests.reliability.world import World


@pytest.fixture
def remote(responses, settings, monkeypatch):
    from integrations.connectors.acumatica import client as acumatica_client
    from integrations.connectors.acumatica.flows.base import AcumaticaFlow

    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.SANDBOX_ENABLED = True
    settings.TIKTOK_QPS = 100000.0
    monkeypatch.setattr(acumatica_client, "ACTION_POLL_INTERVAL", 0)  # a 202 is polled at once: no sleeps
    # The emulator stamps LastModified with the world's clock at commit: no commit lag to wait out.
    monkeypatch.setattr(AcumaticaFlow, "window_lag", timedelta(0))
    r = Remote()
    r.install(responses)
    return r


class Clock:
    """The world's clock (hub and emulators read `timezone.now`): real time plus an offset the suite moves
    forward, so "the next poll, a little later" happens without sleeping. Kept within the TikTok gateway's
    five-minute signature window (the client signs with the machine's real time)."""

    def __init__(self):
        self.offset = timedelta(0)
        self._real = timezone.now

    def now(self):
        return self._real() + self.offset

    def tick(self, seconds: float = 2) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(timezone, "now", c.now)
    return c


@pytest.fixture
def world(db, remote, clock):
    return World(remote=remote, clock=clock).seed()
