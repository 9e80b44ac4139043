"""Returns and refunds pull: status/type filters, matching-order rule, paging, re-runs without duplicates."""
from decimal import Decimal

import pytest

from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok import paging
from tests.integrations.connectors.tiktok.conftest import load_fixture
from orders.models import Order, Refund, Return

ORDER_ID = "576461413038785001"


def run(integration, flow):
    return services.flow_run(flow_state=integration.flow_states.get(flow=flow))


def configure(integration, **values):
    services.integration_update_settings(integration=integration, values=values)
    integration.refresh_from_db()


@pytest.fixture
def order(tiktok_integration):
    return Order.objects.create(integration=tiktok_integration, external_id=ORDER_ID, status="delivered", channel_status="DELIVERED")


def test_returns_pulled_with_lines_amounts_and_default_status_filter(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("POST", ep.PATH_RETURNS_SEARCH, "catalog/returns_search__two.json")

    sync = run(tiktok_integration, "pull_returns")

    assert sync.status == "succeeded" and sync.created == 2
    ret = Return.objects.get(external_id="4035318504086820001")
    assert ret.order == order and ret.status == "RETURN_OR_REFUND_REQUEST_COMPLETE" and ret.refund_total == Decimal("39.98")
    assert ret.reason == "Package or product is damaged" and ret.tracking_number == "9400111899223197428490"
    assert [(ln.sku, ln.quantity) for ln in ret.lines.all()] == [("TEE-RED-M", 2)]
    assert Return.objects.get(external_id="4035318504086820002").order is None
    call = tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[0]
    assert tiktok_api.body(call)["return_status"] == ["RETURN_OR_REFUND_REQUEST_COMPLETE"]
    assert tiktok_api.body(call)["update_time_ge"] == int(tiktok_integration.created_at.timestamp())
    assert tiktok_api.query(call)["sort_field"] == "update_time"


def test_returns_rerun_creates_no_duplicates(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("POST", ep.PATH_RETURNS_SEARCH, "catalog/returns_search__two.json")
    run(tiktok_integration, "pull_returns")

    again = run(tiktok_integration, "pull_returns")

    assert again.created == 0 and again.unchanged == 2 and Return.objects.count() == 2


def test_matching_order_required_skips_returns_of_unknown_orders(tiktok_integration, tiktok_api, order):
    configure(tiktok_integration, returns_require_order=True)
    tiktok_api.fixture("POST", ep.PATH_RETURNS_SEARCH, "catalog/returns_search__two.json")

    sync = run(tiktok_integration, "pull_returns")

    assert list(Return.objects.values_list("external_id", flat=True)) == ["4035318504086820001"]
    assert sync.created == 1 and sync.failed == 0


def test_return_status_setting_is_sent_to_tiktok(tiktok_integration, tiktok_api):
    configure(tiktok_integration, return_statuses=["AWAITING_BUYER_SHIP", "BUYER_SHIPPED_ITEM"])
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data={"return_orders": [], "next_page_token": ""})

    run(tiktok_integration, "pull_returns")

    assert tiktok_api.body(tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[0])["return_status"] == ["AWAITING_BUYER_SHIP", "BUYER_SHIPPED_ITEM"]


def test_returns_paging_continues_from_the_highest_update_time(tiktok_integration, tiktok_api, order):
    # given: the last run completed June 2025; a first page (one return, more to come), then the rest
    state = tiktok_integration.flow_states.get(flow="pull_returns")
    state.cursor = {"since": 1749600000}
    state.save()
    two = load_fixture("catalog/returns_search__two.json")["data"]["return_orders"]
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data={"return_orders": two[:1], "next_page_token": "cGFnZT0y"})
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data={"return_orders": two, "next_page_token": ""})

    sync = run(tiktok_integration, "pull_returns")

    # then: the second search starts at the first page's highest update_time (no page token); the repeated
    # return is not applied twice; the cursor is the window's end
    assert sync.pages == 2 and sync.created == 2 and Return.objects.count() == 2
    second = tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[1]
    end = paging.window_end(sync.started_at)
    assert "page_token" not in tiktok_api.query(second)
    assert tiktok_api.body(tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[0])["update_time_ge"] == 1749600000 - 120  # overlap
    assert (tiktok_api.body(second)["update_time_ge"], tiktok_api.body(second)["update_time_lt"]) == (1749620000, end)
    assert sync.fetched == 2
    assert tiktok_integration.flow_states.get(flow="pull_returns").cursor == {"since": end}


def test_malformed_return_is_recorded_and_changes_nothing(tiktok_integration, tiktok_api):
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data={"next_page_token": "", "return_orders": [
        {"return_id": "R-BAD", "order_id": ORDER_ID, "return_status": "RETURN_OR_REFUND_REQUEST_COMPLETE",
         "refund_amount": {"refund_total": "abc"}, "return_line_items": []}]})

    sync = run(tiktok_integration, "pull_returns")

    assert sync.failed == 1 and sync.errors[0]["field"] == "refund_total"
    assert not Return.objects.exists()


def test_refunds_default_type_is_return_and_refund(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("POST", ep.PATH_RETURNS_SEARCH, "catalog/returns_search__two.json")

    sync = run(tiktok_integration, "pull_refunds")

    refund = Refund.objects.get()
    assert (refund.external_id, refund.refund_type, refund.amount, refund.order) == (
        "4035318504086820001", "RETURN_AND_REFUND", Decimal("39.98"), order)
    body = tiktok_api.body(tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[0])
    assert body["return_types"] == ["RETURN_AND_REFUND"] and body["return_status"] == ["RETURN_OR_REFUND_REQUEST_COMPLETE"]
    assert sync.created == 1


def test_refund_types_setting_adds_refund_only(tiktok_integration, tiktok_api, order):
    configure(tiktok_integration, refund_types=["RETURN_AND_REFUND", "REFUND"])
    tiktok_api.fixture("POST", ep.PATH_RETURNS_SEARCH, "catalog/returns_search__two.json")
    tiktok_api.fixture("POST", ep.PATH_RETURNS_SEARCH, "catalog/returns_search__two.json")

    run(tiktok_integration, "pull_refunds")
    again = run(tiktok_integration, "pull_refunds")

    assert sorted(Refund.objects.values_list("refund_type", flat=True)) == ["REFUND", "RETURN_AND_REFUND"]
    assert again.created == 0 and Refund.objects.count() == 2


def test_refund_statuses_setting_is_sent_to_tiktok(tiktok_integration, tiktok_api):
    configure(tiktok_integration, refund_statuses=["RETURN_OR_REFUND_REQUEST_SUCCESS"])
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data={"return_orders": [], "next_page_token": ""})

    run(tiktok_integration, "pull_refunds")

    assert tiktok_api.body(tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[0])["return_status"] == ["RETURN_OR_REFUND_REQUEST_SUCCESS"]


def test_webhook_targeted_run_searches_by_return_id_and_keeps_the_cursor(tiktok_integration, tiktok_api, order):
    state = tiktok_integration.flow_states.get(flow="pull_returns")
    state.cursor = {"since": 1749600000}
    state.save()
    tiktok_api.fixture("POST", ep.PATH_RETURNS_SEARCH, "catalog/returns_search__two.json")

    services.flow_run(flow_state=state, trigger="webhook", params={"return_ids": ["4035318504086820001"]})

    assert tiktok_api.body(tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[0])["return_ids"] == ["4035318504086820001"]
    state.refresh_from_db()
    assert state.cursor == {"since": 1749600000} and Return.objects.filter(order=order).exists()


# --- push refunds ---

@pytest.fixture
def local_refund(tiktok_integration, order):
    from catalog.models import ChannelOption, Product
    from orders.models import OrderLine, RefundLine

    product = Product.objects.create(sku="TEE-RED-M", name="Tee red")
    ChannelOption.objects.create(product=product, integration=tiktok_integration, remote_sku_id="1729592969712207013")
    OrderLine.objects.create(order=order, sku="TEE-RED-M", quantity=2, channel_line_ids=["577001", "577002"])
    refund = Refund.objects.create(order=order, integration=tiktok_integration, status="pending", amount=Decimal("19.99"))
    RefundLine.objects.create(refund=refund, sku="TEE-RED-M", quantity=1, amount=Decimal("19.99"))
    return refund


def set_order_status(order, status):
    Order.objects.filter(pk=order.pk).update(channel_status=status)


@pytest.mark.parametrize("_case, status, setting, expected_reason", [
    ("delivered", "DELIVERED", {}, "ecom_order_delivered_refund_and_return_reason_damaged"),
    ("delivered_other_reason", "DELIVERED", {"refund_reason_delivered": "ecom_order_delivered_refund_and_return_reason_wrong_item"},
     "ecom_order_delivered_refund_and_return_reason_wrong_item"),
    ("in_transit", "IN_TRANSIT", {}, "ecom_order_in_transit_refund_reason_missed_delivery_date"),
    ("awaiting_collection", "AWAITING_COLLECTION", {"refund_reason_in_transit": "ecom_order_in_transit_refund_reason_package_lost"},
     "ecom_order_in_transit_refund_reason_package_lost"),
])
def test_push_refund_uses_the_default_reason_of_the_order_state(tiktok_integration, tiktok_api, order, local_refund, _case,
                                                                 status, setting, expected_reason):
    set_order_status(order, status)
    if setting:
        configure(tiktok_integration, **setting)
    tiktok_api.ok("POST", ep.PATH_RETURN_CREATE, data={"return_id": "4035318504086821111"})

    first = run(tiktok_integration, "push_refunds")
    second = run(tiktok_integration, "push_refunds")

    calls = tiktok_api.calls_to(ep.PATH_RETURN_CREATE)
    assert len(calls) == 1 and first.created == 1 and second.fetched == 0
    body = tiktok_api.body(calls[0])
    assert body == {"order_id": ORDER_ID, "return_type": "REFUND", "return_reason": expected_reason,
                    "skus": [{"sku_id": "1729592969712207013", "quantity": 1}], "order_line_item_ids": ["577001"],
                    "refund_total": "19.99", "currency": "USD"}
    assert tiktok_api.query(calls[0])["idempotency_key"] == f"refund:{local_refund.pk}"


def test_push_refund_for_not_shipped_order_cancels_with_the_default_reason(tiktok_integration, tiktok_api, order, local_refund):
    set_order_status(order, "AWAITING_SHIPMENT")
    configure(tiktok_integration, cancel_reason_not_shipped="seller_cancel_reason_wrong_price")
    tiktok_api.ok("POST", "/return_refund/202309/cancellations", data={"cancel_id": "C1", "cancel_status": "CANCELLATION_REQUEST_COMPLETE"})

    sync = run(tiktok_integration, "push_refunds")

    assert sync.created == 1
    assert tiktok_api.body(tiktok_api.calls_to("/return_refund/202309/cancellations")[0]) == {
        "order_id": ORDER_ID, "cancel_reason": "seller_cancel_reason_wrong_price", "order_line_item_ids": ["577001"]}


PENDING = {"return_orders": [{"return_id": "R-BUYER", "order_id": ORDER_ID, "return_type": "REFUND",
                              "return_status": "RETURN_OR_REFUND_REQUEST_PENDING"}], "next_page_token": ""}


@pytest.mark.parametrize("reject", [False, True])
def test_unshipped_order_cancellation_never_looks_for_buyer_refund_requests(tiktok_integration, tiktok_api, order, local_refund,
                                                                            reject):
    # reference §8.3: a buyer refund request exists from Awaiting collection onward, never on an unshipped order
    set_order_status(order, "AWAITING_SHIPMENT")
    configure(tiktok_integration, reject_buyer_refund_on_seller_cancel=reject)
    tiktok_api.ok("POST", "/return_refund/202309/cancellations", data={"cancel_id": "C1"})

    sync = run(tiktok_integration, "push_refunds")

    assert sync.created == 1
    assert tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH) == []
    assert len(tiktok_api.calls_to("/return_refund/202309/cancellations")) == 1


def test_refunds_pulled_from_tiktok_are_never_pushed_back(tiktok_integration, tiktok_api, order):
    Refund.objects.create(order=order, integration=tiktok_integration, external_id="4035318504086820001", status="x")

    sync = run(tiktok_integration, "push_refunds")

    assert sync.fetched == 0 and len(tiktok_api.mock.calls) == 0


def test_push_refunds_dry_run_sends_nothing(tiktok_integration, tiktok_api, order, local_refund):
    set_order_status(order, "DELIVERED")

    services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="push_refunds"), dry_run=True)

    assert len(tiktok_api.mock.calls) == 0
