"""Never two live orders for one request or refund: a create is followed by a look-up by CustomerOrder (a PUT has
no idempotency key; two workers, one whose lease expired mid-PUT, may both have created one) when another worker may
have created one too: a sales order whose attempt retries one in doubt or whose run's lease broke mid-PUT; every
return order (their attempts are counted after the call). The lowest OrderNbr of
ours is bound, the other live copies are cancelled while their status allows, else a visible exception."""
import json
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from integrations import services
from integrations.models import OpsException, OutboundPush
from tests.integrations.connectors.acumatica.conftest import BASE, run_flow, settings_set

pytestmark = pytest.mark.django_db

DUP_CODE = "acumatica_duplicate_sales_order"


def so(nbr, status="Open", ref="SY-5770001-1", order_type="SO", customer_order="5770001"):
    return {"OrderType": {"value": order_type}, "OrderNbr": {"value": nbr}, "Status": {"value": status},
            "CustomerOrder": {"value": customer_order}, "ExternalRef": {"value": ref}}


def created_while_the_lease_breaks(acu_api, integration, answer: dict, flow: str = "push_orders") -> None:
    """Acumatica answers the PUT; meanwhile this run's lease expired (the worker stalled mid-call), so another worker
    may have taken the flow and created one too."""
    from integrations.models import FlowState

    def put(request):
        FlowState.objects.filter(integration=integration, flow=flow).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1))
        return 200, {}, json.dumps(answer)

    acu_api.mock.add_callback("PUT", acu_api.url("/SalesOrder"), callback=put)


def cancel_bodies(acu_api):
    return [json.loads(c.request.body)["entity"] for c in acu_api.calls_to("/SalesOrder/CancelSalesOrder", "POST")]


def test_duplicate_created_by_another_worker_is_cancelled_and_the_lowest_bound(acu_integration, acu_api, channel_order,
                                                                             make_sr, mapped):
    # given: an earlier report of this request's duplicate is open; this worker creates SO000124 while another worker
    # (whose lease expired) has created SO000123; Acumatica also lists a cancelled copy and a split sibling of the order
    sr = make_sr(channel_order)
    services.exception_raise(category="fulfillment", code=DUP_CODE, integration=acu_integration, entity=sr,
                             dedup_key=f"acumatica:duplicate_so:{acu_integration.pk}:{sr.reference}", message="earlier")
    created_while_the_lease_breaks(acu_api, acu_integration, so("SO000124"))
    acu_api.ok("GET", "/SalesOrder", [so("SO000121", "Canceled"), so("SO000122", ref="SY-5770001-9"), so("SO000123"),
                                      so("SO000124")])
    acu_api.mock.add("POST", BASE + "/SalesOrder/CancelSalesOrder", status=204)
    # when
    run = run_flow(acu_integration, "push_orders")
    # then: SO000123 bound, only our live copy SO000124 cancelled, the earlier report resolved
    assert (run.status, run.created) == ("succeeded", 1)
    sr.refresh_from_db()
    assert (sr.status, sr.external_id) == ("sentToFulfillment", "SO/SO000123")
    assert cancel_bodies(acu_api) == [{"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO000124"}}]
    assert OutboundPush.objects.get(kind="acumatica_sales_order").response == {
        "order_type": "SO", "order_nbr": "SO000123", "status": "Open", "duplicates_canceled": ["SO/SO000124"]}
    assert OpsException.objects.get(code=DUP_CODE).status == "resolved"
    assert len(acu_api.calls_to("/SalesOrder", "PUT")) == 1


@pytest.mark.parametrize("status", ["Completed", "Shipping", ""])
def test_duplicate_too_far_along_is_left_and_raised(acu_integration, acu_api, channel_order, make_sr, mapped, status):
    # given: this worker creates SO000123; a copy SO000124 is already shipping (or its status is unknown)
    sr = make_sr(channel_order)
    created_while_the_lease_breaks(acu_api, acu_integration, so("SO000123"))
    acu_api.ok("GET", "/SalesOrder", [so("SO000123"), so("SO000124", status)])
    # when
    run = run_flow(acu_integration, "push_orders")
    # then: the request is bound to SO000123, nothing is cancelled, and the duplicate is an open exception on the request
    assert (run.status, run.created) == ("succeeded", 1)
    sr.refresh_from_db()
    assert sr.external_id == "SO/SO000123"
    assert acu_api.calls_to("/SalesOrder/CancelSalesOrder") == []
    exc = OpsException.objects.get(code=DUP_CODE, status="open")
    assert (exc.object_id, exc.category) == (sr.pk, "fulfillment")
    assert exc.message == (f"Acumatica has more than one sales order for shipping request {sr.reference}: SO/SO000123 is "
                           f"kept; SO/SO000124 ({status or 'status unknown'}) could not be cancelled (no longer Open or On "
                           "Hold). Cancel the duplicate in Acumatica by hand.")
    assert OutboundPush.objects.get(kind="acumatica_sales_order").response["duplicates_error"] == exc.message


def test_refused_cancellation_of_a_duplicate_is_raised(acu_integration, acu_api, channel_order, make_sr, mapped):
    sr = make_sr(channel_order)
    created_while_the_lease_breaks(acu_api, acu_integration, so("SO000124"))
    acu_api.ok("GET", "/SalesOrder", [so("SO000123"), so("SO000124")])
    acu_api.ok("POST", "/SalesOrder/CancelSalesOrder", {"message": "An error has occurred.",
                                                        "exceptionMessage": "The order has a shipment."}, status=400)
    run_flow(acu_integration, "push_orders")
    sr.refresh_from_db()
    assert sr.external_id == "SO/SO000123" and len(cancel_bodies(acu_api)) == 1
    assert "SO/SO000124 (cancellation refused: Acumatica rejected the request: The order has a shipment.)" in \
        OpsException.objects.get(code=DUP_CODE, status="open").message


def test_a_first_create_under_an_unbroken_lease_is_not_read_back_and_its_attempt_is_committed_before(
        acu_integration, acu_api, channel_order, make_sr, mapped):
    # No idempotency key at Acumatica: a duplicate needs a second worker, which needs this run's lease to break, or an
    # attempt in doubt, which the attempt committed before the PUT records (#14.1: the read-back was one GET per order)
    sr = make_sr(channel_order)
    seen = []

    def put(request):
        seen.append(OutboundPush.objects.get(kind="acumatica_sales_order", idempotency_key=sr.reference).attempts)
        return 200, {}, json.dumps(so("SO000123"))

    acu_api.mock.add_callback("PUT", acu_api.url("/SalesOrder"), callback=put)
    # when
    run = run_flow(acu_integration, "push_orders")
    # then
    assert (run.status, run.created, run.api_calls, seen) == ("succeeded", 1, 1, [1])
    assert acu_api.calls_to("/SalesOrder", "GET") == []
    sr.refresh_from_db()
    assert sr.external_id == "SO/SO000123"
    push = OutboundPush.objects.get(kind="acumatica_sales_order")
    assert (push.status, push.attempts, push.remote_id) == ("sent", 1, "SO/SO000123")


def test_a_retry_that_finds_two_of_ours_binds_the_lowest_without_creating(acu_integration, acu_api, channel_order,
                                                                         make_sr, mapped):
    # given: an earlier attempt whose answer was lost (the push row counts it)
    sr = make_sr(channel_order)
    OutboundPush.objects.create(integration=acu_integration, kind="acumatica_sales_order", idempotency_key=sr.reference,
                                attempts=1, object_id=sr.pk, content_type=ContentType.objects.get_for_model(sr))
    acu_api.ok("GET", "/SalesOrder", [so("SO000124"), so("SO000123")])
    acu_api.mock.add("POST", BASE + "/SalesOrder/CancelSalesOrder", status=204)
    # when
    run_flow(acu_integration, "push_orders")
    # then
    sr.refresh_from_db()
    assert sr.external_id == "SO/SO000123" and acu_api.calls_to("/SalesOrder", "PUT") == []
    assert cancel_bodies(acu_api) == [{"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO000124"}}]
    assert not OpsException.objects.filter(code=DUP_CODE).exists()


def test_duplicate_return_order_is_cancelled(acu_integration, acu_api, channel_order, fake_integration, make_sr):
    from decimal import Decimal

    from orders.models import OrderLine, Refund, RefundLine

    make_sr(channel_order, status="sentToFulfillment", external_id="SO/SO000123")
    refund = Refund.objects.create(order=channel_order, integration=fake_integration, external_id="RF-1", status="completed",
                                   amount=Decimal("9.50"))
    RefundLine.objects.create(refund=refund, order_line=OrderLine.objects.get(order=channel_order, sku="SKU-1"), sku="SKU-1",
                              quantity=1, amount=Decimal("9.50"))
    settings_set(acu_integration, push_refunds=True)
    key = f"refund:{refund.pk}"
    created_while_the_lease_breaks(acu_api, acu_integration, so("RC000008", ref=key, order_type="RC",
                                                                customer_order="5770001-RRF-1"), flow="push_refunds")
    acu_api.ok("GET", "/SalesOrder", [so(n, ref=key, order_type="RC", customer_order="5770001-RRF-1")
                                      for n in ("RC000007", "RC000008")])
    acu_api.mock.add("POST", BASE + "/SalesOrder/CancelSalesOrder", status=204)
    run = run_flow(acu_integration, "push_refunds")
    assert (run.status, run.created) == ("succeeded", 1)
    push = OutboundPush.objects.get(kind="acumatica_refund")
    assert (push.remote_id, push.response["duplicates_canceled"]) == ("RC/RC000007", ["RC/RC000008"])
    assert cancel_bodies(acu_api) == [{"OrderType": {"value": "RC"}, "OrderNbr": {"value": "RC000008"}}]
    assert not OpsException.objects.filter(code="acumatica_duplicate_return_order").exists()


def test_emulator_answers_the_look_up_and_the_copy_is_cancelled(acu_integration, emulator, channel_order, make_sr, mapped,
                                                                monkeypatch):
    """Against the emulator: another worker's sales order for the request is already there (000001) and this run's
    lease broke while it created 000002; it finds both by CustomerOrder, keeps 000001 and cancels 000002
    (CancelSalesOrder, 202 polled)."""
    from integrations.connectors.acumatica import emulator as emu
    from integrations.connectors.acumatica.models import EmuGrant, EmuRecord

    EmuGrant.objects.create(instance=emulator, kind="access", value="acc-1", expires_at=timezone.now() + timedelta(hours=1))
    sr = make_sr(channel_order)
    emu.entity_put(instance=emulator, entity="SalesOrder", headers={}, params={}, body=emu.wrap({
        "OrderType": "SO", "CustomerID": "TIKTOK", "CustomerOrder": "5770001", "ExternalRef": sr.reference,
        "ShipVia": "UPSGROUND", "PaymentMethod": "TTS", "Details": [{"InventoryID": "SKU-1", "OrderQty": 2}]}))
    monkeypatch.setattr(services, "flow_lease_unbroken", lambda **kw: False)
    run = run_flow(acu_integration, "push_orders")
    assert (run.status, run.created) == ("succeeded", 1)
    sr.refresh_from_db()
    assert sr.external_id == "SO/000001"
    statuses = dict(EmuRecord.objects.filter(instance=emulator, entity="SalesOrder").values_list("key", "data__Status"))
    assert statuses == {"SO/000001": "Open", "SO/000002": "Canceled"}
    assert not OpsException.objects.filter(code=DUP_CODE).exists()
