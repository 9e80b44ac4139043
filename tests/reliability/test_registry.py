"""The suite enumerates the connector registry: every flow is driven by the fault matrix or explicitly flagged."""
from tests.reliability.drivers import DRIVERS, NOT_DRIVEN
from tests.reliability.world import INTEGRATION_OF, registry_flows


def test_every_registered_flow_is_driven_or_flagged():
    flows = set(registry_flows())
    unknown = sorted(flows - set(DRIVERS) - set(NOT_DRIVEN))
    assert not unknown, f"flows the reliability suite neither drives nor flags (add them to tests/reliability/drivers.py): {unknown}"
    assert not (set(DRIVERS) & set(NOT_DRIVEN))
    assert not (set(DRIVERS) | set(NOT_DRIVEN)) - flows, "drivers for flows that are no longer registered"


def test_every_registered_connector_has_an_integration_in_the_world():
    assert {c for c, _ in registry_flows()} <= set(INTEGRATION_OF)
