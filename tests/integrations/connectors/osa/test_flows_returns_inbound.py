"""Returns (RMAs) both ways; arrivals pushed, receipts pulled (arrival quantities, inbound)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuArrival, EmuReturn
from integrations.models import OutboundPush
from inventory.models import Arrival, ArrivalLine, InventoryLevel, Receipt
from orders.models import Return, ReturnLine

from .conftest import DOMAIN, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_sr(osa_integration, emulator, channel_order, make_sr, mapped):
    sr = make_sr(channel_order)
    run_flow(osa_integration, "push_shipping_requests")
    sr.refresh_from_db()
    return sr


@pytest.fixture
def channel_return(fake_integration, channel_order):
    ret = Return.objects.create(
        integration=fake_integration,
        order=channel_order,
        external_id="RET-1",
        order_external_id="5770001",
        status="requested",
        reason="too small",
    )
    ReturnLine.objects.create(ret=ret, order_line=channel_order.lines.get(sku="SKU-1"), sku="SKU-1", quantity=1)
    return ret


def test_push_returns_sends_rma_once(osa_integration, sent_sr, channel_return):
    # given
    settings_set(osa_integration, push_returns=True)
    # when
    first = run_flow(osa_integration, "push_returns")
    second = run_flow(osa_integration, "push_returns")
    # then
    rma = EmuReturn.objects.get()
    assert rma.reference == f"SY-RMA-{channel_return.pk}" and rma.payload["order_reference"] == sent_sr.reference
    assert rma.payload["lines"] == [{"sku": "SKU-1", "quantity": 1, "requested_action": "restock"}]
    assert (first.created, second.fetched) == (1, 0)
    assert OutboundPush.objects.get(kind="return").remote_id == rma.osa_id


def test_pull_returns_records_osa_rma_updates_against_the_channel_order(osa_integration, sent_sr, channel_return, channel_order):
    # given
    settings_set(osa_integration, push_returns=True, pull_returns=True)
    run_flow(osa_integration, "push_returns")
    emu.emulator_receive_return(domain=DOMAIN, reference=f"SY-RMA-{channel_return.pk}")
    # when
    run = run_flow(osa_integration, "pull_returns")
    # then
    osa_rma = Return.objects.get(integration=osa_integration)
    assert run.created == 1 and osa_rma.status == "received" and osa_rma.order == channel_order
    assert list(osa_rma.lines.values_list("sku", "quantity")) == [("SKU-1", 1)]


@pytest.fixture
def arrivals(osa_integration, osa_location, products):
    made = []
    for ref in ("PO-1001", "PO-1002"):
        a = Arrival.objects.create(
            integration=osa_integration,
            location=osa_location,
            kind="po",
            reference=ref,
            expected_at=timezone.now() + timedelta(days=3),
        )
        ArrivalLine.objects.create(arrival=a, product=products[0], quantity_expected=10)
        made.append(a)
    return made


@pytest.mark.parametrize("only, sent", [([], {"PO-1001", "PO-1002"}), (["PO-1002"], {"PO-1002"})], ids=["all", "only_listed"])
def test_setting_process_only_arrivals_for_specific_order_ids(osa_integration, emulator, arrivals, only, sent):
    # given
    settings_set(osa_integration, push_arrivals=True, arrival_order_ids=only)
    # when
    run = run_flow(osa_integration, "push_arrivals")
    # then
    assert set(EmuArrival.objects.values_list("reference", flat=True)) == sent
    assert set(Arrival.objects.filter(status="sent").values_list("reference", flat=True)) == sent
    assert InventoryLevel.objects.get(product__sku="SKU-1").inbound == 20  # both POs are expected, sent or not
    if only:
        assert "held back" in run.note


def test_pull_receipts_updates_arrival_and_inbound(osa_integration, emulator, arrivals):
    # given: PO-1001 sent, OSA receives 6 of 10 then the remaining 4
    settings_set(osa_integration, push_arrivals=True, pull_receipts=True, arrival_order_ids=["PO-1001"])
    run_flow(osa_integration, "push_arrivals")
    emu.emulator_receive_arrival(domain=DOMAIN, reference="PO-1001", quantities={"SKU-1": 6})
    # when
    first = run_flow(osa_integration, "pull_receipts")
    # then
    arrival = Arrival.objects.get(reference="PO-1001")
    assert first.created == 1 and arrival.status == "partial" and arrival.lines.get().quantity_received == 6
    assert InventoryLevel.objects.get(product__sku="SKU-1").inbound == 4 + 10  # rest of PO-1001 + PO-1002
    # when
    emu.emulator_receive_arrival(domain=DOMAIN, reference="PO-1001", quantities={"SKU-1": 4})
    run_flow(osa_integration, "pull_receipts")
    again = run_flow(osa_integration, "pull_receipts")
    # then
    arrival.refresh_from_db()
    assert arrival.status == "received" and Receipt.objects.count() == 2 and again.created == 0
    assert InventoryLevel.objects.get(product__sku="SKU-1").inbound == 10  # PO-1002 only
