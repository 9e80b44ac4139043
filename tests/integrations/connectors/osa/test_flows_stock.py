"""Which stock figure reaches TikTok, and shipments that always record (#17 item 1, #10 defect 4, #18 item 1).

OSA reports Fulfillable = its on hand − its commitments. The channel quantity of an OSA location is OSA's figure
minus only the hub's commitments OSA has not counted yet; recording a shipment never fails on stock arithmetic;
a shipment that cannot be recorded is parked (exception + payload) and never blocks the page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuAccount
from integrations.models import FlowState, OpsException, SyncRun
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.models import InventoryLevel, Location, LocationLink
from orders.models import Fulfillment, Order, OrderLine, ShippingRequest, ShippingRequestLine, ShippingRequestStatus

from .conftest import DOMAIN, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(osa_integration, emulator, products, mapped, fake_integration):
    """OSA pulled (locations), OSA-NJ linked to a TikTok location, OSA ships only when told (emulator_advance)."""
    settings_set(osa_integration, pull_locations=True, pull_inventory=True, push_shipping_requests=True, pull_fulfillments=True)
    EmuAccount.objects.filter(domain=DOMAIN).update(accept_delay_seconds=3600, ship_delay_seconds=3600)
    run_flow(osa_integration, "pull_locations")
    nj = Location.objects.get(integration=osa_integration, external_id="OSA-NJ")
    tiktok = Location.objects.create(integration=fake_integration, code="tt-us", name="TikTok US", external_id="TT1")
    LocationLink.objects.create(source=nj, target=tiktok)
    return {"osa": osa_integration, "nj": nj, "channel": fake_integration, "product": products[0]}


def _route(world, *, external_id: str, quantity: int) -> ShippingRequest:
    """What the orders core does when it routes an order to OSA New Jersey: a request, and stock committed for it."""
    order = Order.objects.create(
        integration=world["channel"], external_id=external_id, status="readyForFulfillment", shipping_method="Standard",
        shipping_address={"name": "Ann", "address1": "1 Main St", "city": "Newark", "state": "NJ", "zip": "07101",
                          "country": "US"},
    )
    line = OrderLine.objects.create(order=order, sku="SKU-1", product=world["product"], quantity=quantity, unit_price=5)
    sr = ShippingRequest.objects.create(order=order, integration=world["osa"], location=world["nj"],
                                        reference=f"SY-{external_id}", status=ShippingRequestStatus.READY_FOR_FULFILLMENT,
                                        shipping_method="Standard")
    ShippingRequestLine.objects.create(shipping_request=sr, order_line=line, product=world["product"], sku="SKU-1",
                                       quantity=quantity)
    inventory_services.inventory_commit(location=world["nj"], product=world["product"], quantity=quantity,
                                        reference=sr.reference, allow_negative=True)
    return sr


def _osa_ships():
    """OSA ships everything accepted, now (then goes back to shipping only when told)."""
    EmuAccount.objects.filter(domain=DOMAIN).update(accept_delay_seconds=0, ship_delay_seconds=0)
    emu.emulator_advance(account=EmuAccount.objects.get(domain=DOMAIN))
    EmuAccount.objects.filter(domain=DOMAIN).update(accept_delay_seconds=3600, ship_delay_seconds=3600)


def _channel(world) -> int:
    return inventory_selectors.channel_quantities(integration=world["channel"])["SKU-1"]["TT1"]


def test_tiktok_gets_osas_fulfillable_minus_only_commitments_osa_has_not_counted(world):
    # given: OSA has 25 on hand; a 2-unit order is routed to OSA (not sent yet)
    emu.emulator_set_stock(domain=DOMAIN, sku="SKU-1", location_code="OSA-NJ", on_hand=25)
    _route(world, external_id="7001", quantity=2)
    run_flow(world["osa"], "pull_inventory")
    assert _channel(world) == 23  # OSA's 25 does not include the unsent request yet
    # when: the request reaches OSA (OSA reports Fulfillable 23) and inventory is pulled again
    assert run_flow(world["osa"], "push_shipping_requests").created == 1
    run_flow(world["osa"], "pull_inventory")
    # then: 23, not 23 − 2
    assert _channel(world) == 23
    level = InventoryLevel.objects.get(location=world["nj"], product=world["product"])
    assert (level.fulfillable, level.committed, level.committed_unseen, level.available) == (23, 2, 0, 23)


def test_no_drift_after_the_shipment_while_osas_figure_does_not_change(world):
    # given: sent to OSA, inventory pulled between OSA's reservation and the shipment
    emu.emulator_set_stock(domain=DOMAIN, sku="SKU-1", location_code="OSA-NJ", on_hand=25)
    _route(world, external_id="7002", quantity=2)
    run_flow(world["osa"], "push_shipping_requests")
    run_flow(world["osa"], "pull_inventory")
    # when: OSA ships, the hub records it, and inventory is pulled again (OSA's Fulfillable still 23)
    _osa_ships()
    shipped = run_flow(world["osa"], "pull_fulfillments")
    run_flow(world["osa"], "pull_inventory")
    # then
    assert (shipped.status, shipped.created) == (SyncRun.Status.SUCCEEDED, 1)
    assert _channel(world) == 23
    level = InventoryLevel.objects.get(location=world["nj"], product=world["product"])
    assert (level.fulfillable, level.on_hand, level.committed, level.available) == (23, 23, 0, 23)


def test_pull_inventory_then_acknowledged_request_counts_until_a_newer_figure(world):
    # given: OSA's figure was taken before the request reached OSA
    emu.emulator_set_stock(domain=DOMAIN, sku="SKU-1", location_code="OSA-NJ", on_hand=25)
    _route(world, external_id="7003", quantity=2)
    run_flow(world["osa"], "pull_inventory")
    # when: the request reaches OSA after that figure
    run_flow(world["osa"], "push_shipping_requests")
    # then: the stored figure (25) does not include it: still subtracted
    assert _channel(world) == 23


def test_recording_a_shipment_never_fails_on_stock_and_later_runs_go_on(world):
    # given: OSA has exactly the 2 units of a sent order, so its Fulfillable is 0
    emu.emulator_set_stock(domain=DOMAIN, sku="SKU-1", location_code="OSA-NJ", on_hand=2)
    sr = _route(world, external_id="7004", quantity=2)
    run_flow(world["osa"], "push_shipping_requests")
    run_flow(world["osa"], "pull_inventory")
    # when: OSA ships it
    _osa_ships()
    first = run_flow(world["osa"], "pull_fulfillments")
    sr2 = _route(world, external_id="7005", quantity=1)  # routed without stock check, shipped later
    run_flow(world["osa"], "push_shipping_requests")
    _osa_ships()
    second = run_flow(world["osa"], "pull_fulfillments")
    # then
    sr.refresh_from_db(), sr2.refresh_from_db()
    assert (first.status, first.created, second.status, second.created) == ("succeeded", 1, "succeeded", 1)
    assert (sr.status, sr2.status) == (ShippingRequestStatus.FULFILLED, ShippingRequestStatus.FULFILLED)
    assert Fulfillment.objects.count() == 2
    level = InventoryLevel.objects.get(location=world["nj"], product=world["product"])
    assert (level.committed, level.available) == (0, -1)  # the stored figure (0) predates the second request
    run_flow(world["osa"], "pull_inventory")
    level.refresh_from_db()
    assert (level.fulfillable, level.committed_unseen, level.available) == (0, 0, 0)
    assert not OpsException.objects.filter(status="open", code="osa_shipment_not_recorded").exists()


def test_a_poison_shipment_is_parked_with_its_payload_and_never_blocks_the_page(world, monkeypatch):
    from orders import services as order_services

    # given: two orders shipped by OSA; recording the first one fails (a bug, bad data...)
    emu.emulator_set_stock(domain=DOMAIN, sku="SKU-1", location_code="OSA-NJ", on_hand=10)
    bad, good = _route(world, external_id="7006", quantity=1), _route(world, external_id="7007", quantity=1)
    run_flow(world["osa"], "push_shipping_requests")
    _osa_ships()
    real = order_services.fulfillment_record

    def failing(*, shipping_request, **kwargs):
        if shipping_request.pk == bad.pk:
            raise ValueError("cannot record this one")
        return real(shipping_request=shipping_request, **kwargs)

    monkeypatch.setattr(order_services, "fulfillment_record", failing)
    # when
    run = run_flow(world["osa"], "pull_fulfillments")
    # then: the other shipment is recorded, the cursor moved, the bad one is an open exception with OSA's payload
    assert (run.status, run.created, run.failed) == (SyncRun.Status.PARTIAL, 1, 1)
    assert list(Fulfillment.objects.values_list("shipping_request_id", flat=True)) == [good.pk]
    parked = OpsException.objects.get(code="osa_shipment_not_recorded", status="open")
    assert parked.details["shipment"]["reference"] == bad.reference and "cannot record this one" in parked.message
    state = FlowState.objects.get(integration=world["osa"], flow="pull_fulfillments")
    assert state.cursor.get("since")
    # when: the cause is fixed, and the next run's window no longer includes the shipment
    monkeypatch.setattr(order_services, "fulfillment_record", real)
    FlowState.objects.filter(pk=state.pk).update(cursor={"since": (timezone.now() + timedelta(days=1)).isoformat()})
    again = run_flow(world["osa"], "pull_fulfillments")
    # then: recorded from the parked payload, the exception resolves itself
    bad.refresh_from_db()
    assert (again.status, again.created) == (SyncRun.Status.SUCCEEDED, 1) and bad.status == ShippingRequestStatus.FULFILLED
    assert OpsException.objects.get(pk=parked.pk).status == "resolved"
