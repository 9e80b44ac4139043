"""Ordered bundle lines (a channel's virtual bundle / combined listing): the bundle line stays on the order as the
buyer ordered it, its components are linked lines that are routed, committed and shipped; money exact."""
from decimal import Decimal

import pytest

from inventory.models import InventoryLevel
from orders import selectors, services
from orders.interface import CancellationIn, FulfillmentIn, OrderIn, OrderLineIn, QuantityLineIn, ReturnIn
from orders.models import Order, OrderLine, Return
from tests.orders import factories as f

D = Decimal


def bundle_order(external_id="B-1", bundles=1, alone=1, **kw):
    """GIFT (2 × A + 1 × B) ordered `bundles` times at 29.99 each, plus `alone` × A at 19.99."""
    lines = [
        OrderLineIn(sku="GIFT", quantity=bundles, unit_price=D("29.99"), price_total=D("29.99") * bundles, tax=D("2.39") * bundles,
                    is_bundle=True, channel_line_ids=tuple(f"G{n}" for n in range(bundles))),
        OrderLineIn(sku="A", bundle_sku="GIFT", quantity=2 * bundles, unit_price=D("10.00"), price_total=D("19.99") * bundles,
                    tax=D("1.59") * bundles),
        OrderLineIn(sku="B", bundle_sku="GIFT", quantity=bundles, unit_price=D("10.00"), price_total=D("10.00") * bundles,
                    tax=D("0.80") * bundles),
    ]
    if alone:
        lines.append(OrderLineIn(sku="A", quantity=alone, unit_price=D("19.99"), tax=D("1.60") * alone,
                                 channel_line_ids=tuple(f"A{n}" for n in range(alone))))
    return OrderIn(external_id=external_id, channel_status="AWAITING_SHIPMENT", status="new", lines=tuple(lines), **kw)


def ingest(shop, data):
    return services.orders_upsert_from_channel(integration=shop, orders_in=[data])


@pytest.fixture
def stocked(wh, sku_a, sku_b):
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])


def _lines(order):
    return sorted((ln.sku, ln.bundle_line.sku if ln.bundle_line else "", ln.quantity, ln.is_bundle, ln.total)
                  for ln in order.lines.select_related("bundle_line"))


def test_ordered_bundle_line_is_kept_with_its_components_linked(shop, stocked, wh, sku_a, sku_b):
    # when: the bundle SKU is not in the catalog (a channel-side virtual bundle): only its components must be known
    result = ingest(shop, bundle_order())
    # then
    order = Order.objects.get()
    assert (result.created, result.errors, order.status) == (1, [], "readyForFulfillment")
    assert _lines(order) == [("A", "", 1, False, D("21.59")), ("A", "GIFT", 2, False, D("21.58")), ("B", "GIFT", 1, False, D("10.80")),
                             ("GIFT", "", 1, True, D("32.38"))]
    gift = order.lines.get(sku="GIFT")
    assert sorted(gift.components.values_list("sku", flat=True)) == ["A", "B"]
    # routing: components and the plain line, never the bundle line itself
    assert sorted((ln.sku, ln.quantity, ln.order_line.sku, ln.order_line.bundle_line_id == gift.pk)
                  for sr in order.shipping_requests.all() for ln in sr.lines.all()) == [
        ("A", 1, "A", False), ("A", 2, "A", True), ("B", 1, "B", True)]
    assert (InventoryLevel.objects.get(location=wh, product=sku_a).committed,
            InventoryLevel.objects.get(location=wh, product=sku_b).committed) == (3, 1)


def test_components_total_exactly_their_bundle_and_ordered_lines_the_order(shop, stocked):
    ingest(shop, bundle_order(bundles=3, alone=2))
    order = Order.objects.get()
    gift = order.lines.get(sku="GIFT")
    assert sum(c.total for c in gift.components.all()) == gift.total == D("97.14")
    assert sum(ln.total for ln in order.lines.filter(bundle_line__isnull=True)) == D("97.14") + D("43.18")


def test_reingesting_the_same_order_changes_nothing(shop, stocked):
    ingest(shop, bundle_order())
    before = list(OrderLine.objects.order_by("pk").values_list("pk", "sku", "bundle_line_id", "quantity"))
    result = ingest(shop, bundle_order())
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert list(OrderLine.objects.order_by("pk").values_list("pk", "sku", "bundle_line_id", "quantity")) == before


def test_edit_before_sending_replaces_bundle_lines_and_reroutes(shop, stocked, wh, sku_a):
    ingest(shop, bundle_order())
    ingest(shop, bundle_order(bundles=2, alone=0, payload_hash="edited"))
    order = Order.objects.get()
    assert _lines(order) == [("A", "GIFT", 4, False, D("43.16")), ("B", "GIFT", 2, False, D("21.60")), ("GIFT", "", 2, True, D("64.76"))]
    assert InventoryLevel.objects.get(location=wh, product=sku_a).committed == 4


def test_order_is_fulfilled_when_all_components_shipped(shop, stocked):
    ingest(shop, bundle_order())
    order = Order.objects.get()
    sr = order.shipping_requests.get()
    services.shipping_request_mark_sent(shipping_request=sr, external_id="X")
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(
        external_id="F1", lines=(QuantityLineIn(sku="A", quantity=3),)))
    order.refresh_from_db()
    assert order.status == "partialFulfillment"
    gift = order.lines.get(sku="GIFT")
    assert selectors.order_units_shipped(order=order)[gift.pk] == 0
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(
        external_id="F2", lines=(QuantityLineIn(sku="B", quantity=1),)))
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert selectors.order_units_shipped(order=order) == {gift.pk: 1, order.lines.get(sku="A", bundle_line=None).pk: 1}


@pytest.mark.parametrize("lines, message", [
    ((OrderLineIn(sku="A", bundle_sku="NOPE", quantity=1),), "line A: bundle NOPE is not a line of this order"),
    ((OrderLineIn(sku="GIFT", quantity=2, is_bundle=True), OrderLineIn(sku="A", bundle_sku="GIFT", quantity=3)),
     "line A: quantity 3 is not a whole multiple of bundle GIFT's 2"),
    ((OrderLineIn(sku="GIFT", quantity=1, is_bundle=True), OrderLineIn(sku="A", bundle_sku="GIFT", quantity=1),
      OrderLineIn(sku="GIFT", bundle_sku="GIFT", quantity=1)), "line GIFT: a bundle cannot contain itself"),
], ids=["unknown_bundle_case", "not_a_multiple_case", "self_case"])
def test_bad_bundle_lines_are_refused_and_nothing_is_created(shop, stocked, lines, message):
    result = ingest(shop, OrderIn(external_id="X", channel_status="AWAITING_SHIPMENT", status="new", lines=lines))
    assert result.errors == [{"external_id": "X", "field": "order", "message": message}]
    assert Order.objects.exists() is False and OrderLine.objects.exists() is False


def test_returns_and_line_cancellations_naming_the_bundle_sku_land_on_the_bundle_line(shop, stocked, wh, sku_a, sku_b):
    # given
    ingest(shop, bundle_order(bundles=2, alone=1))
    order = Order.objects.get()
    gift = order.lines.get(sku="GIFT")
    # when: the buyer cancels one bundle unit at the channel
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(
        source="buyer", external_id="B-1:line:G1", is_full=False, lines=(QuantityLineIn(sku="GIFT", quantity=1),)))
    # then: the bundle line and its components lose one bundle unit; the rest is routed again
    assert sorted((sku, parent or 0, canceled) for sku, parent, canceled in order.lines.values_list(
        "sku", "bundle_line_id", "canceled_quantity")) == [("A", 0, 0), ("A", gift.pk, 2), ("B", gift.pk, 1), ("GIFT", 0, 1)]
    active = [(ln.sku, ln.quantity) for sr in order.shipping_requests.filter(status="readyForFulfillment") for ln in sr.lines.all()]
    assert sorted(active) == [("A", 1), ("A", 2), ("B", 1)]
    assert (InventoryLevel.objects.get(location=wh, product=sku_a).committed,
            InventoryLevel.objects.get(location=wh, product=sku_b).committed) == (3, 1)
    # when: a return names the bundle SKU and the plain SKU
    services.returns_upsert(integration=shop, returns_in=[ReturnIn(external_id="R1", order_external_id="B-1", status="requested", lines=(
        QuantityLineIn(sku="GIFT", quantity=1), QuantityLineIn(sku="A", quantity=1)))])
    # then: each return line points at the ordered line the buyer bought
    assert sorted((ln.sku, ln.order_line.bundle_line_id, ln.order_line.is_bundle) for ln in Return.objects.get().lines.all()) == [
        ("A", None, False), ("GIFT", None, True)]


def test_a_returned_bundle_goes_back_to_the_3pl_as_its_components(shop, stocked):
    ingest(shop, bundle_order(bundles=2, alone=1))
    services.returns_upsert(integration=shop, returns_in=[ReturnIn(external_id="R1", order_external_id="B-1", status="requested", lines=(
        QuantityLineIn(sku="GIFT", quantity=1), QuantityLineIn(sku="A", quantity=1)))])
    shipped_as = selectors.return_lines_shipped_as(ret=Return.objects.get())
    assert sorted((sku, qty) for _, sku, qty in shipped_as) == [("A", 1), ("A", 2), ("B", 1)]


from django.db import transaction  # noqa: E402
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

from orders.models import ShippingRequestLine  # noqa: E402
from orders.money import allocate  # noqa: E402

_cents = st.integers(min_value=0, max_value=20_000)


@pytest.fixture
def plenty(wh, sku_a, sku_b):
    f.stock(wh, sku_a, 100)
    f.stock(wh, sku_b, 100)
    f.rule("r", [wh])
_bundle = st.fixed_dictionaries({"qty": st.integers(1, 3), "price": _cents, "discount": _cents, "tax": _cents,
                                 "parts": st.lists(st.tuples(st.sampled_from(["A", "B"]), st.integers(1, 3)), min_size=1, max_size=2,
                                                   unique_by=lambda p: p[0])})
_plain = st.fixed_dictionaries({"sku": st.sampled_from(["A", "B"]), "qty": st.integers(1, 3), "price": _cents, "tax": _cents})


def _c(cents: int) -> Decimal:
    return Decimal(cents) / 100


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bundles=st.lists(_bundle, min_size=1, max_size=2), plains=st.lists(_plain, max_size=2, unique_by=lambda p: p["sku"]))
def test_property_bundle_orders_keep_exact_money_and_route_only_components(shop, plenty, bundles, plains):
    # given: bundles G0, G1 … whose money is allocated over their component units; plain lines share the SKUs
    lines, expected_total = [], Decimal("0")
    for n, b in enumerate(bundles):
        sku, qty = f"G{n}", b["qty"]
        lines.append(OrderLineIn(sku=sku, quantity=qty, is_bundle=True, price_total=_c(b["price"]), discount=_c(b["discount"]),
                                 tax=_c(b["tax"]), channel_line_ids=tuple(f"{sku}-{i}" for i in range(qty))))
        weights = [count for _, count in b["parts"]]
        shares = [allocate(_c(b[k]), weights) for k in ("price", "discount", "tax")]
        for i, (part, count) in enumerate(b["parts"]):
            lines.append(OrderLineIn(sku=part, bundle_sku=sku, quantity=count * qty, price_total=shares[0][i], discount=shares[1][i],
                                     tax=shares[2][i]))
        expected_total += _c(b["price"]) - _c(b["discount"]) + _c(b["tax"])
    for p in plains:
        lines.append(OrderLineIn(sku=p["sku"], quantity=p["qty"], unit_price=_c(p["price"]), tax=_c(p["tax"])))
        expected_total += _c(p["price"]) * p["qty"] + _c(p["tax"])
    data = OrderIn(external_id="P-1", channel_status="AWAITING_SHIPMENT", status="new", lines=tuple(lines))
    with transaction.atomic():
        # when
        result = ingest(shop, data)
        again = ingest(shop, data)
        # then
        order = Order.objects.get()
        assert (result.created, result.errors, again.unchanged, order.status) == (1, [], 1, "readyForFulfillment")
        ordered = list(order.lines.filter(bundle_line__isnull=True))
        assert sum(ln.total for ln in ordered) == expected_total
        for parent in (ln for ln in ordered if ln.is_bundle):
            assert sum(c.total for c in parent.components.all()) == parent.total
        routed = {}
        for ln in ShippingRequestLine.objects.filter(shipping_request__order=order):
            routed[ln.order_line_id] = routed.get(ln.order_line_id, 0) + ln.quantity
        shipped_lines = order.lines.exclude(pk__in=[ln.pk for ln in ordered if ln.is_bundle])
        assert routed == {ln.pk: ln.quantity for ln in shipped_lines}
        transaction.set_rollback(True)
