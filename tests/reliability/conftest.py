import pytest

from tests.reliability.remote import Remote
from tests.reliability.world import World


@pytest.fixture
def remote(responses, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.SANDBOX_ENABLED = True
    settings.TIKTOK_QPS = 100000.0
    r = Remote()
    r.install(responses)
    return r


@pytest.fixture
def world(db, remote):
    return World(remote=remote).seed()


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability(category): a fault-injection scenario of tests/reliability/ (counted per category)")
