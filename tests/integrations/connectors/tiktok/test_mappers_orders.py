"""Pure order mapping and pull filters (reference §4.3; seed 001 Orders settings)."""
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from integrations.connectors.tiktok.mappers_orders import (
    PullFilters, cancellations_from_order, order_to_order_in, skip_reason,
)
from integrations.exceptions import PayloadError
from tests.integrations.connectors.tiktok.conftest import load_fixture


def order(name: str) -> dict:
    return load_fixture(f"orders_detail__{name}.json")["data"]["orders"][0]


def filters(**kwargs) -> PullFilters:
    base = dict(statuses=frozenset({"AWAITING_SHIPMENT", "CANCELLED", "DELIVERED"}),
                exclude_before=datetime(2025, 1, 1, tzinfo=timezone.utc))
    return PullFilters(**{**base, **kwargs})


def test_standard_order_quantity_is_count_of_line_items_per_sku():
    mapped = order_to_order_in(order("standard"))
    assert (mapped.external_id, mapped.channel_status, mapped.status) == ("576812345678901234", "AWAITING_SHIPMENT", "new")
    tee, cap = mapped.lines
    assert (tee.sku, tee.quantity, tee.unit_price, tee.discount, tee.tax) == ("TEE-BLK-L", 2, Decimal("19.99"), Decimal("2.00"), Decimal("3.04"))
    assert tee.channel_line_ids == ("576812345678911111", "576812345678911112")
    assert (cap.sku, cap.quantity, cap.unit_price, cap.channel_line_ids) == ("CAP-RED", 1, Decimal("12.50"), ("576812345678911113",))
    assert (mapped.subtotal, mapped.shipping_total, mapped.tax_total, mapped.discount_total, mapped.total) == (
        Decimal("50.48"), Decimal("0.00"), Decimal("4.04"), Decimal("2.00"), Decimal("54.52"))
    assert all(isinstance(v, Decimal) for v in (mapped.subtotal, mapped.total, tee.unit_price))


def test_standard_order_keeps_sla_buyer_and_address_as_given():
    mapped = order_to_order_in(order("standard"))
    assert mapped.ship_by == datetime.fromtimestamp(1749859199, tz=timezone.utc)
    assert mapped.deliver_by == datetime.fromtimestamp(1750204799, tz=timezone.utc)
    assert mapped.ordered_at == datetime.fromtimestamp(1749627000, tz=timezone.utc)
    assert mapped.remote_updated_at == datetime.fromtimestamp(1749630660, tz=timezone.utc)
    assert (mapped.buyer_external_id, mapped.buyer_email, mapped.buyer_message) == (
        "7494012345678901234", "v2xk9a0q1z@scs2.tiktok.com", "Please gift wrap")
    assert mapped.shipping_address["phone"] == "(+1)555*****21"  # masked: stored as given
    assert (mapped.shipping_address["city"], mapped.shipping_address["state"], mapped.shipping_address["country_code"]) == (
        "San Francisco", "California", "US")
    assert (mapped.shipping_method, mapped.delivery_option_id, mapped.fulfillment_type) == (
        "Standard shipping", "7129736823457654571", "seller")
    assert len(mapped.payload_hash) == 64


def test_discounts_from_seller_and_platform_are_captured():
    mapped = order_to_order_in(order("discounts"))
    cap = mapped.lines[1]
    assert (cap.sku, cap.discount, cap.unit_price) == ("CAP-RED", Decimal("3.00"), Decimal("12.50"))
    assert (mapped.discount_total, mapped.subtotal, mapped.total) == (Decimal("5.00"), Decimal("47.48"), Decimal("51.52"))


@pytest.mark.parametrize("status,expected", [
    ("UNPAID", "draft"), ("ON_HOLD", "onHold"), ("AWAITING_SHIPMENT", "new"), ("PARTIALLY_SHIPPING", "partialFulfillment"),
    ("AWAITING_COLLECTION", "fulfilled"), ("IN_TRANSIT", "inTransit"), ("DELIVERED", "delivered"), ("COMPLETED", "closed"),
    ("CANCELLED", "canceled"),
])
def test_status_mapping(status, expected):
    raw = order("standard")
    raw["status"] = status
    assert order_to_order_in(raw).status == expected


def test_platform_shipped_order_arrives_fulfilled_as_platform():
    raw = order("platform_shipped")
    raw["status"] = "AWAITING_COLLECTION"
    mapped = order_to_order_in(raw)
    assert (mapped.fulfillment_type, mapped.status) == ("platform", "fulfilled")
    assert mapped.shipping_address["name"] == "J*** D**"


def test_virtual_bundle_keeps_the_ordered_line_and_links_its_components_when_supported():
    mapped = order_to_order_in(order("virtual_bundle"), virtual_bundles=True)
    assert [(ln.sku, ln.bundle_sku, ln.quantity, ln.is_bundle, ln.channel_line_ids) for ln in mapped.lines] == [
        ("GIFT-SET", "", 1, True, ("576812345678955551",)),
        ("TEE-BLK-L", "GIFT-SET", 1, False, ()),
        ("CAP-RED", "GIFT-SET", 2, False, ()),
    ]
    gift, tee, cap = mapped.lines
    assert (gift.price_total, gift.discount, gift.tax) == (Decimal("30.00"), Decimal("0.00"), Decimal("2.40"))
    # the bundle's money allocated by unit (1 tee, 2 caps): parts sum to the whole exactly
    assert [(ln.price_total, ln.tax) for ln in (tee, cap)] == [(Decimal("10.00"), Decimal("0.80")), (Decimal("20.00"), Decimal("1.60"))]


def test_bundle_components_merged_with_a_line_of_the_same_sku_keep_exact_totals():
    # given: a tee bought alone at 19.99 and a 29.99 bundle of one tee and two caps (issue 18: totals off by a cent)
    raw = order("virtual_bundle")
    bundle = raw["line_items"][0]
    bundle.update(original_price="29.99", sale_price="29.99", item_tax=[{"tax_amount": "2.39"}], seller_discount="0.01")
    bundle["combined_listing_skus"][1]["sku_count"] = 2
    alone = {"id": "L-ALONE", "seller_sku": "TEE-BLK-L", "original_price": "19.99", "seller_discount": "0", "platform_discount": "0",
             "item_tax": [{"tax_amount": "1.60"}], "display_status": "AWAITING_SHIPMENT"}
    raw["line_items"].append(alone)
    # when
    mapped = order_to_order_in(raw, virtual_bundles=True)
    # then: top-level lines carry what the buyer ordered, exactly; components sum to their bundle, exactly
    top = [ln for ln in mapped.lines if not ln.bundle_sku]
    parts = [ln for ln in mapped.lines if ln.bundle_sku == "GIFT-SET"]
    assert [(ln.sku, ln.price_total) for ln in top] == [("GIFT-SET", Decimal("29.99")), ("TEE-BLK-L", Decimal("19.99"))]
    assert sum(ln.price_total for ln in top) == Decimal("49.98")
    assert sum(ln.price_total for ln in parts) == Decimal("29.99")
    assert sum(ln.tax for ln in parts) == Decimal("2.39")
    assert sum(ln.discount for ln in parts) == Decimal("0.01")
    assert [(ln.sku, ln.price_total) for ln in parts] == [("TEE-BLK-L", Decimal("10.00")), ("CAP-RED", Decimal("19.99"))]


def test_virtual_bundle_stays_the_listing_sku_when_not_supported():
    mapped = order_to_order_in(order("virtual_bundle"), virtual_bundles=False)
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.is_bundle) for ln in mapped.lines] == [("GIFT-SET", 1, Decimal("30.00"), False)]


def test_bad_payloads_raise_payload_errors():
    raw = order("standard")
    raw["line_items"][0]["seller_sku"] = ""
    with pytest.raises(PayloadError, match="seller_sku"):
        order_to_order_in(raw)
    raw = order("standard")
    raw["payment"]["total_amount"] = "12,00"
    with pytest.raises(PayloadError, match="not an amount"):
        order_to_order_in(raw)
    raw = order("standard")
    raw["status"] = "SOMETHING"
    with pytest.raises(PayloadError, match="unknown TikTok order status"):
        order_to_order_in(raw)


def test_full_cancellation_carries_source_and_reason():
    raw = order("cancelled")
    mapped = order_to_order_in(raw)
    [cancel] = cancellations_from_order(raw, mapped)
    assert (cancel.source, cancel.reason, cancel.is_full, cancel.external_id) == (
        "buyer", "Buyer changed mind", True, "576812345678901234:order")


def test_line_cancellation_is_one_unit_per_cancelled_line_item():
    raw = order("line_cancelled")
    mapped = order_to_order_in(raw)
    assert mapped.status == "new" and mapped.lines[0].canceled_quantity == 1
    [cancel] = cancellations_from_order(raw, mapped)
    assert (cancel.source, cancel.is_full, cancel.external_id) == ("seller", False, "576812345678901234:line:576812345678911112")
    assert [(ln.sku, ln.quantity) for ln in cancel.lines] == [("TEE-BLK-L", 1)]
    assert cancellations_from_order(order("standard"), order_to_order_in(order("standard"))) == []


def test_filter_statuses_default_and_on_hold_and_platform_and_ids_and_date():
    standard, hold, fbt = order("standard"), order("on_hold"), order("platform_shipped")
    assert skip_reason(standard, filters()) == ""
    assert skip_reason(standard, filters(statuses=frozenset({"DELIVERED"}))) == "status AWAITING_SHIPMENT not pulled"
    assert skip_reason(hold, filters()) == "on hold"
    assert skip_reason(hold, filters(pull_on_hold=True)) == ""
    assert skip_reason(fbt, filters()) == "shipped by platform"
    assert skip_reason(fbt, filters(pull_platform_shipped=True)) == ""
    assert skip_reason(standard, filters(only_ids=frozenset({"1"}))) == "not in the specific order ids"
    assert skip_reason(standard, filters(only_ids=frozenset({"576812345678901234"}))) == ""
    assert skip_reason(standard, filters(exclude_before=datetime(2025, 6, 12, tzinfo=timezone.utc))) == "created before the exclusion date"


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_price = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False)
_item = st.fixed_dictionaries({
    "sku": st.sampled_from(["A", "B", "C"]), "price": _price, "discount": _price, "tax": _price,
    "canceled": st.booleans(), "bundle": st.booleans(),
})


@hsettings(max_examples=60, deadline=None)
@given(items=st.lists(_item, min_size=1, max_size=12), virtual_bundles=st.booleans())
def test_property_units_and_money_are_conserved(items, virtual_bundles):
    raw = order("standard")
    raw["line_items"] = []
    for n, it in enumerate(items):
        line = {"id": f"L{n}", "seller_sku": it["sku"], "original_price": str(it["price"]), "seller_discount": str(it["discount"]),
                "platform_discount": "0", "item_tax": [{"tax_amount": str(it["tax"])}],
                "display_status": "CANCELLED" if it["canceled"] else "AWAITING_SHIPMENT"}
        if it["bundle"]:
            line["combined_listing_skus"] = [{"seller_sku": "X", "sku_count": 2}, {"seller_sku": "Y", "sku_count": 1}]
        raw["line_items"].append(line)
    mapped = order_to_order_in(raw, virtual_bundles=virtual_bundles)
    top = [ln for ln in mapped.lines if not ln.bundle_sku]
    parts = [ln for ln in mapped.lines if ln.bundle_sku]
    # the ordered lines: one unit per TikTok line item, all the money, every line item id once
    assert sum(ln.quantity for ln in top) == len(items)
    assert sum(ln.price_total for ln in top) == sum(it["price"] for it in items)
    assert sum(ln.discount for ln in top) == sum(it["discount"] for it in items)
    assert sum(ln.tax for ln in top) == sum(it["tax"] for it in items)
    ids = [i for ln in mapped.lines for i in ln.channel_line_ids]
    assert sorted(ids) == sorted(f"L{n}" for n in range(len(items)))
    assert all(0 <= ln.canceled_quantity <= ln.quantity for ln in mapped.lines)
    # components: 3 units per bundle unit, money allocated exactly, never negative
    bundled = [it for it in items if it["bundle"] and virtual_bundles]
    assert sum(ln.quantity for ln in parts) == 3 * len(bundled)
    for field, key in (("price_total", "price"), ("discount", "discount"), ("tax", "tax")):
        assert sum(getattr(ln, field) for ln in parts) == sum(it[key] for it in bundled)
        assert all(getattr(ln, field) >= 0 for ln in parts)
    assert sum(ln.canceled_quantity for ln in parts) == 3 * sum(1 for it in bundled if it["canceled"])


def test_order_without_status_is_not_filtered_away_but_reported_by_the_mapper():
    cut = order("standard")
    del cut["status"]
    assert skip_reason(cut, filters()) == ""  # pulled, so that the run reports it
    with pytest.raises(PayloadError):
        order_to_order_in(cut)
