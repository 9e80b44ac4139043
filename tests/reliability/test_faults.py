"""The fault matrix: every driven flow of the registry × every wire fault, through the real engine against the
emulators. Each scenario: prepare work → inject the fault on the flow's first call (pushes: on their write) →
the run must be recorded as failed → clear the fault, run to quiescence → every invariant holds."""
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import FlowState, SyncRun
from tests.reliability import invariants
from tests.reliability.drivers import DRIVERS
from tests.reliability.remote import Fault
from tests.reliability.world import INTEGRATION_OF

WIRE_FAULTS = ("5xx", "timeout_before", "timeout_after", "429", "malformed")
DRIVEN = sorted(DRIVERS)

# Scenarios that fail today because their defect's fix has not landed on main (strict: turns red when it lands).
PENDING: dict[tuple[str, str, str], str] = {}
# Defects this suite found that are not in #10's list (reported to the lead; strict, so a fix turns them red).
NEW = "found by the reliability suite, not in #10: "
FOUND: dict[tuple[str, str, str], str] = {}  # TikTok push_fulfillments timeout/malformed: fixed on wt-pushes (read-back)


def _id(key):
    return "-".join(key)


def _params():
    for connector, flow in DRIVEN:
        for kind in WIRE_FAULTS:
            marks = []
            if kind == "timeout_after" and not DRIVERS[(connector, flow)].push:
                continue  # a pull's GET changes nothing remotely: same as timeout_before
            if kind == "malformed" and DRIVERS[(connector, flow)].bodyless:
                continue
            reason = PENDING.get((connector, flow, kind)) or FOUND.get((connector, flow, kind))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            yield pytest.param(connector, flow, kind, id=f"{connector}.{flow}-{kind}", marks=marks)


@pytest.mark.reliability("wire_fault")
@pytest.mark.parametrize("connector,flow,kind", list(_params()))
def test_wire_fault(world, connector, flow, kind):
    driver = DRIVERS[(connector, flow)]
    driver.prepare(world)
    fault = world.remote.inject(Fault(kind, method=driver.method, path=driver.path))
    before = timezone.now()
    run = world.run_connector_flow(connector, flow)
    assert fault.fired == 1, f"the fault never hit {connector}.{flow}: the driver does not make it call {driver.path}"
    assert not invariants.fault_recorded(run), invariants.fault_recorded(run)
    state = FlowState.objects.get(pk=run.flow_state_id)
    if kind == "429":
        assert state.next_run_at >= before + timedelta(seconds=fault.retry_after), "Retry-After not honoured"
    world.remote.clear()
    world.settle()
    again = world.run_connector_flow(connector, flow)
    assert again.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), (again.status, again.error_message)
    world.settle()
    invariants.assert_invariants(world)
