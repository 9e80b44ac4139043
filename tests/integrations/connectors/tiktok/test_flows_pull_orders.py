"""pull_orders end to end through the engine: paging, overlap, re-runs, every Orders setting of the
seed, cancellations, and seed 002's use cases (standard, discounts, cancellation, modification)."""
import copy
from decimal import Decimal
import time

import pytest
from django.utils import timezone

from integrations import services
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok import paging
from integrations.models import ExternalRef
from orders.models import Cancellation, Order
from tests.integrations.connectors.tiktok.conftest import envelope, load_fixture
from tests.orders import factories as f

pytestmark = pytest.mark.django_db

SINCE_2025 = "2025-01-01T00:00:00+00:00"


@pytest.fixture(autouse=True)
def three_pl_connector():
    f.register()
    yield
    f.unregister()


@pytest.fixture
def stocked(db):
    tpl = f.three_pl()
    wh = f.location(tpl, "wh-east")
    for sku in ("TEE-BLK-L", "CAP-RED"):
        f.stock(wh, f.product(sku), 50)
    f.rule("all to east", [wh])
    return wh


def raw(name: str) -> dict:
    return copy.deepcopy(load_fixture(f"orders_detail__{name}.json")["data"]["orders"][0])


def configure(integration, **values):
    services.integration_update_settings(integration=integration, values={**integration.settings, **values})
    integration.refresh_from_db()


def pull(integration, **params):
    state = integration.flow_states.get(flow="pull_orders")
    return services.flow_run(flow_state=state, params=params or None)


def answer_details(tiktok_api, *orders):
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": list(orders)})


def test_paging_continues_from_the_highest_update_time_without_detail_calls_and_cursor(tiktok_integration, tiktok_api, stocked):
    # given: two search pages of full orders (Get Order List holds them, §4.1); the ON_HOLD order of page 2 is
    # filtered out by the default statuses
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    tiktok_api.fixture("POST", c.PATH_ORDERS_SEARCH, "orders_search__page1.json")
    tiktok_api.fixture("POST", c.PATH_ORDERS_SEARCH, "orders_search__page2.json")
    # when
    run = pull(tiktok_integration)
    # then
    assert (run.status, run.pages, run.fetched, run.created) == ("succeeded", 2, 2, 2), run.errors
    searches = tiktok_api.calls_to(c.PATH_ORDERS_SEARCH)
    end = paging.window_end(run.started_at)
    assert end == int((run.started_at - paging.SAFETY_LAG).timestamp())  # fixed once per run: start minus the lag
    assert "page_token" not in tiktok_api.query(searches[0]) and "page_token" not in tiktok_api.query(searches[1])
    assert tiktok_api.body(searches[0]) == {"update_time_ge": 1735689600, "update_time_lt": end}
    # keyset continuation: page 2 is asked from page 1's highest update_time, not by its page token
    assert tiktok_api.body(searches[1]) == {"update_time_ge": 1749631000, "update_time_lt": end}
    assert tiktok_api.query(searches[0])["page_size"] == "100"  # the maximum
    assert tiktok_api.calls_to(c.PATH_ORDERS_DETAIL) == []  # one call per page: nothing fetched again
    assert run.api_calls == 2
    state = tiktok_integration.flow_states.get(flow="pull_orders")
    assert state.cursor == {"updated_since": end}
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["576812345678901234", "576812345678902222"]
    assert ExternalRef.objects.filter(integration=tiktok_integration, kind="order").count() == 2


def test_next_run_starts_from_cursor_minus_overlap_and_duplicates_nothing(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    state = tiktok_integration.flow_states.get(flow="pull_orders")
    state.cursor = {"updated_since": 1749630000}
    state.save()
    tiktok_api.fixture("POST", c.PATH_ORDERS_SEARCH, "orders_search__page2.json")
    search_standard = {"orders": [raw("standard")], "next_page_token": ""}
    tiktok_api.mock.replace("POST", tiktok_api._url(c.PATH_ORDERS_SEARCH), json=envelope(search_standard))
    first = pull(tiktok_integration)
    second = pull(tiktok_integration)  # the overlap re-reads the same order
    body = tiktok_api.body(tiktok_api.calls_to(c.PATH_ORDERS_SEARCH)[0])
    assert body["update_time_ge"] == 1749630000 - 600
    assert (first.created, second.created, second.unchanged) == (1, 0, 1)
    assert Order.objects.count() == 1 and Order.objects.get().lines.count() == 2


def test_transient_error_mid_paging_keeps_committed_page_and_resumes(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    tiktok_api.fixture("POST", c.PATH_ORDERS_SEARCH, "orders_search__page1.json")
    tiktok_api.error("POST", c.PATH_ORDERS_SEARCH, code=36009003, message="Internal error", status=503)
    run = pull(tiktok_integration)
    state = tiktok_integration.flow_states.get(flow="pull_orders")
    assert (run.status, run.error_class, run.created) == ("failed", "TransientError", 2)
    assert state.cursor == {"updated_since": 1749631000}  # highest update_time of the committed page
    assert state.next_run_at > timezone.now()


def test_auth_error_puts_integration_in_error(tiktok_integration, tiktok_api):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    tiktok_api.error("POST", c.PATH_ORDERS_SEARCH, code=106001, message="Invalid sign", status=401)
    run = pull(tiktok_integration)
    tiktok_integration.refresh_from_db()
    assert (run.status, run.error_class) == ("failed", "AuthError")
    assert tiktok_integration.status == "error" and "Invalid sign" in tiktok_integration.last_error
    assert Order.objects.count() == 0


def test_default_exclusion_date_is_the_integration_creation_time(tiktok_integration, tiktok_api):
    # given: no cutoff set; the fixture orders (2025) are older than the integration
    assert tiktok_integration.setting("orders_exclude_before") is None
    tiktok_api.fixture("POST", c.PATH_ORDERS_SEARCH, "orders_search__page2.json")
    run = pull(tiktok_integration)
    body = tiktok_api.body(tiktok_api.calls_to(c.PATH_ORDERS_SEARCH)[0])
    assert body["update_time_ge"] == int(tiktok_integration.created_at.timestamp())
    assert run.created == 0 and tiktok_api.calls_to(c.PATH_ORDERS_DETAIL) == []


def test_exclusion_date_filters_targeted_orders_too(tiktok_integration, tiktok_api):
    answer_details(tiktok_api, raw("standard"))
    run = pull(tiktok_integration, order_ids=["576812345678901234"])
    assert (run.fetched, Order.objects.count()) == (0, 0)
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    run = pull(tiktok_integration, order_ids=["576812345678901234"])
    assert (run.fetched, Order.objects.count()) == (1, 1)


def test_setting_statuses_decides_which_orders_are_pulled(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025, orders_statuses=["DELIVERED"])
    answer_details(tiktok_api, raw("standard"))
    assert pull(tiktok_integration, order_ids=["576812345678901234"]).fetched == 0
    configure(tiktok_integration, orders_statuses=["AWAITING_SHIPMENT"])
    assert pull(tiktok_integration, order_ids=["576812345678901234"]).created == 1


def test_setting_on_hold_pulls_on_hold_orders_as_on_hold(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("on_hold"))
    assert pull(tiktok_integration, order_ids=["576812345678903333"]).fetched == 0
    configure(tiktok_integration, orders_pull_on_hold=True)
    pull(tiktok_integration, order_ids=["576812345678903333"])
    order = Order.objects.get(external_id="576812345678903333")
    assert order.status == "onHold" and order.channel_hold is True
    # TikTok releases it: the next pull makes it New (then the hold rules / routing carry on)
    released = raw("on_hold")
    released.update(status="AWAITING_SHIPMENT", update_time=released["update_time"] + 3600)
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [released]}))
    pull(tiktok_integration, order_ids=["576812345678903333"])
    order.refresh_from_db()
    assert order.channel_hold is False and order.status != "onHold"


def test_setting_platform_shipped_pulls_fbt_orders_as_fulfilled(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("platform_shipped"))
    assert pull(tiktok_integration, order_ids=["576812345678904444"]).fetched == 0
    configure(tiktok_integration, orders_pull_platform_shipped=True)
    pull(tiktok_integration, order_ids=["576812345678904444"])
    order = Order.objects.get(external_id="576812345678904444")
    assert (order.fulfillment_type, order.status) == ("platform", "delivered")
    assert order.shipping_requests.count() == 0


def test_setting_specific_order_ids_limits_normal_polling(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025, orders_only_ids=["576812345678902222"])
    tiktok_api.fixture("POST", c.PATH_ORDERS_SEARCH, "orders_search__page1.json")
    tiktok_api.fixture("POST", c.PATH_ORDERS_SEARCH, "orders_search__page2.json")
    pull(tiktok_integration)
    assert tiktok_api.calls_to(c.PATH_ORDERS_DETAIL) == []
    assert list(Order.objects.values_list("external_id", flat=True)) == ["576812345678902222"]


def test_setting_virtual_bundles(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("virtual_bundle"))
    pull(tiktok_integration, order_ids=["576812345678905555"])
    assert sorted((sku, parent or "", qty) for sku, parent, qty in Order.objects.get().lines.values_list(
        "sku", "bundle_line__sku", "quantity")) == [("CAP-RED", "GIFT-SET", 2), ("GIFT-SET", "", 1), ("TEE-BLK-L", "GIFT-SET", 1)]
    Order.objects.all().delete()
    ExternalRef.objects.all().delete()
    configure(tiktok_integration, virtual_bundles=False)
    pull(tiktok_integration, order_ids=["576812345678905555"])
    assert list(Order.objects.get().lines.values_list("sku", "quantity")) == [("GIFT-SET", 1)]


def test_bundle_merged_with_the_same_sku_keeps_line_totals_equal_to_the_subtotal(tiktok_integration, tiktok_api, stocked):
    # given: issue 18 item 3 — a 29.99 bundle (1 tee + 2 caps) and a 19.99 tee bought alone: sub_total 49.98
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    order = raw("virtual_bundle")
    order["line_items"][0].update(original_price="29.99", sale_price="29.99", item_tax=[{"tax_amount": "2.39"}])
    order["line_items"].append({**copy.deepcopy(raw("standard")["line_items"][1]), "id": "L-ALONE"})
    order["payment"].update(sub_total="49.98", original_total_product_price="49.98", tax="3.99", total_amount="53.97")
    answer_details(tiktok_api, order)
    # when
    pull(tiktok_integration, order_ids=["576812345678905555"])
    # then: the ordered lines add up to the order exactly; each bundle's components add up to the bundle exactly
    local = Order.objects.get()
    ordered = list(local.lines.filter(bundle_line__isnull=True))
    assert sum(ln.total - ln.tax + ln.discount for ln in ordered) == local.subtotal == Decimal("49.98")
    assert sum(ln.total for ln in ordered) == local.subtotal + local.tax_total
    gift = local.lines.get(sku="GIFT-SET")
    assert sorted((c.sku, c.total) for c in gift.components.all()) == [("CAP-RED", Decimal("21.58")), ("TEE-BLK-L", Decimal("10.80"))]
    assert sum(c.total for c in gift.components.all()) == gift.total == Decimal("32.38")


def test_use_case_standard_order(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("standard"))
    pull(tiktok_integration, order_ids=["576812345678901234"])
    order = Order.objects.get()
    assert (order.channel_status, order.total, order.currency, order.ship_by.timestamp()) == (
        "AWAITING_SHIPMENT", order.total.__class__("54.52"), "USD", 1749859199)
    assert sorted((ln.sku, ln.quantity, str(ln.unit_price)) for ln in order.lines.all()) == [
        ("CAP-RED", 1, "12.50"), ("TEE-BLK-L", 2, "19.99")]
    assert order.status == "readyForFulfillment"  # hold over (2025 order), routed to the 3PL
    assert order.shipping_requests.count() == 1


def test_use_case_discounts(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("discounts"))
    pull(tiktok_integration, order_ids=["576812345678902222"])
    order = Order.objects.get()
    assert (str(order.discount_total), str(order.subtotal), str(order.total)) == ("5.00", "47.48", "51.52")
    assert str(order.lines.get(sku="CAP-RED").discount) == "3.00"


def test_use_case_buyer_cancellation(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("standard"))
    pull(tiktok_integration, order_ids=["576812345678901234"])
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [raw("cancelled")]}))
    pull(tiktok_integration, order_ids=["576812345678901234"])
    pull(tiktok_integration, order_ids=["576812345678901234"])  # re-run: nothing twice
    order = Order.objects.get()
    assert order.status == "canceled"
    cancellation = Cancellation.objects.get(order=order)
    assert (cancellation.source, cancellation.reason, cancellation.external_id) == (
        "buyer", "Buyer changed mind", "576812345678901234:order")


def test_line_cancellation_from_tiktok_is_applied_once(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("standard"))
    pull(tiktok_integration, order_ids=["576812345678901234"])
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [raw("line_cancelled")]}))
    pull(tiktok_integration, order_ids=["576812345678901234"])
    pull(tiktok_integration, order_ids=["576812345678901234"])
    order = Order.objects.get()
    assert order.lines.get(sku="TEE-BLK-L").canceled_quantity == 1
    assert list(Cancellation.objects.values_list("source", "is_full", "external_id")) == [
        ("seller", False, "576812345678901234:line:576812345678911112")]


def _recent(name: str, minutes_ago: int) -> dict:
    order = raw(name)
    created = int(time.time()) - minutes_ago * 60
    order.update(create_time=created, update_time=created + 30)
    return order


def test_use_case_modification_within_the_hold_is_applied(tiktok_integration, tiktok_api, stocked):
    # given: an order placed 5 minutes ago is held by the TikTok 60-minute rule
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    first = _recent("standard", 5)
    answer_details(tiktok_api, first)
    pull(tiktok_integration, order_ids=[first["id"]])
    order = Order.objects.get()
    assert order.status == "onHold" and order.shipping_requests.count() == 0
    # when: the buyer adds a cap within the hour
    edited = copy.deepcopy(first)
    edited["line_items"].append({**edited["line_items"][2], "id": "576812345678911114"})
    edited["update_time"] += 60
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [edited]}))
    run = pull(tiktok_integration, order_ids=[first["id"]])
    # then
    assert run.updated == 1
    assert order.lines.get(sku="CAP-RED").quantity == 2
    assert order.lines.get(sku="CAP-RED").channel_line_ids == ["576812345678911113", "576812345678911114"]


def test_use_case_modification_after_the_hold_is_not_applied_to_sent_order(tiktok_integration, tiktok_api, stocked):
    # given: an order past its hold, routed and sent to the 3PL
    from orders import services as order_services

    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("standard"))
    pull(tiktok_integration, order_ids=["576812345678901234"])
    order = Order.objects.get()
    order_services.shipping_request_mark_sent(shipping_request=order.shipping_requests.get(), external_id="OSA-1")
    # when: TikTok reports an edit (one cap more)
    edited = raw("standard")
    edited["line_items"].append({**edited["line_items"][2], "id": "576812345678911114"})
    edited["update_time"] += 60
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [edited]}))
    pull(tiktok_integration, order_ids=["576812345678901234"])
    # then: lines stay as sent; the ignored edit is on the order's history
    assert order.lines.get(sku="CAP-RED").quantity == 1
    assert order.events.filter(kind="edit_ignored").exists()


def test_malformed_order_is_recorded_and_others_still_land(tiktok_integration, tiktok_api, stocked):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    bad = raw("discounts")
    bad["line_items"][0]["seller_sku"] = ""
    answer_details(tiktok_api, raw("standard"), bad)
    run = pull(tiktok_integration, order_ids=["576812345678901234", "576812345678902222"])
    assert (run.status, run.created, run.failed) == ("partial", 1, 1)
    assert run.errors[0]["external_id"] == "576812345678902222" and "seller_sku" in run.errors[0]["field"]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["576812345678901234"]


def test_page_apply_queries_are_bounded(tiktok_integration, tiktok_api, stocked, django_assert_max_num_queries):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    answer_details(tiktok_api, raw("standard"), raw("discounts"), raw("virtual_bundle"))
    pull(tiktok_integration, order_ids=["576812345678901234", "576812345678902222", "576812345678905555"])
    with django_assert_max_num_queries(25):  # re-run: unchanged orders cost a constant number of queries
        run = pull(tiktok_integration, order_ids=["576812345678901234", "576812345678902222", "576812345678905555"])
    assert run.unchanged == 3


def test_order_placed_in_the_same_second_as_the_integration_is_pulled(tiktok_integration, tiktok_api, stocked):
    # given: the integration was created at hh:mm:ss.700 and the order at hh:mm:ss.900, which TikTok
    # reports in whole seconds (hh:mm:ss) — it was placed after the default cutoff, not before it
    created = timezone.now().replace(microsecond=700_000)
    type(tiktok_integration).objects.filter(pk=tiktok_integration.pk).update(created_at=created)
    tiktok_integration.refresh_from_db()
    order = raw("standard")
    order["create_time"] = order["update_time"] = int(created.timestamp())
    order["is_on_hold_order"] = False
    answer_details(tiktok_api, order)
    # when
    run = pull(tiktok_integration, order_ids=[order["id"]])
    # then
    assert (run.fetched, Order.objects.filter(external_id=order["id"]).count()) == (1, 1)


def test_unreadable_order_leaves_an_exception_with_its_raw_payload_until_it_is_read(tiktok_integration, tiktok_api, stocked):
    # given: TikTok sends an order the mapper cannot read
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    bad = raw("discounts")
    bad["line_items"][0]["seller_sku"] = ""
    answer_details(tiktok_api, bad)
    run = pull(tiktok_integration, order_ids=["576812345678902222"])
    # then: not silently dropped: an open exception per order, raw order kept for the retry
    from integrations.models import OpsException

    assert (run.status, run.failed) == ("partial", 1)
    exc = OpsException.objects.get(code="record_skipped")
    assert exc.status == "open"
    assert exc.dedup_key == f"record:{tiktok_integration.pk}:pull_orders:576812345678902222"
    assert exc.details["payload"] == bad
    assert exc.details["flow"] == "pull_orders" and "seller_sku" in exc.details["field"]
    # when the order is read successfully later (fixed remotely or by a mapper fix), the exception resolves
    tiktok_api.mock.reset()
    answer_details(tiktok_api, raw("discounts"))
    run = pull(tiktok_integration, order_ids=["576812345678902222"])
    exc.refresh_from_db()
    assert (run.status, run.created) == ("succeeded", 1)
    assert exc.status == "resolved"
    assert Order.objects.filter(external_id="576812345678902222").count() == 1


class OffsetPagingTikTok:
    """Order search that pages by OFFSET (page_token = offset, 2 orders a page) over orders sorted by
    update_time, with order detail from the same state; `on_search[n]` runs before the n-th search."""

    def __init__(self, tiktok_api, orders, on_search=None):
        self.orders = {o["id"]: o for o in orders}
        self.on_search = on_search or {}
        self.searches = 0
        tiktok_api.mock.add_callback("POST", tiktok_api._url(c.PATH_ORDERS_SEARCH), callback=self.search,
                                     content_type="application/json")
        tiktok_api.mock.add_callback("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), callback=self.detail,
                                     content_type="application/json")

    def search(self, request):
        import json
        from urllib.parse import parse_qs, urlsplit

        self.searches += 1
        if self.searches in self.on_search:
            self.on_search[self.searches](self)
        body, query = json.loads(request.body), {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        rows = sorted((o for o in self.orders.values() if body["update_time_ge"] <= o["update_time"] < body["update_time_lt"]),
                      key=lambda o: (o["update_time"], o["id"]))
        offset = int(query.get("page_token") or 0)
        more = offset + 2 < len(rows)
        return 200, {}, json.dumps(envelope({"orders": rows[offset:offset + 2], "total_count": len(rows),
                                             "next_page_token": str(offset + 2) if more else ""}))

    def detail(self, request):
        import json
        from urllib.parse import parse_qs, urlsplit

        ids = parse_qs(urlsplit(request.url).query)["ids"][0].split(",")
        return 200, {}, json.dumps(envelope({"orders": [self.orders[i] for i in ids]}))


def test_an_order_updated_while_paging_makes_no_other_order_vanish_with_offset_paging(tiktok_integration, tiktok_api, stocked):
    # given: five orders of June 2025 (far behind the cursor overlap), a remote that pages by offset, and the
    # second order (already read on page 1) updated by the buyer just before page 2 is asked
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    orders = []
    for i in range(5):
        order = raw("standard")
        order["id"], order["update_time"] = f"5768123456789{i:05d}", 1749630000 + 60 * i
        orders.append(order)

    def buyer_edits_the_second_order(remote):
        remote.orders[orders[1]["id"]] = {**orders[1], "update_time": int(time.time()) + 5}

    remote = OffsetPagingTikTok(tiktok_api, orders, on_search={2: buyer_edits_the_second_order})
    # when
    run = pull(tiktok_integration)
    # then: every order is in the hub (the third one slid onto page 1's offsets and was still read)
    assert run.status == "succeeded", run.errors
    assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(o["id"] for o in orders)
    assert ExternalRef.objects.filter(integration=tiktok_integration, kind="order").count() == 5
    state = tiktok_integration.flow_states.get(flow="pull_orders")
    assert state.cursor == {"updated_since": paging.window_end(run.started_at)}
    assert remote.searches >= 3
