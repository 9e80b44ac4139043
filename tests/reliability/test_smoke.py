from integrations.models import FlowState
from tests.reliability import invariants
from tests.reliability.world import US, OSA


def test_smoke(world):
    world.place_order(("TEE-BLK-M", 2), ("CAP-RED", 1))
    world.settle()
    for name in (US, OSA):
        for st in FlowState.objects.filter(integration__name=name):
            r = world.run(name, st.flow)
            print(name, st.flow, st.enabled, r.status, r.fetched, r.created, r.updated, r.api_calls, r.error_message[:150], r.note[:100], r.errors[:1])
    assert 0
