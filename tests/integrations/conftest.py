import pytest

from integrations import registry, services
from integrations.flows import SeenRows
from tests.integrations import fake_connector


@pytest.fixture(autouse=True)
def fake_registered():
    registry.register(fake_connector.SPEC)
    fake_connector.REMOTE.update(pages=[], fail_at_page=None, error=None, crash_in_apply=None, during_targeted=None)
    yield
    registry.unregister("fake")


@pytest.fixture
def fake_integration(db):
    return services.integration_create(name="Fake A", connector="fake", credentials={"api_key": "k-123", "api_secret": "s3cr3t-value"})


@pytest.fixture
def fake_state(fake_integration):
    return fake_integration.flow_states.get(flow="pull_things")


@pytest.fixture
def seen_rows_sizes(monkeypatch) -> list[int]:
    """How many keys a keyset reader's SeenRows remembers after each page (memory flat in the size of the work)."""
    sizes = []
    real_fresh = SeenRows.fresh

    def fresh(self, items):
        out = real_fresh(self, items)
        sizes.append(len(self.keys))
        return out

    monkeypatch.setattr(SeenRows, "fresh", fresh)
    return sizes
