"""Shipping requests to OSA: push (mapping, idempotency, scoping, managed routing), cancellations both
ways, Waiting watch, fulfillments."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuOrder, EmuShipment
from integrations.models import OpsException, OutboundPush, SyncRun
from orders.models import Fulfillment, ShippingRequest, ShippingRequestStatus

from .conftest import BASE, DOMAIN, run_flow, settings_set

pytestmark = pytest.mark.django_db


def test_push_sends_mapped_method_osa_sku_and_product_info(
    osa_integration, emulator, channel_order, make_sr, mapped, osa_channel_sku
):
    # given
    from integrations.connectors.osa.models import EmuProduct

    EmuProduct.objects.create(account=emulator, sku="OSA-SKU-1", data={"sku": "OSA-SKU-1", "name": "Blue mug"})
    sr = make_sr(channel_order)
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1
    order = EmuOrder.objects.get()
    assert order.reference == sr.reference and order.number == f"1042-{sr.reference}"
    assert order.shipping_method == "OSA_GROUND" and order.warehouse_code == "OSA-NJ"
    lines = order.payload["lines"]
    assert [(line["sku"], line["quantity"]) for line in lines] == [("OSA-SKU-1", 2), ("SKU-2", 1)]
    assert lines[0]["product"]["name"] == "Blue mug" and lines[0]["product"]["weight"] == {"value": "1.200", "unit": "lb"}
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.SENT_TO_FULFILLMENT and sr.external_id == order.osa_id
    push = OutboundPush.objects.get(kind="shipping_request")
    assert push.idempotency_key == sr.reference and push.status == "sent" and push.remote_id == order.osa_id


def test_push_unmapped_shipping_method_is_an_exception_and_nothing_sent(osa_integration, emulator, channel_order, make_sr):
    # given: no mapping for "Standard"
    sr = make_sr(channel_order)
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then
    assert run.status == SyncRun.Status.PARTIAL and run.failed == 1
    assert EmuOrder.objects.exists() is False
    exc = OpsException.objects.get(code="unmapped_shipping_method")
    assert exc.category == "fulfillment" and "Standard" in exc.message and exc.object_id == sr.pk
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.READY_FOR_FULFILLMENT and sr.external_id == ""


def test_push_after_mapping_added_sends_and_resolves_exception(osa_integration, emulator, channel_order, make_sr):
    # given
    make_sr(channel_order)
    run_flow(osa_integration, "push_shipping_requests")
    from integrations.models import Mapping

    Mapping.objects.create(integration=osa_integration, kind="shipping_method", source="Standard", target="OSA_GROUND")
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then
    assert run.created == 1 and EmuOrder.objects.count() == 1
    assert OpsException.objects.get(code="unmapped_shipping_method").status == "resolved"


def test_push_retry_after_timeout_does_not_create_second_osa_order(
    osa_integration, emulator, responses, channel_order, make_sr, mapped
):
    # given: the first POST reaches OSA but the answer times out
    sr = make_sr(channel_order)
    original = responses.registered()[:]
    state = {"calls": 0}

    def create_then_timeout(request):
        state["calls"] += 1
        from django.test import Client

        Client().generic(
            "POST",
            "/integrations/osa/sandbox/api/v1/orders",
            data=request.body,
            content_type="application/json",
            HTTP_AUTHORIZATION=request.headers["Authorization"],
            HTTP_X_OSA_DOMAIN=DOMAIN,
        )
        raise requests.Timeout("read timed out")

    responses.add_callback("POST", f"{BASE}/orders", callback=create_then_timeout)
    # move the timeout callback before the generic emulator route
    registry = responses.registered()
    responses.reset()
    for match in [registry[-1]] + original:
        responses.add(match)
    # when: first run fails (transient), second run retries
    first = run_flow(osa_integration, "push_shipping_requests")
    osa_integration.flow_states.filter(flow="push_shipping_requests").update(next_run_at=timezone.now())
    responses.remove("POST", f"{BASE}/orders")
    second = run_flow(osa_integration, "push_shipping_requests")
    # then
    assert first.status == SyncRun.Status.FAILED and first.error_class == "TransientError"
    assert OutboundPush.objects.get(kind="shipping_request").attempts == 2
    assert second.status == SyncRun.Status.SUCCEEDED
    assert EmuOrder.objects.count() == 1
    assert state["calls"] == 1 and [c.request.method for c in responses.calls].count("POST") == 1  # the retry looked up, no POST
    sr.refresh_from_db()
    assert sr.external_id == EmuOrder.objects.get().osa_id and sr.status == ShippingRequestStatus.SENT_TO_FULFILLMENT


def test_push_duplicate_reference_answer_is_success(osa_integration, emulator, channel_order, make_sr, mapped):
    # given: OSA already has this reference (sent earlier, answer lost, ledger rolled back)
    sr = make_sr(channel_order)
    emu_order = EmuOrder.objects.create(
        account=emulator, osa_id="OSA-999999", reference=sr.reference, number=f"1042-{sr.reference}", payload={"lines": []}
    )
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then
    assert run.status == SyncRun.Status.SUCCEEDED and EmuOrder.objects.count() == 1
    sr.refresh_from_db()
    assert sr.external_id == "OSA-999999" == emu_order.osa_id


def test_push_unknown_product_rejected_per_record_with_troubleshooting_hint(
    osa_integration, emulator, channel_order, make_sr, mapped
):
    # given: OSA does not know SKU-2
    from integrations.connectors.osa.models import EmuProduct

    EmuProduct.objects.filter(sku="SKU-2").delete()
    sr = make_sr(channel_order)
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then
    assert run.status == SyncRun.Status.PARTIAL and EmuOrder.objects.exists() is False
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FAILED
    exc = OpsException.objects.get(code="unknown_sku")
    assert "Push product catalog information to OSA" in exc.message and "Channel Options" in exc.message


@pytest.mark.parametrize("order_ids, sent_case", [([], 2), (["5770001"], 1)], ids=["all", "only_listed"])
def test_setting_process_only_shipping_requests_with_specific_order_ids(
    osa_integration, emulator, channel_order, make_sr, mapped, fake_integration, order_ids, sent_case
):
    # given: two orders routed to OSA
    from orders.models import Order, OrderLine

    other = Order.objects.create(
        integration=fake_integration, external_id="5770002", status="readyForFulfillment", shipping_method="Standard"
    )
    OrderLine.objects.create(order=other, sku="SKU-1", product=channel_order.lines.first().product, quantity=1)
    make_sr(channel_order)
    make_sr(other)
    settings_set(osa_integration, shipping_request_order_ids=order_ids)
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then
    assert EmuOrder.objects.count() == sent_case
    if order_ids:
        assert "held back" in run.note and [o.payload["order_number"] for o in EmuOrder.objects.all()] == ["5770001"]


@pytest.mark.parametrize("forced, warehouse", [(False, "OSA-NJ"), (True, None)], ids=["engine_routing", "osa_managed"])
def test_setting_force_osa_managed_routing(osa_integration, emulator, channel_order, make_sr, mapped, forced, warehouse):
    # given
    settings_set(osa_integration, force_osa_managed_routing=forced)
    make_sr(channel_order)
    # when
    run_flow(osa_integration, "push_shipping_requests")
    # then
    payload = EmuOrder.objects.get().payload
    assert payload["warehouse_code"] == warehouse and payload["managed_routing"] is forced
    assert osa_integration.spec.extra["managed_routing_setting"] == "force_osa_managed_routing"


@pytest.mark.parametrize("choice", ["reviewRequired", "canceled", "canceledRestock", "failed"])
def test_setting_cancel_status_applied_when_osa_cancels(osa_integration, emulator, channel_order, make_sr, mapped, choice):
    # given: a sent request that OSA then cancels on its side
    settings_set(osa_integration, osa_cancel_status=choice)
    sr = make_sr(channel_order)
    run_flow(osa_integration, "push_shipping_requests")
    emulator.accept_delay_seconds = 3600
    emulator.save()
    emu.emulator_cancel_order(domain=DOMAIN, reference=sr.reference, reason="damaged stock")
    # when
    run = run_flow(osa_integration, "pull_order_statuses")
    # then
    sr.refresh_from_db()
    assert run.updated >= 1 and sr.status == choice and sr.remote_status == "canceled"


def test_hub_cancellation_reaches_osa_and_too_late_is_reported(osa_integration, emulator, channel_order, make_sr, mapped):
    # given: two sent requests; the second has shipped already at OSA
    emulator.accept_delay_seconds = 3600
    emulator.save()
    first, second = make_sr(channel_order), make_sr(channel_order)
    run_flow(osa_integration, "push_shipping_requests")
    EmuOrder.objects.filter(reference=second.reference).update(status="shipped")
    ShippingRequest.objects.filter(pk__in=[first.pk, second.pk]).update(cancel_state="requested")
    # when
    run = run_flow(osa_integration, "cancel_shipping_requests")
    # then
    first.refresh_from_db(), second.refresh_from_db()
    assert EmuOrder.objects.get(reference=first.reference).status == "canceled"
    assert first.cancel_state == "canceled"
    assert second.cancel_state == "too_late" and run.failed == 1 and "too late" in run.errors[0]["message"]


def test_waiting_more_than_24h_is_flagged_then_resolved(osa_integration, emulator, channel_order, make_sr, mapped):
    # given: an order that stays in Waiting
    sr = make_sr(channel_order)
    run_flow(osa_integration, "push_shipping_requests")
    EmuOrder.objects.update(stuck_waiting=True, created_at=timezone.now() - timedelta(hours=23))
    # when: under 24 h → still polling, no exception
    run_flow(osa_integration, "pull_order_statuses")
    assert OpsException.objects.filter(code="osa_waiting_over_24h").exists() is False
    # when: over 24 h
    EmuOrder.objects.update(created_at=timezone.now() - timedelta(hours=25))
    run_flow(osa_integration, "pull_order_statuses")
    exc = OpsException.objects.get(code="osa_waiting_over_24h")
    assert exc.status == "open" and exc.object_id == sr.pk and "contact OSA support" in exc.message
    # when: OSA finally accepts it
    EmuOrder.objects.update(status="success", stuck_waiting=False, updated_at=timezone.now())
    run_flow(osa_integration, "pull_order_statuses")
    exc.refresh_from_db()
    assert exc.status == "resolved"


def test_pull_fulfillments_records_partial_then_complete_shipments(
    osa_integration, emulator, channel_order, make_sr, mapped, osa_channel_sku
):
    # given: OSA ships one unit first, then the rest
    from integrations.connectors.osa.models import EmuProduct

    EmuProduct.objects.create(account=emulator, sku="OSA-SKU-1", data={"sku": "OSA-SKU-1", "name": "Blue mug"})
    settings_set(osa_integration, pull_fulfillments=True)
    sr = make_sr(channel_order)
    run_flow(osa_integration, "push_shipping_requests")
    EmuOrder.objects.update(partial_first=True)
    # when
    first = run_flow(osa_integration, "pull_fulfillments")
    osa_integration.flow_states.filter(flow="pull_fulfillments").update(next_run_at=timezone.now())
    second = run_flow(osa_integration, "pull_fulfillments")
    third = run_flow(osa_integration, "pull_fulfillments")
    # then
    assert (first.created, second.created, third.created) == (1, 1, 0)
    fulfillments = list(Fulfillment.objects.order_by("pk"))
    assert [list(f.lines.values_list("sku", "quantity")) for f in fulfillments] == [[("SKU-1", 1)], [("SKU-1", 1), ("SKU-2", 1)]]
    assert fulfillments[0].carrier == "USPS" and fulfillments[0].tracking_numbers[0].startswith("1Z1042")
    assert EmuShipment.objects.count() == 2
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FULFILLED


def test_dry_run_sends_nothing_to_osa_and_changes_nothing(osa_integration, emulator, channel_order, make_sr, mapped, responses):
    # given
    from integrations import services

    sr = make_sr(channel_order)
    state = osa_integration.flow_states.get(flow="push_shipping_requests")
    # when
    run = services.flow_run(flow_state=state, dry_run=True)
    # then
    sr.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1 and run.dry_run is True
    assert [c.request.method for c in responses.calls] == [] and EmuOrder.objects.exists() is False
    assert sr.external_id == "" and sr.status == ShippingRequestStatus.READY_FOR_FULFILLMENT
    assert OutboundPush.objects.exists() is False


def test_bundle_component_and_the_same_sku_ordered_alone_go_to_osa_as_one_line_and_both_ship(
    osa_integration, emulator, channel_order, make_sr, mapped, products
):
    # given: SKU-1 ordered alone (2) and as the component of an ordered bundle (1): two request lines, one SKU
    from decimal import Decimal

    from orders.models import OrderLine

    settings_set(osa_integration, pull_fulfillments=True)
    from catalog.models import Product

    gift = OrderLine.objects.create(order=channel_order, sku="GIFT", quantity=1, is_bundle=True, unit_price=Decimal("12.00"),
                                    product=Product.objects.create(sku="GIFT", name="Gift", kind="bundle"))
    OrderLine.objects.create(order=channel_order, sku="SKU-1", product=products[0], quantity=1, bundle_line=gift,
                             unit_price=Decimal("12.00"))
    sr = make_sr(channel_order)
    sr.lines.filter(order_line=gift).delete()  # an ordered bundle line is never routed itself
    # when
    run_flow(osa_integration, "push_shipping_requests")
    run_flow(osa_integration, "pull_fulfillments")
    # then
    assert sorted((line["sku"], line["quantity"]) for line in EmuOrder.objects.get().payload["lines"]) == [("SKU-1", 3), ("SKU-2", 1)]
    assert sorted((ln.sku, ln.quantity, ln.shipped_quantity) for ln in sr.lines.all()) == [("SKU-1", 1, 1), ("SKU-1", 2, 2), ("SKU-2", 1, 1)]
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FULFILLED
