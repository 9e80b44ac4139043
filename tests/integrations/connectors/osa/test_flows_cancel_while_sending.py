"""A shipping request cancelled while the push is sending it to OSA (issue #10, defect 3b): nothing is reopened,
and the OSA cancel flow cancels OSA's copy."""
import pytest

from integrations.connectors.osa.adapter import OsaAdapterV1 as OsaAdapter
from integrations.exceptions import TransientError
from integrations.connectors.osa.models import EmuOrder
from integrations.models import OutboundPush, SyncRun
from inventory.models import InventoryLevel
from orders import services as order_services
from orders.interface import CancellationIn
from orders.models import Order, OrderEvent, ShippingRequest

from .conftest import run_flow

pytestmark = pytest.mark.django_db


def test_request_cancelled_during_the_push_is_cancelled_at_osa(osa_integration, emulator, channel_order, make_sr, mapped,
                                                                 monkeypatch):
    # given: while OSA accepts the request (it ships later), the buyer cancels the order in Switchyard
    emulator.accept_delay_seconds = 3600
    emulator.save()
    sr = make_sr(channel_order)
    real_create = OsaAdapter.order_create

    def create_while_buyer_cancels(self, *, request):
        remote = real_create(self, request=request)
        order_services.order_cancel_from_channel(order=Order.objects.get(pk=channel_order.pk),
                                                 cancellation=CancellationIn(source="buyer", external_id="C1"))
        return remote

    monkeypatch.setattr(OsaAdapter, "order_create", create_while_buyer_cancels)
    # when: the push records OSA's answer
    push_run = run_flow(osa_integration, "push_shipping_requests")
    # then: the order stays cancelled, the request stays cancelled with OSA's id and a cancellation for OSA
    assert push_run.status == SyncRun.Status.SUCCEEDED
    sr.refresh_from_db()
    remote = EmuOrder.objects.get(reference=sr.reference)
    assert Order.objects.get().status == "canceled"
    assert (sr.status, sr.cancel_state, sr.external_id) == ("canceledRestock", "requested", remote.osa_id)
    assert OrderEvent.objects.filter(to_status="sentToFulfillment").exists() is False
    assert OutboundPush.objects.get(kind="shipping_request").status == "sent"
    # when: the cancel flow runs
    monkeypatch.setattr(OsaAdapter, "order_create", real_create)
    cancel_run = run_flow(osa_integration, "cancel_shipping_requests")
    # then: OSA's copy is cancelled, the request closed, the stock released once
    sr.refresh_from_db()
    remote.refresh_from_db()
    assert cancel_run.status == SyncRun.Status.SUCCEEDED and cancel_run.updated == 1
    assert remote.status == "canceled"
    assert (sr.status, sr.cancel_state) == ("canceledRestock", "canceled")
    assert sorted(InventoryLevel.objects.values_list("product__sku", "committed")) == [("SKU-1", 0), ("SKU-2", 0)]
    # and: nothing is sent again
    assert run_flow(osa_integration, "push_shipping_requests").fetched == 0
    assert EmuOrder.objects.count() == 1


def test_cancel_of_a_request_whose_push_is_in_doubt_asks_osa(osa_integration, emulator, channel_order, make_sr, mapped,
                                                              monkeypatch):
    # given: OSA accepted the request but its answer was lost (timeout): the push is in doubt, the request not marked sent
    emulator.accept_delay_seconds = 3600
    emulator.save()
    sr = make_sr(channel_order)
    real_create = OsaAdapter.order_create

    def create_then_timeout(self, *, request):
        real_create(self, request=request)
        raise TransientError("read timed out")

    monkeypatch.setattr(OsaAdapter, "order_create", create_then_timeout)
    run_flow(osa_integration, "push_shipping_requests")
    monkeypatch.setattr(OsaAdapter, "order_create", real_create)
    push = OutboundPush.objects.get(kind="shipping_request")
    assert (push.status, push.attempts) == ("pending", 1)
    assert EmuOrder.objects.get(reference=sr.reference).status != "canceled"
    # when: the buyer cancels before the next push run
    order_services.order_cancel_from_channel(order=Order.objects.get(), cancellation=CancellationIn(source="buyer", external_id="C1"))
    # then: not dropped locally: the 3PL is asked (the cancel flow looks the reference up), the push sends nothing more
    sr.refresh_from_db()
    assert (sr.status, sr.cancel_state) == ("readyForFulfillment", "requested")
    assert Order.objects.get().cancel_requested_at is not None
    assert run_flow(osa_integration, "push_shipping_requests").fetched == 0
    run_flow(osa_integration, "cancel_shipping_requests")
    sr.refresh_from_db()
    assert EmuOrder.objects.get(reference=sr.reference).status == "canceled"
    assert (sr.status, sr.cancel_state) == ("canceledRestock", "canceled")
    assert Order.objects.get().status == "canceled"
    assert sorted(InventoryLevel.objects.values_list("product__sku", "committed")) == [("SKU-1", 0), ("SKU-2", 0)]
