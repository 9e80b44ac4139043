"""Statements and statement transactions pull: cutoff setting, paging, order links, re-runs without duplicates."""
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

from finance.models import Statement, StatementTransaction
from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from orders.models import Order

FX = "catalog/"
TX1 = ep.PATH_STATEMENT_TRANSACTIONS.format(statement_id="7450012345678901234")
TX2 = ep.PATH_STATEMENT_TRANSACTIONS.format(statement_id="7450012345678905678")


def run(integration):
    # The fixtures are from June 2025: the integration exists since before then.
    type(integration).objects.filter(pk=integration.pk).update(created_at=datetime(2025, 6, 1, tzinfo=dt_timezone.utc))
    integration.refresh_from_db()
    return services.flow_run(flow_state=integration.flow_states.get(flow="pull_statements"))


def answer_all(api):
    api.fixture("GET", ep.PATH_STATEMENTS, FX + "statements__page1.json")
    api.fixture("GET", ep.PATH_STATEMENTS, FX + "statements__page2.json")
    api.fixture("GET", TX1, FX + "statement_transactions__order.json")
    api.fixture("GET", TX2, FX + "statement_transactions__adjustment.json")


def test_statements_and_transactions_pulled_and_linked_to_orders(tiktok_integration, tiktok_api):
    order = Order.objects.create(integration=tiktok_integration, external_id="576461413038785001")
    answer_all(tiktok_api)

    sync = run(tiktok_integration)

    assert sync.status == "succeeded" and sync.created == 4, sync.errors
    statement = Statement.objects.get(external_id="7450012345678901234")
    assert statement.statement_time == datetime(2025, 6, 12, tzinfo=dt_timezone.utc)
    assert (statement.settlement_amount, statement.fee_amount, statement.payment_status) == (Decimal("38.61"), Decimal("-5.88"), "PAID")
    tx = StatementTransaction.objects.get(external_id="1636700041413599999")
    assert tx.statement == statement and tx.order == order and tx.transaction_type == "ORDER"
    assert (tx.revenue_amount, tx.fee_amount, tx.shipping_cost_amount, tx.settlement_amount) == (
        Decimal("50.48"), Decimal("-5.88"), Decimal("-5.99"), Decimal("38.61"))
    assert tx.details["fee_tax_breakdown"]["fee"]["referral_fee_amount"] == "-3.03"
    adjustment = StatementTransaction.objects.get(external_id="1636700041413600001")
    assert adjustment.order is None and adjustment.order_external_id == "576461413038785999"
    assert sync.cursor_after == {"since": 1749772800}
    query = tiktok_api.query(tiktok_api.calls_to(ep.PATH_STATEMENTS)[0])
    assert query["sort_field"] == "statement_time"
    assert query["statement_time_ge"] == "1748736000"  # the integration's creation time
    assert tiktok_api.query(tiktok_api.calls_to(ep.PATH_STATEMENTS)[1])["page_token"] == "c3RhdGVtZW50cz0y"


def test_rerun_upserts_without_duplicates(tiktok_integration, tiktok_api):
    answer_all(tiktok_api)
    run(tiktok_integration)
    answer_all(tiktok_api)
    services.flow_state_reset_cursor(flow_state=tiktok_integration.flow_states.get(flow="pull_statements"))

    again = run(tiktok_integration)

    assert again.created == 0 and again.unchanged == 4
    assert Statement.objects.count() == 2 and StatementTransaction.objects.count() == 2


def test_exclude_statements_created_before_this_date(tiktok_integration, tiktok_api):
    services.integration_update_settings(integration=tiktok_integration,
                                         values={"statements_created_after": "2025-06-12T12:00:00+00:00"})
    answer_all(tiktok_api)

    run(tiktok_integration)

    assert tiktok_api.query(tiktok_api.calls_to(ep.PATH_STATEMENTS)[0])["statement_time_ge"] == "1749729600"
    assert list(Statement.objects.values_list("external_id", flat=True)) == ["7450012345678905678"]
    assert tiktok_api.calls_to(TX1) == []
    assert tiktok_integration.spec.setting("statements_created_after").default is None


def test_cursor_does_not_move_before_the_statement_page_is_done(tiktok_integration, tiktok_api):
    tiktok_api.fixture("GET", ep.PATH_STATEMENTS, FX + "statements__page1.json")
    tiktok_api.error("GET", TX1, code=36009003, message="internal error", status=500)

    sync = run(tiktok_integration)

    assert sync.status == "failed"
    assert tiktok_integration.flow_states.get(flow="pull_statements").cursor == {}
    assert not Statement.objects.exists()


def test_malformed_amount_is_recorded_and_changes_nothing(tiktok_integration, tiktok_api):
    tiktok_api.ok("GET", ep.PATH_STATEMENTS, data={"next_page_token": "", "statements": [
        {"id": "S-BAD", "statement_time": 1749686400, "settlement_amount": "n/a"}]})
    tiktok_api.ok("GET", ep.PATH_STATEMENT_TRANSACTIONS.format(statement_id="S-BAD"), data={"transactions": []})

    sync = run(tiktok_integration)

    assert sync.failed == 1 and sync.errors[0] == {"external_id": "S-BAD", "field": "settlement_amount", "message": "'n/a' is not an amount"}
    assert not Statement.objects.exists()


def test_transactions_are_linked_once_their_order_arrives(tiktok_integration, tiktok_api):
    answer_all(tiktok_api)
    run(tiktok_integration)
    order = Order.objects.create(integration=tiktok_integration, external_id="576461413038785999")
    tiktok_api.ok("GET", ep.PATH_STATEMENTS, data={"statements": [], "next_page_token": ""})

    run(tiktok_integration)

    assert StatementTransaction.objects.get(external_id="1636700041413600001").order == order
