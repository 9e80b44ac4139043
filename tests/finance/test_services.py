"""Finance services: bulk upserts on (integration, external_id), order links."""
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

import pytest

from finance import services
from finance.models import Statement, StatementTransaction
from integrations import services as integration_services
from orders.models import Order


@pytest.fixture
def shop(db):
    return integration_services.integration_create(name="TikTok A", connector="tiktok")


def statement(**overrides):
    row = {"external_id": "S1", "statement_time": datetime(2025, 6, 12, tzinfo=dt_timezone.utc), "currency": "USD",
           "revenue_amount": Decimal("50.48"), "fee_amount": Decimal("-5.88"), "adjustment_amount": Decimal("0"),
           "shipping_cost_amount": Decimal("-5.99"), "settlement_amount": Decimal("38.61"), "payment_status": "PAID", "payment_id": "P"}
    return {**row, **overrides}


def transaction(**overrides):
    row = {"external_id": "T1", "transaction_type": "ORDER", "order_external_id": "O1", "currency": "USD",
           "revenue_amount": Decimal("50.48"), "fee_amount": Decimal("-5.88"), "shipping_cost_amount": Decimal("-5.99"),
           "adjustment_amount": Decimal("0"), "settlement_amount": Decimal("38.61"), "details": {}, "remote_created_at": None}
    return {**row, **overrides}


def test_statements_upsert_counts_and_updates(shop):
    saved, counts = services.statements_upsert(integration=shop, rows=[statement()])
    assert counts == (1, 0, 0) and saved["S1"].settlement_amount == Decimal("38.61")

    _, counts = services.statements_upsert(integration=shop, rows=[statement()])
    assert counts == (0, 0, 1)

    _, counts = services.statements_upsert(integration=shop, rows=[statement(payment_status="FAILED")])
    assert counts == (0, 1, 0) and Statement.objects.get().payment_status == "FAILED"


def test_transactions_link_orders_now_or_later(shop, django_assert_max_num_queries):
    saved, _ = services.statements_upsert(integration=shop, rows=[statement()])
    with django_assert_max_num_queries(4):
        counts = services.statement_transactions_upsert(integration=shop, statement=saved["S1"],
                                                        rows=[transaction(), transaction(external_id="T2", order_external_id="O2")])
    assert counts == (2, 0, 0)
    assert StatementTransaction.objects.get(external_id="T1").order is None

    order = Order.objects.create(integration=shop, external_id="O1")
    assert services.statement_transactions_link_orders(integration=shop, order_external_ids=["O1"]) == 1
    assert StatementTransaction.objects.get(external_id="T1").order == order
    assert services.statement_transactions_upsert(integration=shop, statement=saved["S1"], rows=[transaction()]) == (0, 0, 1)


def test_same_ids_in_another_integration_do_not_collide(shop):
    other = integration_services.integration_create(name="TikTok B", connector="tiktok")
    services.statements_upsert(integration=shop, rows=[statement()])
    services.statements_upsert(integration=other, rows=[statement()])
    assert Statement.objects.count() == 2


def test_link_pending_links_only_arrived_orders(shop, django_assert_num_queries):
    saved, _ = services.statements_upsert(integration=shop, rows=[statement()])
    services.statement_transactions_upsert(integration=shop, statement=saved["S1"],
                                           rows=[transaction(), transaction(external_id="T2", order_external_id="O2")])
    order = Order.objects.create(integration=shop, external_id="O1")

    with django_assert_num_queries(1):
        linked = services.statement_transactions_link_pending(integration=shop)

    assert linked == 1
    assert StatementTransaction.objects.get(external_id="T1").order == order
    assert StatementTransaction.objects.get(external_id="T2").order is None
