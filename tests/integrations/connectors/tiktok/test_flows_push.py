"""push_fulfillments, push_cancellations, push_buyer_messages / push_order_cards: what is sent, the
Fulfillments/Orders settings, never twice, and failures visible."""
import json

import pytest

from integrations import services
from django.utils import timezone

from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.flows_orders import PushFulfillments
from integrations.flows import FlowContext
from integrations.exceptions import SettingsError
from integrations.models import Mapping, OpsException, OutboundPush
from orders import services as order_services
from orders.interface import FulfillmentIn, QuantityLineIn
from orders.models import Cancellation, CancellationLine, Fulfillment, FulfillmentLine, Order
from tests.integrations.connectors.tiktok.conftest import load_fixture
from tests.integrations.connectors.tiktok.test_flows_pull_orders import SINCE_2025, configure, pull, raw
from tests.orders import factories as f

pytestmark = pytest.mark.django_db

PROVIDERS = c.PATH_SHIPPING_PROVIDERS.format(delivery_option_id="7129736823457654571")
MARK = c.PATH_MARK_PACKAGE_SHIPPED.format(order_id="576812345678901234")


@pytest.fixture(autouse=True)
def three_pl_connector():
    f.register()
    yield
    f.unregister()


@pytest.fixture
def order(tiktok_integration, tiktok_api):
    """The standard TikTok order, routed to a 3PL and sent."""
    tpl = f.three_pl()
    wh = f.location(tpl, "wh-east")
    for sku in ("TEE-BLK-L", "CAP-RED"):
        f.stock(wh, f.product(sku), 50)
    f.rule("all to east", [wh])
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [raw("standard")]})
    pull(tiktok_integration, order_ids=["576812345678901234"])
    order = Order.objects.get()
    order_services.shipping_request_mark_sent(shipping_request=order.shipping_requests.get(), external_id="OSA-1")
    tiktok_api.mock.calls.reset()
    return order


def ship(order, external_id, lines, carrier="USPS", tracking="9400111899223856928499"):
    sr = order.shipping_requests.get()
    return order_services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(
        external_id=external_id, carrier=carrier, tracking_numbers=(tracking,),
        lines=tuple(QuantityLineIn(sku=sku, quantity=qty) for sku, qty in lines)))[0]


def push(integration, flow):
    return services.flow_run(flow_state=integration.flow_states.get(flow=flow))


# --- fulfillments ----------------------------------------------------------------------------

def test_partial_then_full_fulfillment_marks_each_shipment_with_its_line_items(tiktok_integration, tiktok_api, order):
    # given: seed 002 "partial fulfillment" — one tee first, the rest later
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    first = ship(order, "F1", [("TEE-BLK-L", 1)])
    # when
    run = push(tiktok_integration, "push_fulfillments")
    # then
    assert (run.status, run.created) == ("succeeded", 1)
    [call] = tiktok_api.calls_to(MARK)
    assert tiktok_api.body(call) == {"tracking_number": "9400111899223856928499", "shipping_provider_id": "6617675021119438849",
                                     "order_line_item_ids": ["576812345678911111"]}
    sent = OutboundPush.objects.get(kind="fulfillment", idempotency_key=f"fulfillment:{first.pk}")
    assert (sent.status, sent.remote_id) == ("sent", "1153132168123859123")
    # when the rest ships
    ship(order, "F2", [("TEE-BLK-L", 1), ("CAP-RED", 1)], tracking="9400111899223856928500")
    push(tiktok_integration, "push_fulfillments")
    push(tiktok_integration, "push_fulfillments")  # re-run sends nothing again
    calls = tiktok_api.calls_to(MARK)
    assert len(calls) == 2
    assert tiktok_api.body(calls[1])["order_line_item_ids"] == ["576812345678911112", "576812345678911113"]
    assert len(tiktok_api.calls_to(PROVIDERS)) == 2  # one per run that had work (cached within a run)


def test_two_partial_shipments_pushed_in_one_run_name_disjoint_line_items(tiktok_integration, tiktok_api, order):
    # given: issue 10 defect 1 — two parcels of one order, both waiting for the same push run
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    ship(order, "F1", [("TEE-BLK-L", 1)])
    ship(order, "F2", [("TEE-BLK-L", 1), ("CAP-RED", 1)], tracking="9400111899223856928500")
    # when
    run = push(tiktok_integration, "push_fulfillments")
    push(tiktok_integration, "push_fulfillments")
    # then: each TikTok line item is named exactly once
    assert (run.status, run.created) == ("succeeded", 2)
    bodies = [tiktok_api.body(call)["order_line_item_ids"] for call in tiktok_api.calls_to(MARK)]
    assert bodies == [["576812345678911111"], ["576812345678911112", "576812345678911113"]]
    assert sorted(OutboundPush.objects.filter(kind="fulfillment").values_list("status", flat=True)) == ["sent", "sent"]


def test_dry_run_of_two_parcels_shows_disjoint_line_items_and_sends_nothing(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    ship(order, "F1", [("TEE-BLK-L", 1)])
    ship(order, "F2", [("TEE-BLK-L", 1), ("CAP-RED", 1)])
    state = tiktok_integration.flow_states.get(flow="push_fulfillments")
    flow = PushFulfillments(FlowContext(integration=tiktok_integration, flow_state=state, run=None, started_at=timezone.now(),
                                        dry_run=True))
    payloads = [item["dry_run"]["order_line_item_ids"] for page in flow.pages({}) for item in page.items]
    assert payloads == [["576812345678911111"], ["576812345678911112", "576812345678911113"]]
    assert tiktok_api.calls_to(MARK) == [] and not OutboundPush.objects.exists()


@pytest.fixture
def bundle_order(tiktok_integration, tiktok_api):
    """The standard TikTok order where TEE-BLK-L is a catalog bundle of 1 × PART-A and 2 × PART-B (expanded at routing)."""
    tpl = f.three_pl()
    wh = f.location(tpl, "wh-east")
    part_a, part_b, cap = f.product("PART-A"), f.product("PART-B"), f.product("CAP-RED")
    f.bundle("TEE-BLK-L", [(part_a, 1), (part_b, 2)])
    for prod in (part_a, part_b, cap):
        f.stock(wh, prod, 50)
    f.rule("all to east", [wh])
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [raw("standard")]})
    pull(tiktok_integration, order_ids=["576812345678901234"])
    order = Order.objects.get()
    order_services.shipping_request_mark_sent(shipping_request=order.shipping_requests.get(), external_id="OSA-1")
    tiktok_api.mock.calls.reset()
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    return order


def test_bundle_shipped_whole_names_each_bundle_line_item_once(tiktok_integration, tiktok_api, bundle_order):
    # given: both bundle units (2 × A, 4 × B) and the cap in one parcel
    ship(bundle_order, "F1", [("PART-A", 2), ("PART-B", 4), ("CAP-RED", 1)])
    # when
    push(tiktok_integration, "push_fulfillments")
    # then: the bundle's line items once each, not once per component
    [call] = tiktok_api.calls_to(MARK)
    assert tiktok_api.body(call)["order_line_item_ids"] == ["576812345678911111", "576812345678911112", "576812345678911113"]


def test_bundle_line_item_is_marked_only_when_all_its_components_shipped(tiktok_integration, tiktok_api, bundle_order):
    # given: one parcel with only component A of both bundle units, then one with the B parts and the cap
    first = ship(bundle_order, "F1", [("PART-A", 2)])
    ship(bundle_order, "F2", [("PART-B", 4), ("CAP-RED", 1)], tracking="9400111899223856928500")
    # when
    run = push(tiktok_integration, "push_fulfillments")
    push(tiktok_integration, "push_fulfillments")
    # then: the first parcel completes no bundle unit and tells TikTok nothing; the second names everything once
    [call] = tiktok_api.calls_to(MARK)
    assert tiktok_api.body(call) == {"tracking_number": "9400111899223856928500", "shipping_provider_id": "6617675021119438849",
                                     "order_line_item_ids": ["576812345678911111", "576812345678911112", "576812345678911113"]}
    assert (run.status, run.created, run.unchanged) == ("succeeded", 1, 1)
    waiting = OutboundPush.objects.get(idempotency_key=f"fulfillment:{first.pk}")
    assert (waiting.status, waiting.payload["action"], waiting.payload["order_line_item_ids"]) == ("sent", "none", [])
    assert not OpsException.objects.filter(code="no_tiktok_line_items").exists()


def test_a_parcel_that_completes_nothing_needs_no_tracking_or_known_carrier(tiktok_integration, tiktok_api, bundle_order):
    # given: component A alone leaves with a courier TikTok does not know and no tracking (nothing to tell TikTok)
    first = ship(bundle_order, "F1", [("PART-A", 2)], carrier="Bob's Courier", tracking="")
    # when
    run = push(tiktok_integration, "push_fulfillments")
    # then
    assert (run.status, run.unchanged, run.failed) == ("succeeded", 1, 0)
    assert OutboundPush.objects.get(idempotency_key=f"fulfillment:{first.pk}").payload["action"] == "none"
    assert not OpsException.objects.exists() and tiktok_api.calls_to(MARK) == []


def test_bundle_units_completed_by_successive_parcels_name_successive_line_items(tiktok_integration, tiktok_api, bundle_order):
    ship(bundle_order, "F1", [("PART-A", 1), ("PART-B", 2)])
    ship(bundle_order, "F2", [("PART-A", 1), ("PART-B", 2), ("CAP-RED", 1)], tracking="9400111899223856928500")
    push(tiktok_integration, "push_fulfillments")
    bodies = [tiktok_api.body(call)["order_line_item_ids"] for call in tiktok_api.calls_to(MARK)]
    assert bodies == [["576812345678911111"], ["576812345678911112", "576812345678911113"]]


@pytest.mark.parametrize("seed", range(10))
def test_any_split_into_parcels_and_runs_names_every_line_item_exactly_once(tiktok_integration, tiktok_api, bundle_order, seed):
    # given: the units (2 × A and 4 × B for the two bundle tees, 1 cap) dealt at random into parcels, with push runs
    # at random points in between (several parcels may wait for the same run)
    import random

    rng = random.Random(seed)
    units = ["PART-A"] * 2 + ["PART-B"] * 4 + ["CAP-RED"]
    rng.shuffle(units)
    parcels, current = [], []
    for sku in units:
        current.append(sku)
        if rng.random() < 0.4:
            parcels.append(current)
            current = []
    if current:
        parcels.append(current)
    # when
    for n, parcel in enumerate(parcels):
        ship(bundle_order, f"F{n}", [(sku, parcel.count(sku)) for sku in sorted(set(parcel))], tracking=f"94001118992238569{n:05d}")
        if rng.random() < 0.5:
            push(tiktok_integration, "push_fulfillments")
    push(tiktok_integration, "push_fulfillments")
    # then
    named = [i for call in tiktok_api.calls_to(MARK) for i in tiktok_api.body(call)["order_line_item_ids"]]
    assert sorted(named) == ["576812345678911111", "576812345678911112", "576812345678911113"], parcels
    assert all(tiktok_api.body(call)["order_line_item_ids"] for call in tiktok_api.calls_to(MARK))
    assert not OpsException.objects.filter(status="open").exists()


def test_cancelled_line_item_is_never_named_in_a_shipment(tiktok_integration, tiktok_api, order):
    # given: the buyer cancelled the first tee's line item at TikTok; the other tee and the cap ship
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    Cancellation.objects.create(order=order, integration=tiktok_integration, source="buyer", is_full=False,
                                external_id="576812345678901234:line:576812345678911111")
    order.lines.filter(sku="TEE-BLK-L").update(canceled_quantity=1)
    ship(order, "F1", [("TEE-BLK-L", 1), ("CAP-RED", 1)])
    # when
    push(tiktok_integration, "push_fulfillments")
    # then
    [call] = tiktok_api.calls_to(MARK)
    assert tiktok_api.body(call)["order_line_item_ids"] == ["576812345678911112", "576812345678911113"]


def test_virtual_bundle_line_item_is_named_once_by_the_parcel_that_ships_its_last_component(tiktok_integration, tiktok_api):
    # given: a combined listing (GIFT-SET = 1 tee + 2 caps) pulled with virtual bundles on, sent to the 3PL
    tpl = f.three_pl()
    wh = f.location(tpl, "wh-east")
    for sku in ("TEE-BLK-L", "CAP-RED"):
        f.stock(wh, f.product(sku), 50)
    f.rule("all to east", [wh])
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [raw("virtual_bundle")]})
    pull(tiktok_integration, order_ids=["576812345678905555"])
    order = Order.objects.get()
    assert order.status == "readyForFulfillment"
    sr = order.shipping_requests.get()
    assert sorted((ln.sku, ln.quantity) for ln in sr.lines.all()) == [("CAP-RED", 2), ("TEE-BLK-L", 1)]
    order_services.shipping_request_mark_sent(shipping_request=sr, external_id="OSA-1")
    mark = c.PATH_MARK_PACKAGE_SHIPPED.format(order_id="576812345678905555")
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", mark, "mark_package_shipped__ok.json")
    # when: the tee and one cap ship first, the other cap later; both pushed in one run
    ship(order, "F1", [("TEE-BLK-L", 1), ("CAP-RED", 1)])
    ship(order, "F2", [("CAP-RED", 1)], tracking="9400111899223856928500")
    push(tiktok_integration, "push_fulfillments")
    # then: the bundle's one line item, once, with the tracking of the parcel that completed it
    [call] = tiktok_api.calls_to(mark)
    assert tiktok_api.body(call)["order_line_item_ids"] == ["576812345678955551"]
    assert tiktok_api.body(call)["tracking_number"] == "9400111899223856928500"
    order.refresh_from_db()
    assert order.status == "fulfilled"


def test_tracking_update_when_the_items_were_already_shipped(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    update = c.PATH_PACKAGE_SHIPPING_INFO_UPDATE.format(package_id="1153132168123859123")
    tiktok_api.fixture("POST", update, "update_shipping_info__ok.json")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)])
    push(tiktok_integration, "push_fulfillments")
    # a corrected shipment for units TikTok already has as shipped (new tracking, UPS)
    again = Fulfillment.objects.create(order=order, external_id="F1-fix", carrier="UPS", tracking_numbers=["1Z999AA10123456784"])
    FulfillmentLine.objects.create(fulfillment=again, order_line=order.lines.get(sku="TEE-BLK-L"), sku="TEE-BLK-L", quantity=1)
    push(tiktok_integration, "push_fulfillments")
    [call] = tiktok_api.calls_to(update)
    assert tiktok_api.body(call) == {"tracking_number": "1Z999AA10123456784", "shipping_provider_id": "6617675021119438850"}
    assert len(tiktok_api.calls_to(MARK)) == 1


def test_unsupported_carrier_raises_fulfillment_exception_and_sends_nothing(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)], carrier="Bob's Courier")
    run = push(tiktok_integration, "push_fulfillments")
    assert run.status == "partial" and tiktok_api.calls_to(MARK) == []
    exc = OpsException.objects.get(code="unsupported_carrier")
    assert (exc.category, exc.cause_key, exc.status) == ("fulfillment", "carrier:Bob's Courier", "open")
    assert not OutboundPush.objects.filter(kind="fulfillment").exists()


def test_unsupported_carrier_exception_resolves_when_the_mapping_lets_the_push_through(tiktok_integration, tiktok_api, order):
    # given: the newcomer's case — blocked on the carrier
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)], carrier="Bob's Courier")
    push(tiktok_integration, "push_fulfillments")
    exc = OpsException.objects.get(code="unsupported_carrier")
    assert exc.details == {"flow": "push_fulfillments"}  # Re-drive knows which flow to run again
    # when the mapping is added and the fulfillment is pushed
    Mapping.objects.create(integration=tiktok_integration, kind="carrier", source="Bob's Courier", target="FedEx")
    run = push(tiktok_integration, "push_fulfillments")
    # then: its cause is gone, so is the exception
    exc.refresh_from_db()
    assert (run.status, run.created) == ("succeeded", 1)
    assert (exc.status, exc.resolution_note) == ("resolved", "fulfillment pushed")


def test_carrier_mapping_resolves_before_names(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    Mapping.objects.create(integration=tiktok_integration, kind="carrier", source="Bob's Courier", target="FedEx")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)], carrier="Bob's Courier")
    push(tiktok_integration, "push_fulfillments")
    assert tiktok_api.body(tiktok_api.calls_to(MARK)[0])["shipping_provider_id"] == "6617675021119438851"


def test_setting_fallback_carrier(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)], carrier="Bob's Courier")
    configure(tiktok_integration, fallback_carrier_enabled=True, fallback_carrier="UPS")
    push(tiktok_integration, "push_fulfillments")
    assert tiktok_api.body(tiktok_api.calls_to(MARK)[0])["shipping_provider_id"] == "6617675021119438850"
    assert OutboundPush.objects.get(kind="fulfillment").payload["provider_match"] == "fallback"


def test_fallback_without_a_chosen_carrier_uses_the_first_provider(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)], carrier="Bob's Courier")
    configure(tiktok_integration, fallback_carrier_enabled=True)
    push(tiktok_integration, "push_fulfillments")
    assert tiktok_api.body(tiktok_api.calls_to(MARK)[0])["shipping_provider_id"] == "6617675021119438849"


def test_rejected_fulfillment_is_failed_visible_and_not_retried(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.error("POST", MARK, code=21011001, message="Invalid tracking number")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)])
    push(tiktok_integration, "push_fulfillments")
    push(tiktok_integration, "push_fulfillments")
    assert len(tiktok_api.calls_to(MARK)) == 1
    assert OutboundPush.objects.get(kind="fulfillment").status == "failed"
    assert "Invalid tracking number" in OpsException.objects.get(code="tiktok_fulfillment_rejected").message


def test_rate_limited_fulfillment_is_retried_next_run(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.error("POST", MARK, code=36009002, status=429)
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)])
    run = push(tiktok_integration, "push_fulfillments")
    assert (run.status, run.error_class) == ("failed", "RateLimitedError")
    tiktok_api.mock.replace("POST", tiktok_api._url(MARK), json=load_fixture("mark_package_shipped__ok.json"))
    run = push(tiktok_integration, "push_fulfillments")
    assert run.created == 1 and OutboundPush.objects.get(kind="fulfillment").status == "sent"


def test_platform_shipped_orders_never_push_fulfillments(tiktok_integration, tiktok_api, order):
    Order.objects.filter(pk=order.pk).update(fulfillment_type="platform")
    Fulfillment.objects.create(order=order, external_id="X", carrier="USPS", tracking_numbers=["1"])
    run = push(tiktok_integration, "push_fulfillments")
    assert run.fetched == 0 and len(tiktok_api.mock.calls) == 0


def test_switch_push_fulfillments_off_disables_the_flow(tiktok_integration):
    configure(tiktok_integration, push_fulfillments=False)
    assert tiktok_integration.flow_states.get(flow="push_fulfillments").enabled is False


# --- cancellations ---------------------------------------------------------------------------

def test_setting_cancel_push_switches_the_flow(tiktok_integration):
    assert tiktok_integration.flow_states.get(flow="push_cancellations").enabled is False
    configure(tiktok_integration, cancel_push=True)
    assert tiktok_integration.flow_states.get(flow="push_cancellations").enabled is True


def test_hub_cancellation_is_pushed_once_with_the_default_full_order_reason(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    configure(tiktok_integration, cancel_push=True, cancel_reason_full_order="seller_cancel_reason_wrong_price")
    Order.objects.filter(pk=order.pk).update(status="readyForFulfillment")
    cancellation = order_services.order_cancel(order=Order.objects.get(pk=order.pk), reason="customer called")
    push(tiktok_integration, "push_cancellations")
    push(tiktok_integration, "push_cancellations")
    [call] = tiktok_api.calls_to(c.PATH_CANCEL_ORDER)
    assert tiktok_api.body(call) == {"order_id": "576812345678901234", "cancel_reason": "seller_cancel_reason_wrong_price"}
    sent = OutboundPush.objects.get(kind="cancellation", idempotency_key=f"cancellation:{cancellation.pk}")
    assert (sent.status, sent.remote_id) == ("sent", "4035237384826423453")


def test_line_cancellation_uses_line_reason_and_line_item_ids(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    configure(tiktok_integration, cancel_push=True)
    cancellation = Cancellation.objects.create(order=order, integration=tiktok_integration, source="user", is_full=False)
    CancellationLine.objects.create(cancellation=cancellation, order_line=order.lines.get(sku="TEE-BLK-L"), sku="TEE-BLK-L", quantity=1)
    push(tiktok_integration, "push_cancellations")
    assert tiktok_api.body(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)[0]) == {
        "order_id": "576812345678901234", "cancel_reason": "seller_cancel_reason_out_of_stock",
        "order_line_item_ids": ["576812345678911112"]}


def test_uk_shop_gets_the_uk_reason_code(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    configure(tiktok_integration, cancel_push=True)
    tiktok_integration.remote_state["shop_region"] = "GB"
    tiktok_integration.save(update_fields=["remote_state"])
    Cancellation.objects.create(order=order, integration=tiktok_integration, source="user", is_full=True)
    push(tiktok_integration, "push_cancellations")
    assert tiktok_api.body(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)[0])["cancel_reason"] == "seller_cancel_reason_out_of_stock_uk"


def test_rejected_cancellation_is_visible_and_not_resent(tiktok_integration, tiktok_api, order):
    tiktok_api.error("POST", c.PATH_CANCEL_ORDER, code=25001021, message="Reason not match order status")
    configure(tiktok_integration, cancel_push=True)
    Cancellation.objects.create(order=order, integration=tiktok_integration, source="user", is_full=True)
    push(tiktok_integration, "push_cancellations")
    push(tiktok_integration, "push_cancellations")
    assert len(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)) == 1
    assert OpsException.objects.get(code="tiktok_cancellation_rejected").category == "fulfillment"


def test_channel_cancellations_are_not_pushed_back(tiktok_integration, tiktok_api, order):
    configure(tiktok_integration, cancel_push=True)
    Cancellation.objects.create(order=order, integration=tiktok_integration, source="buyer", is_full=True, external_id="x")
    push(tiktok_integration, "push_cancellations")
    assert tiktok_api.calls_to(c.PATH_CANCEL_ORDER) == []


# --- cancellations from the fulfillment side (issue 16) --------------------------------------

def _cancel_at_3pl(order, reason, status="canceledRestock"):
    order_services.shipping_request_canceled_by_fulfillment(shipping_request=order.shipping_requests.get(), status=status, reason=reason)


@pytest.mark.parametrize("reason,default,expected", [
    ("Canceled in OSA: out of stock", "seller_cancel_reason_wrong_price", "seller_cancel_reason_out_of_stock"),
    ("Canceled in OSA: no reason given", "seller_cancel_reason_wrong_price", "seller_cancel_reason_wrong_price"),
    ("", "seller_cancel_paid_reason_address_not_deliver", "seller_cancel_paid_reason_address_not_deliver"),
    ("seller_cancel_paid_reason_buyer_requested_cancellation", "seller_cancel_reason_out_of_stock",
     "seller_cancel_paid_reason_buyer_requested_cancellation"),
])
def test_3pl_cancellation_is_pushed_once_with_the_3pl_reason_or_the_full_order_default(tiktok_integration, tiktok_api, order,
                                                                                        reason, default, expected):
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    configure(tiktok_integration, cancel_push=True, cancel_reason_full_order=default)
    _cancel_at_3pl(order, reason)
    push(tiktok_integration, "push_cancellations")
    push(tiktok_integration, "push_cancellations")
    [call] = tiktok_api.calls_to(c.PATH_CANCEL_ORDER)
    assert tiktok_api.body(call) == {"order_id": "576812345678901234", "cancel_reason": expected}
    record = Cancellation.objects.get()
    assert (record.source, record.is_full) == ("fulfillment", True)
    assert OutboundPush.objects.get(kind="cancellation", idempotency_key=f"cancellation:{record.pk}").status == "sent"


def test_3pl_cancellation_not_pushed_while_the_setting_is_off(tiktok_integration, tiktok_api, order):
    _cancel_at_3pl(order, "out of stock")
    assert tiktok_integration.flow_states.get(flow="push_cancellations").enabled is False
    assert tiktok_api.calls_to(c.PATH_CANCEL_ORDER) == []


def test_3pl_cancellation_after_a_partial_shipment_cancels_the_unshipped_line_items_out_of_stock(tiktok_integration, tiktok_api, order):
    # given: one tee shipped, then the 3PL cancels the rest; the line-items default is "wrong price"
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    configure(tiktok_integration, cancel_push=True, cancel_reason_line_items="seller_cancel_reason_wrong_price")
    ship(order, "F1", [("TEE-BLK-L", 1)])
    _cancel_at_3pl(order, "Canceled in OSA: no stock left")
    # when
    push(tiktok_integration, "push_cancellations")
    push(tiktok_integration, "push_fulfillments")
    push(tiktok_integration, "push_cancellations")
    # then: the unshipped tee and the cap, out of stock (the only reason TikTok takes for line items)
    [call] = tiktok_api.calls_to(c.PATH_CANCEL_ORDER)
    assert tiktok_api.body(call) == {"order_id": "576812345678901234", "cancel_reason": "seller_cancel_reason_out_of_stock",
                                     "order_line_item_ids": ["576812345678911112", "576812345678911113"]}
    [mark] = tiktok_api.calls_to(MARK)
    assert tiktok_api.body(mark)["order_line_item_ids"] == ["576812345678911111"]
    order.refresh_from_db()
    assert order.status == "fulfilled"


@pytest.mark.parametrize("region,sent", [("GB", True), ("DE", False)])
def test_line_cancellation_only_in_us_and_uk_shops(tiktok_integration, tiktok_api, order, region, sent):
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    configure(tiktok_integration, cancel_push=True)
    tiktok_integration.remote_state["shop_region"] = region
    tiktok_integration.save(update_fields=["remote_state"])
    ship(order, "F1", [("TEE-BLK-L", 2)])
    _cancel_at_3pl(order, "out of stock")
    run = push(tiktok_integration, "push_cancellations")
    calls = tiktok_api.calls_to(c.PATH_CANCEL_ORDER)
    if sent:
        assert tiktok_api.body(calls[0]) == {"order_id": "576812345678901234", "cancel_reason": "seller_cancel_reason_out_of_stock_uk",
                                             "order_line_item_ids": ["576812345678911113"]}
    else:
        assert calls == [] and run.status == "partial"
        assert OpsException.objects.get(code="tiktok_line_cancel_unsupported").status == "open"
        assert not OutboundPush.objects.filter(kind="cancellation").exists()


# --- seller cancellation vs buyer refund request (issue 16, reference §5.4/§8.3) ----------------

from integrations.connectors.tiktok import endpoints_catalog as ep  # noqa: E402

BUYER_REFUND_PENDING = {"return_orders": [{"return_id": "R-BUYER", "order_id": "576812345678901234", "return_type": "REFUND",
                                           "role": "BUYER", "return_status": "RETURN_OR_REFUND_REQUEST_PENDING"}],
                        "next_page_token": ""}


def _user_cancellation(order, status):
    Order.objects.filter(pk=order.pk).update(channel_status=status)
    return Cancellation.objects.create(order=order, integration=order.integration, source="user", is_full=True)


def test_awaiting_collection_cancellation_with_a_pending_buyer_refund_waits_visibly_by_default(tiktok_integration, tiktok_api, order):
    configure(tiktok_integration, cancel_push=True)
    _user_cancellation(order, "AWAITING_COLLECTION")
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data=BUYER_REFUND_PENDING)

    run = push(tiktok_integration, "push_cancellations")

    assert run.status == "partial" and "R-BUYER" in run.errors[0]["message"]
    assert tiktok_api.calls_to(c.PATH_CANCEL_ORDER) == []
    assert tiktok_api.calls_to(ep.PATH_RETURN_REJECT.format(return_id="R-BUYER")) == []
    search = tiktok_api.body(tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH)[0])
    assert search == {"return_status": ["RETURN_OR_REFUND_REQUEST_PENDING"], "order_ids": ["576812345678901234"]}
    assert OpsException.objects.get(code="tiktok_buyer_refund_pending").status == "open"


def test_awaiting_collection_cancellation_rejects_the_buyer_refund_first_when_the_setting_is_on(tiktok_integration, tiktok_api, order):
    configure(tiktok_integration, cancel_push=True, reject_buyer_refund_on_seller_cancel=True)
    cancellation = _user_cancellation(order, "AWAITING_COLLECTION")
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data=BUYER_REFUND_PENDING)
    tiktok_api.ok("POST", ep.PATH_RETURN_REJECT.format(return_id="R-BUYER"))
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")

    push(tiktok_integration, "push_cancellations")
    push(tiktok_integration, "push_cancellations")

    [reject] = tiktok_api.calls_to(ep.PATH_RETURN_REJECT.format(return_id="R-BUYER"))
    assert tiktok_api.body(reject)["decision"] == "REJECT_REFUND"
    assert tiktok_api.query(reject)["idempotency_key"] == f"cancellation:{cancellation.pk}:reject:R-BUYER"
    assert len(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)) == 1
    assert tiktok_api.mock.calls.index(reject) < tiktok_api.mock.calls.index(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)[0])


def test_unshipped_order_cancellation_never_looks_for_buyer_refund_requests_in_the_cancellation_push(tiktok_integration, tiktok_api,
                                                                                                      order):
    configure(tiktok_integration, cancel_push=True, reject_buyer_refund_on_seller_cancel=True)
    _user_cancellation(order, "AWAITING_SHIPMENT")
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")

    push(tiktok_integration, "push_cancellations")

    assert tiktok_api.calls_to(ep.PATH_RETURNS_SEARCH) == []
    assert len(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)) == 1


# --- buyer messages and order cards ----------------------------------------------------------

SEND = c.PATH_CS_SEND_MESSAGE.format(conversation_id="7258327587692143234")


def _answer_messages(tiktok_api):
    tiktok_api.fixture("POST", c.PATH_CS_CONVERSATIONS, "conversation_create__ok.json")
    tiktok_api.fixture("POST", SEND, "message_send__ok.json")


def _enable_and_pull(tiktok_integration, tiktok_api, flow, **settings):
    configure(tiktok_integration, orders_exclude_before=SINCE_2025, **settings)
    push(tiktok_integration, flow)  # first run: only orders created from now on are messaged
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [raw("standard")]})
    pull(tiktok_integration, order_ids=["576812345678901234"])


def test_setting_buyer_message_sends_the_template_once(tiktok_integration, tiktok_api):
    _answer_messages(tiktok_api)
    _enable_and_pull(tiktok_integration, tiktok_api, "push_buyer_messages", buyer_message_send=True,
                     buyer_message_template="Thank you for purchasing from CompanyName!")
    push(tiktok_integration, "push_buyer_messages")
    push(tiktok_integration, "push_buyer_messages")
    assert tiktok_api.body(tiktok_api.calls_to(c.PATH_CS_CONVERSATIONS)[0]) == {"buyer_user_id": "7494012345678901234"}
    [call] = tiktok_api.calls_to(SEND)
    body = tiktok_api.body(call)
    assert body["type"] == "TEXT" and json.loads(body["content"]) == {"content": "Thank you for purchasing from CompanyName!"}
    assert OutboundPush.objects.get(kind="buyer_message").status == "sent"


def test_buyer_message_off_by_default(tiktok_integration):
    assert tiktok_integration.flow_states.get(flow="push_buyer_messages").enabled is False
    assert tiktok_integration.flow_states.get(flow="push_order_cards").enabled is False


def test_setting_order_card_sends_an_order_card(tiktok_integration, tiktok_api):
    _answer_messages(tiktok_api)
    _enable_and_pull(tiktok_integration, tiktok_api, "push_order_cards", order_card_send=True)
    push(tiktok_integration, "push_order_cards")
    body = tiktok_api.body(tiktok_api.calls_to(SEND)[0])
    assert body["type"] == "ORDER_CARD" and json.loads(body["content"]) == {"order_id": "576812345678901234"}


def test_setting_buyer_ids_restricts_messages(tiktok_integration, tiktok_api):
    _answer_messages(tiktok_api)
    _enable_and_pull(tiktok_integration, tiktok_api, "push_order_cards", order_card_send=True, buyer_message_ids=["someone-else"])
    push(tiktok_integration, "push_order_cards")
    assert tiktok_api.calls_to(SEND) == []
    configure(tiktok_integration, buyer_message_ids=["7494012345678901234"])
    push(tiktok_integration, "push_order_cards")
    assert len(tiktok_api.calls_to(SEND)) == 1


def test_orders_created_before_the_switch_are_not_messaged(tiktok_integration, tiktok_api):
    _answer_messages(tiktok_api)
    configure(tiktok_integration, orders_exclude_before=SINCE_2025)
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [raw("standard")]})
    pull(tiktok_integration, order_ids=["576812345678901234"])
    configure(tiktok_integration, order_card_send=True)
    push(tiktok_integration, "push_order_cards")
    assert tiktok_api.calls_to(SEND) == []


def test_message_template_is_limited_to_2000_characters(tiktok_integration):
    with pytest.raises(SettingsError):
        services.integration_update_settings(integration=tiktok_integration,
                                             values={**tiktok_integration.settings, "buyer_message_template": "x" * 2001})
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.setting("buyer_message_template") == ""


def test_empty_template_is_an_exception_and_sends_nothing(tiktok_integration, tiktok_api):
    _answer_messages(tiktok_api)
    _enable_and_pull(tiktok_integration, tiktok_api, "push_buyer_messages", buyer_message_send=True)
    push(tiktok_integration, "push_buyer_messages")
    assert tiktok_api.calls_to(SEND) == []
    assert OpsException.objects.filter(code="empty_message_template", status="open").count() == 1


def test_empty_template_exception_resolves_once_a_template_is_set(tiktok_integration, tiktok_api):
    _answer_messages(tiktok_api)
    _enable_and_pull(tiktok_integration, tiktok_api, "push_buyer_messages", buyer_message_send=True)
    push(tiktok_integration, "push_buyer_messages")
    configure(tiktok_integration, buyer_message_template="Thanks for your order!")
    push(tiktok_integration, "push_buyer_messages")
    assert OpsException.objects.get(code="empty_message_template").status == "resolved"


def test_setting_line_items_reason_other_than_out_of_stock_is_refused_visibly_until_changed(tiktok_integration, tiktok_api, order):
    # reference §5.4: item-level cancel only with the out-of-stock reason — TikTok would reject "wrong price"
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    configure(tiktok_integration, cancel_push=True, cancel_reason_line_items="seller_cancel_reason_wrong_price")
    cancellation = Cancellation.objects.create(order=order, integration=tiktok_integration, source="user", is_full=False)
    CancellationLine.objects.create(cancellation=cancellation, order_line=order.lines.get(sku="CAP-RED"), sku="CAP-RED", quantity=1)
    run = push(tiktok_integration, "push_cancellations")
    assert tiktok_api.calls_to(c.PATH_CANCEL_ORDER) == [] and run.status == "partial"
    assert OpsException.objects.get(code="tiktok_line_cancel_unsupported").status == "open"
    configure(tiktok_integration, cancel_reason_line_items="seller_cancel_reason_out_of_stock")
    push(tiktok_integration, "push_cancellations")
    assert tiktok_api.body(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)[0]) == {
        "order_id": "576812345678901234", "cancel_reason": "seller_cancel_reason_out_of_stock",
        "order_line_item_ids": ["576812345678911113"]}
    assert OpsException.objects.get(code="tiktok_line_cancel_unsupported").status == "resolved"


def test_setting_pull_orders_switches_the_pull_flow(tiktok_integration):
    assert tiktok_integration.flow_states.get(flow="pull_orders").enabled is True
    configure(tiktok_integration, pull_orders=False)
    assert tiktok_integration.flow_states.get(flow="pull_orders").enabled is False


def test_dry_run_of_a_push_sends_nothing_and_claims_nothing(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)])
    run = services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="push_fulfillments"), dry_run=True)
    assert run.status == "succeeded" and run.fetched == 1
    assert tiktok_api.calls_to(MARK) == [] and not OutboundPush.objects.exists()
