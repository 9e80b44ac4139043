"""Shared order-operations fixtures (tests/fixtures/order_ops.py)."""
from tests.fixtures.order_ops import ops_connectors, shop, sku_a, sku_b, tpl, wh, wh2  # noqa: F401
