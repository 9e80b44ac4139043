"""Pure mappers of the catalog half."""
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

import pytest

from integrations.connectors.tiktok import mappers_catalog as m
from integrations.exceptions import PayloadError


def test_timestamps_become_aware_utc():
    assert m.ts_to_datetime(1749686400) == datetime(2025, 6, 12, tzinfo=dt_timezone.utc)
    assert m.ts_to_datetime(None) is None and m.ts_to_datetime("x") is None


@pytest.mark.parametrize("weight, unit, expected", [
    ("0.40", "lb", {"value": "0.4", "unit": "POUND"}),
    ("8", "oz", {"value": "0.5", "unit": "POUND"}),
    ("1.2", "kg", {"value": "1.2", "unit": "KILOGRAM"}),
    ("250", "g", {"value": "0.25", "unit": "KILOGRAM"}),
])
def test_weight_units(weight, unit, expected):
    assert m.weight_payload(Decimal(weight), unit) == expected


def test_dimensions_need_all_three():
    assert m.dimensions_payload(length=Decimal("10.4"), width=Decimal("5"), height=Decimal("2"), unit="in") == {
        "length": "10", "width": "5", "height": "2", "unit": "INCH"}
    assert m.dimensions_payload(length=Decimal("10"), width=None, height=Decimal("2"), unit="cm") is None


def test_warehouse_mapping_and_missing_id():
    row = m.warehouse_to_location({"id": "W1", "name": "Returns", "type": "RETURN_WAREHOUSE", "is_default": True})
    assert row == {"external_id": "W1", "name": "Returns", "kind": "return", "address": {}, "is_default": False}
    with pytest.raises(PayloadError):
        m.warehouse_to_location({"name": "no id"})


def test_return_lines_count_units_per_sku():
    ret = m.return_to_return_in({"return_id": "R", "order_id": "O", "return_status": "S", "return_line_items": [
        {"seller_sku": "A", "order_line_item_id": "1", "refund_amount": {"refund_total": "2.50"}},
        {"seller_sku": "A", "order_line_item_id": "2", "refund_amount": {"refund_total": "2.50"}},
        {"seller_sku": "B", "order_line_item_id": "3", "refund_amount": {"refund_total": "1"}}]})
    assert [(ln.sku, ln.quantity, ln.external_line_id, ln.amount) for ln in ret.lines] == [
        ("A", 2, "1,2", Decimal("5.00")), ("B", 1, "3", Decimal("1"))]


def test_return_without_order_is_rejected():
    with pytest.raises(PayloadError) as exc:
        m.return_to_refund_in({"return_id": "R"})
    assert exc.value.external_id == "R"


def test_flat_202309_transaction_shape_is_understood():
    row = m.transaction_row({"id": "T", "type": "ORDER", "order_id": "O", "settlement_amount": "8", "revenue_amount": "10",
                             "fee_amount": "-1", "shipping_fee_amount": "-1"})
    assert (row["fee_amount"], row["shipping_cost_amount"], row["order_external_id"]) == (Decimal("-1"), Decimal("-1"), "O")


def test_fbt_quantities_and_consolidation():
    per = m.fbt_inventory_quantities([
        {"fbt_warehouse_id": "A", "sku_id": "1", "available_quantity": 2, "in_transit_quantity": 1},
        {"fbt_warehouse_id": "B", "sku_id": "1", "available_quantity": 3},
        {"fbt_warehouse_id": "B", "sku_id": "999", "available_quantity": 9}], {"1": "SKU1"})
    assert per == {"fbt-A": {"SKU1": {"fulfillable": 2, "inbound": 1}}, "fbt-B": {"SKU1": {"fulfillable": 3, "inbound": 0}}}
    assert m.consolidate(per) == {"SKU1": {"fulfillable": 5, "inbound": 1}}
