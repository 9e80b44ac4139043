"""Error classes at flow level: auth → integration Error; 429 → backoff honouring Retry-After;
5xx → transient with nothing written; 4xx → per-record failure, the rest continues."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from integrations.models import FlowState, Integration, OutboundPush, SyncRun
from inventory.models import Location
from orders.models import Fulfillment, ShippingRequestStatus

from .conftest import load_fixture, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status, fixture", [(401, "error__invalid_credentials.json"), (403, "error__unknown_domain.json")])
def test_auth_error_puts_integration_in_error_and_writes_nothing(osa_integration, osa_api, status, fixture):
    # given
    osa_api.fixture("GET", "/locations", fixture, status=status)
    # when
    run = run_flow(osa_integration, "pull_locations")
    # then
    osa_integration.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and run.error_class == "AuthError"
    assert osa_integration.status == Integration.Status.ERROR and Location.objects.exists() is False


def test_rate_limit_backs_off_at_least_retry_after(osa_integration, osa_api):
    # given
    osa_api.fixture("GET", "/locations", "error__rate_limited.json", status=429, headers={"Retry-After": "120"})
    before = timezone.now()
    # when
    run = run_flow(osa_integration, "pull_locations")
    # then
    state = FlowState.objects.get(integration=osa_integration, flow="pull_locations")
    assert run.error_class == "RateLimitedError" and state.consecutive_failures == 1
    assert state.next_run_at >= before + timedelta(seconds=120)


def test_server_error_is_transient_and_cursor_does_not_move(osa_integration, osa_api):
    # given
    osa_api.fixture("GET", "/shipments", "error__server.json", status=502)
    state = FlowState.objects.get(integration=osa_integration, flow="pull_fulfillments")
    state.cursor = {"since": "2026-11-20T00:00:00+00:00"}
    state.save()
    # when
    run = run_flow(osa_integration, "pull_fulfillments")
    # then
    state.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and run.error_class == "TransientError"
    assert state.cursor == {"since": "2026-11-20T00:00:00+00:00"} and Fulfillment.objects.exists() is False


def test_per_record_rejection_fails_only_that_request(osa_integration, osa_api, channel_order, make_sr, mapped):
    # given: OSA rejects the first request (unknown SKU), accepts the second
    first, second = make_sr(channel_order), make_sr(channel_order)
    osa_api.fixture("POST", "/orders", "orders_create__unknown_sku.json", status=422)
    created = load_fixture("orders_create__created.json")
    created["order"]["reference"] = second.reference
    osa_api.ok("POST", "/orders", created, status=201)
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then
    first.refresh_from_db(), second.refresh_from_db()
    assert run.status == SyncRun.Status.PARTIAL and (run.created, run.failed) == (1, 1)
    assert first.status == ShippingRequestStatus.FAILED and second.status == ShippingRequestStatus.SENT_TO_FULFILLMENT
    assert dict(OutboundPush.objects.values_list("idempotency_key", "status")) == {
        first.reference: "failed",
        second.reference: "sent",
    }


def test_retry_after_timeout_looks_up_reference_before_creating(
    osa_integration, osa_api, responses, channel_order, make_sr, mapped
):
    # given: a previous attempt timed out
    import requests

    sr = make_sr(channel_order)
    responses.add("POST", osa_api.url("/orders"), body=requests.ReadTimeout("timed out"))
    first = run_flow(osa_integration, "push_shipping_requests")
    responses.reset()
    found = load_fixture("orders_list__by_reference.json")
    found["orders"][0]["reference"] = sr.reference
    osa_api.ok("GET", "/orders", found)
    # when
    second = run_flow(osa_integration, "push_shipping_requests")
    # then: no second POST, the existing OSA order is bound
    sr.refresh_from_db()
    assert first.status == SyncRun.Status.FAILED and second.status == SyncRun.Status.SUCCEEDED
    assert osa_api.calls_to("/orders", "POST") == [] and sr.external_id == "OSA-000101"


def test_pull_fulfillments_matches_store_prefixed_order_numbers(osa_integration, osa_api, channel_order, make_sr):
    # given: OSA reports shipments by its prefixed number only ("1042-<reference>")
    sr = make_sr(channel_order, reference="SY-5770001-1", status=ShippingRequestStatus.SENT_TO_FULFILLMENT)
    p1 = load_fixture("shipments_list__two_pages_p1.json")
    p1["shipments"][0]["order_id"] = "unknown-id"
    p1["next_page"] = None
    osa_api.ok("GET", "/shipments", p1)
    settings_set(osa_integration, pull_fulfillments=True)
    # when
    before = timezone.now()
    run = run_flow(osa_integration, "pull_fulfillments")
    # then: the whole window was read, so the cursor is its upper bound (the run's start minus the safety lag)
    assert run.created == 1 and Fulfillment.objects.get().shipping_request == sr
    state = FlowState.objects.get(integration=osa_integration, flow="pull_fulfillments")
    since = datetime.fromisoformat(state.cursor["since"])
    assert before - timedelta(seconds=5) <= since <= timezone.now() - timedelta(seconds=5)


def test_osa_cancellation_matched_by_prefixed_number(osa_integration, osa_api, channel_order, make_sr):
    # given
    sr = make_sr(channel_order, reference="SY-5770001-1", status=ShippingRequestStatus.SENT_TO_FULFILLMENT)
    osa_api.fixture("GET", "/orders", "orders_list__canceled_by_osa.json")
    settings_set(osa_integration, osa_cancel_status="failed")
    # when
    run_flow(osa_integration, "pull_order_statuses")
    # then
    sr.refresh_from_db()
    assert sr.status == "failed"


def test_cancel_of_a_request_that_never_reached_osa_is_confirmed_without_cancel_call(
    osa_integration, osa_api, channel_order, make_sr
):
    # given: cancel requested before the request was ever sent
    sr = make_sr(channel_order, cancel_state="requested")
    osa_api.fixture("GET", "/orders", "orders_list__empty.json")
    # when
    run = run_flow(osa_integration, "cancel_shipping_requests")
    # then
    sr.refresh_from_db()
    assert run.updated == 1 and sr.cancel_state == "canceled"
    assert osa_api.calls_to("/orders", "GET")[0].request.params == {"reference": sr.reference}
    assert [c for c in osa_api.mock.calls if c.request.method == "POST"] == []


def test_pull_returns_for_unknown_order_is_a_per_record_error(osa_integration, osa_api):
    # given: an RMA whose order reference is not one of our shipping requests
    osa_api.fixture("GET", "/returns", "returns_list__received.json")
    # when
    run = run_flow(osa_integration, "pull_returns")
    # then
    from orders.models import Return

    assert run.status == SyncRun.Status.PARTIAL and run.errors[0]["external_id"] == "RMA-000007"
    assert Return.objects.exists() is False
