"""Orders → Katana against `responses` fixtures from the reference: body, lost-response create, 422, 429, unknown
SKU, missing customer, out-of-scope channel."""

import json

import pytest
import requests

from integrations.models import OpsException, OutboundPush, SyncRun
from orders.models import ShippingRequestStatus

from .conftest import bind_variant, load_fixture, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def bound(katana_integration, products):
    bind_variant(katana_integration, products[0], 5511)
    bind_variant(katana_integration, products[1], 5512)


def test_push_creates_one_not_shipped_sales_order_with_documented_fields(katana_integration, katana_api, uk_order, make_sr, bound):
    # given
    sr = make_sr(uk_order)
    katana_api.fixture("POST", "/sales_orders", "sales_order__created.json")
    katana_api.listing("/sales_orders", [])  # the look-up for duplicates after the create
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    # when
    run = run_flow(katana_integration, "push_orders")
    # then
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1
    [call] = katana_api.calls_to("/sales_orders", "POST")
    body = json.loads(call.request.body)
    assert body == {
        "order_no": "5770001", "customer_id": 1234, "status": "NOT_SHIPPED", "location_id": 1, "currency": "GBP",
        "customer_ref": sr.reference, "ecommerce_order_id": "5770001", "ecommerce_order_type": "tiktok",
        "ecommerce_store_name": "TikTok UK",
        "sales_order_rows": [{"variant_id": 5511, "quantity": 2, "price_per_unit": 9.5},
                             {"variant_id": 5512, "quantity": 1, "price_per_unit": 5}],
        "addresses": [{"entity_type": "shipping", "first_name": "Ann", "last_name": "Lee", "phone": "+44100",
                       "line_1": "1 High St", "city": "Leeds", "zip": "LS1 1AA", "country": "GB"}],
    }
    assert call.request.headers["Authorization"] == "Bearer katana-key-1"
    [fee] = katana_api.calls_to("/sales_order_shipping_fee")
    assert json.loads(fee.request.body) == {"sales_order_id": 98765, "amount": "3.99", "description": "Shipping"}
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.SENT_TO_FULFILLMENT and sr.external_id == "98765"
    push = OutboundPush.objects.get(kind="katana_sales_order")
    assert push.status == "sent" and push.remote_id == "98765" and push.attempts == 1
    assert push.response["rows"] == {"44001": "SKU-1", "44002": "SKU-2"}


def test_second_run_sends_nothing(katana_integration, katana_api, uk_order, make_sr, bound):
    make_sr(uk_order)
    katana_api.fixture("POST", "/sales_orders", "sales_order__created.json")
    katana_api.listing("/sales_orders", [])  # the look-up for duplicates after the create
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    run_flow(katana_integration, "push_orders")
    run = run_flow(katana_integration, "push_orders")
    assert run.fetched == 0 and len(katana_api.calls_to("/sales_orders", "POST")) == 1


def test_lost_response_create_is_found_by_ecommerce_order_id_not_created_twice(
    katana_integration, katana_api, responses, uk_order, make_sr, bound
):
    # given: Katana accepts the first POST but the answer is lost (read timeout)
    sr = make_sr(uk_order)
    katana_api.mock.add("POST", katana_api.url("/sales_orders"), body=requests.ReadTimeout("read timed out"))
    first = run_flow(katana_integration, "push_orders")
    assert first.status == SyncRun.Status.FAILED and first.error_class == "TransientError"
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.READY_FOR_FULFILLMENT
    # when: the retry finds Katana's copy by ecommerce_order_id + our reference
    responses.reset()
    created = load_fixture("sales_order__created.json") | {"customer_ref": sr.reference}
    katana_api.listing("/sales_orders", [created | {"id": 11, "customer_ref": "SY-other"}, created])
    state = katana_integration.flow_states.get(flow="push_orders")
    state.next_run_at = None
    state.save()
    second = run_flow(katana_integration, "push_orders")
    # then
    assert second.status == SyncRun.Status.SUCCEEDED and second.created == 1
    assert katana_api.calls_to("/sales_orders", "POST") == []
    [lookup] = katana_api.calls_to("/sales_orders", "GET")
    assert "ecommerce_order_id=5770001" in lookup.request.url
    sr.refresh_from_db()
    assert sr.external_id == "98765" and OutboundPush.objects.get().attempts == 2


def test_422_becomes_a_readable_exception_and_the_request_fails(katana_integration, katana_api, uk_order, make_sr, bound):
    sr = make_sr(uk_order)
    katana_api.fixture("POST", "/sales_orders", "error__422.json", status=422)
    run = run_flow(katana_integration, "push_orders")
    assert run.status == SyncRun.Status.PARTIAL and run.failed == 1
    exc = OpsException.objects.get(code="katana_rejected")
    assert exc.message.startswith(f"{sr.reference}: Katana refused the request: The request body is invalid")
    assert "order_no: must NOT have more than 10 characters" in exc.message
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FAILED and sr.external_id == ""
    assert OutboundPush.objects.get().status == "failed"


def test_429_pauses_the_account_with_retry_after_and_backs_off(katana_integration, katana_api, uk_order, make_sr, bound, monkeypatch):
    from integrations import outbound_rate

    paused = []
    monkeypatch.setattr(outbound_rate, "outbound_pause", lambda *, key, seconds: paused.append((key, seconds)))
    sr = make_sr(uk_order)
    katana_api.fixture("POST", "/sales_orders", "error__429.json", status=429, headers={"Retry-After": "17"})
    run = run_flow(katana_integration, "push_orders")
    assert run.status == SyncRun.Status.FAILED and run.error_class == "RateLimitedError"
    assert paused == [(f"katana:{katana_integration.pk}", 17.0)]
    state = katana_integration.flow_states.get(flow="push_orders")
    assert (state.next_run_at - run.finished_at).total_seconds() >= 17
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.READY_FOR_FULFILLMENT


def test_every_request_takes_a_slot_of_the_shared_limiter(katana_integration, katana_api, uk_order, make_sr, bound, monkeypatch):
    from integrations import outbound_rate

    slots = []
    monkeypatch.setattr(outbound_rate, "outbound_slot_acquire", lambda **kw: slots.append(kw) or 0.0)
    make_sr(uk_order)
    katana_api.fixture("POST", "/sales_orders", "sales_order__created.json")
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    run_flow(katana_integration, "push_orders")
    assert slots == [{"key": f"katana:{katana_integration.pk}", "limit": 55, "per_seconds": 60}] * 2


def test_unknown_sku_is_an_exception_naming_it_grouped_by_cause_and_redrive_sends(
    katana_integration, katana_api, uk_order, make_sr, products
):
    # given: SKU-1 is bound, SKU-2 unknown at Katana (exact match only: "sku-2" is another SKU)
    bind_variant(katana_integration, products[0], 5511)
    sr = make_sr(uk_order)
    katana_api.listing("/variants", [{"id": 77, "sku": "sku-2"}])
    # when
    run = run_flow(katana_integration, "push_orders")
    # then
    assert run.status == SyncRun.Status.PARTIAL
    exc = OpsException.objects.get(code="katana_unknown_sku")
    assert "SKU-2" in exc.message and exc.cause_key == f"katana_unknown_sku:{katana_integration.pk}:SKU-2"
    assert katana_api.calls_to("/sales_orders", "POST") == []
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FAILED
    # when: the SKU exists now; Re-drive puts the request back, the push sends it
    from orders import services as order_services

    order_services.exceptions_redrive(exceptions=[exc])
    katana_api.mock.reset()
    katana_api.listing("/variants", [{"id": 5512, "sku": "SKU-2"}])
    katana_api.fixture("POST", "/sales_orders", "sales_order__created.json")
    katana_api.listing("/sales_orders", [])  # the look-up for duplicates after the create
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    run = run_flow(katana_integration, "push_orders")
    assert run.created == 1
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.SENT_TO_FULFILLMENT
    assert OpsException.objects.get(pk=exc.pk).status == "resolved"


def test_katana_sku_from_channel_options_is_used(katana_integration, katana_api, uk_order, make_sr, products):
    from catalog.models import ChannelOption

    bind_variant(katana_integration, products[1], 5512)
    ChannelOption.objects.create(product=products[0], integration=katana_integration, channel_sku="KAT 1")
    make_sr(uk_order)
    katana_api.listing("/variants", [{"id": 5511, "sku": "KAT 1"}])
    katana_api.fixture("POST", "/sales_orders", "sales_order__created.json")
    katana_api.listing("/sales_orders", [])  # the look-up for duplicates after the create
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    run = run_flow(katana_integration, "push_orders")
    assert run.created == 1
    [lookup] = katana_api.calls_to("/variants")
    assert "sku=KAT+1" in lookup.request.url
    assert json.loads(katana_api.calls_to("/sales_orders", "POST")[0].request.body)["sales_order_rows"][0]["variant_id"] == 5511


def test_missing_customer_is_a_clear_exception_and_nothing_sent(katana_integration, katana_api, uk_order, make_sr, bound):
    settings_set(katana_integration, customer_id="", create_customers=False)
    sr = make_sr(uk_order)
    run = run_flow(katana_integration, "push_orders")
    assert run.failed == 1 and len(katana_api.mock.calls) == 0
    exc = OpsException.objects.get(code="katana_missing_customer")
    assert "enter a customer ID" in exc.message
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FAILED


def test_customer_per_channel_is_found_or_created_once(katana_integration, katana_api, uk_order, make_sr, bound, channel):
    settings_set(katana_integration, customer_id="")
    make_sr(uk_order)
    katana_api.listing("/customers", [])
    katana_api.ok("POST", "/customers", {"id": 4321, "name": "TikTok UK (Switchyard)"})
    katana_api.fixture("POST", "/sales_orders", "sales_order__created.json")
    katana_api.listing("/sales_orders", [])  # the look-up for duplicates after the create
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    run_flow(katana_integration, "push_orders")
    [created] = katana_api.calls_to("/customers", "POST")
    assert json.loads(created.request.body) == {"name": "TikTok UK (Switchyard)", "reference_id": f"switchyard-{channel.pk}",
                                                "category": "Switchyard channel"}
    assert json.loads(katana_api.calls_to("/sales_orders", "POST")[0].request.body)["customer_id"] == 4321
    katana_integration.refresh_from_db()
    assert katana_integration.remote_state["customers"] == {str(channel.pk): 4321}


def test_channel_out_of_scope_is_not_sent(katana_integration, katana_api, uk_order, make_sr, bound):
    settings_set(katana_integration, channel_integrations=["TikTok US"])
    sr = make_sr(uk_order)
    run = run_flow(katana_integration, "push_orders")
    assert run.failed == 1 and len(katana_api.mock.calls) == 0
    exc = OpsException.objects.get(code="katana_channel_out_of_scope")
    assert "TikTok UK" in exc.message
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FAILED


def test_revoked_key_fails_the_run_and_marks_the_integration(katana_integration, katana_api, uk_order, make_sr, bound):
    sr = make_sr(uk_order)
    katana_api.fixture("POST", "/sales_orders", "error__401.json", status=401)
    run = run_flow(katana_integration, "push_orders")
    assert run.status == SyncRun.Status.FAILED and run.error_class == "AuthError"
    katana_integration.refresh_from_db()
    assert katana_integration.status == "error" and "not authorized" in katana_integration.last_error
    assert "katana-key-1" not in katana_integration.last_error
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.READY_FOR_FULFILLMENT


def _create_while_the_lease_breaks(katana_api, integration, answer: dict) -> None:
    """Katana answers the create; meanwhile this run's lease expired (the worker stalled mid-call), so another worker
    may have taken the flow and created one too."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import FlowState

    def create(request):
        FlowState.objects.filter(integration=integration, flow="push_orders").update(
            lease_expires_at=timezone.now() - timedelta(seconds=1))
        return 200, {}, json.dumps(answer)

    katana_api.mock.add_callback("POST", katana_api.url("/sales_orders"), callback=create)


def test_a_first_create_under_an_unbroken_lease_is_not_read_back(katana_integration, katana_api, uk_order, make_sr, bound):
    # No idempotency key at Katana: a duplicate needs a second worker, which needs this run's lease to break; with it
    # held from the attempt's commit to the answer, the read-back for a duplicate is a wasted call (#14.1)
    sr = make_sr(uk_order)
    katana_api.ok("POST", "/sales_orders", load_fixture("sales_order__created.json") | {"customer_ref": sr.reference})
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    run = run_flow(katana_integration, "push_orders")
    assert (run.status, run.api_calls) == (SyncRun.Status.SUCCEEDED, 2)
    assert katana_api.calls_to("/sales_orders", "GET") == []
    sr.refresh_from_db()
    assert sr.external_id == "98765"


def test_duplicate_created_by_a_worker_whose_lease_expired_is_deleted_lowest_id_kept(
    katana_integration, katana_api, uk_order, make_sr, bound
):
    # given: this run's lease expired while its POST was on the wire (the worker stalled), and another worker created
    # the request's sales order (98700) while ours (98765) was on the wire
    sr = make_sr(uk_order)
    created = load_fixture("sales_order__created.json") | {"customer_ref": sr.reference}
    _create_while_the_lease_breaks(katana_api, katana_integration, created)
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    katana_api.listing("/sales_orders", [created | {"id": 98700}, created, created | {"id": 11, "customer_ref": "SY-other"}])
    katana_api.ok("DELETE", "/sales_orders/98765", {})
    # when
    run = run_flow(katana_integration, "push_orders")
    # then: one live sales order for the request, the lowest id bound, the deletion recorded
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    [deleted] = katana_api.calls_to("/sales_orders/98765", "DELETE")
    assert katana_api.calls_to("/sales_orders/11", "DELETE") == [] and katana_api.calls_to("/sales_orders/98700", "DELETE") == []
    sr.refresh_from_db()
    assert sr.external_id == "98700"
    push = OutboundPush.objects.get(kind="katana_sales_order")
    assert push.remote_id == "98700" and push.response["duplicates_deleted"] == [98765]
    assert not OpsException.objects.filter(code="katana_duplicate_sales_order").exists()


def test_duplicate_already_packed_is_left_and_raised_as_an_exception(katana_integration, katana_api, uk_order, make_sr, bound):
    sr = make_sr(uk_order)
    created = load_fixture("sales_order__created.json") | {"customer_ref": sr.reference}
    _create_while_the_lease_breaks(katana_api, katana_integration, created | {"id": 98700})
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    katana_api.listing("/sales_orders", [created | {"id": 98700}, created | {"status": "PACKED"}])
    run = run_flow(katana_integration, "push_orders")
    assert katana_api.calls_to("/sales_orders/98765", "DELETE") == []
    sr.refresh_from_db()
    assert sr.external_id == "98700"
    exc = OpsException.objects.get(code="katana_duplicate_sales_order")
    assert "98765 (PACKED)" in exc.message and exc.status == "open"
    assert run.status == SyncRun.Status.SUCCEEDED
