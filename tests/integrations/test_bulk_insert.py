"""integrations.bulk_insert: the ingest's plain inserts past Django's per-field preparation store exactly what
bulk_create would, return the pks in row order, take one statement per table, and refuse a duplicate key."""
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from orders.models import Order, OrderEvent, OrderLine
from integrations.bulk_insert import objs_insert, rows_insert, rows_upsert
from integrations.models import ExternalRef
from tests.fixtures.order_ops import ops_connectors, shop  # noqa: F401

pytestmark = pytest.mark.django_db

PLACED = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=dt_timezone.utc)


def _order(shop, external_id: str) -> Order:
    return Order(integration=shop, external_id=external_id, status="onHold", total=Decimal("12.35"), ordered_at=PLACED,
                 shipping_address={"city": "Newark", "lines": ["1 Main St", None]}, tags=["tiktok", "cod"], created_at=PLACED)


def test_objs_insert_sets_pks_and_stores_every_value(shop):
    # given: two unsaved orders
    orders = [_order(shop, "B-1"), _order(shop, "B-2")]
    now = datetime(2026, 3, 4, 6, 0, tzinfo=dt_timezone.utc)
    # when
    with CaptureQueriesContext(connection) as captured:
        objs_insert(orders, now=now)
    # then: one statement (PostgreSQL: the pks reserved from the identity sequence, then one COPY); pks, updated_at
    # and saved state set as bulk_create sets them
    sqls = [q["sql"] for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        assert len(sqls) == 2 and sqls[0].startswith("SELECT nextval(") and sqls[1].startswith('COPY "orders_order" ("id", ')
    else:
        assert len(sqls) == 1
    assert [o.pk for o in orders] == list(Order.objects.order_by("pk").values_list("pk", flat=True))
    assert [o.external_id for o in Order.objects.order_by("pk")] == ["B-1", "B-2"]
    assert all(o.updated_at == now and not o._state.adding for o in orders)
    stored = Order.objects.get(pk=orders[1].pk)
    assert (stored.total, stored.subtotal, stored.ordered_at, stored.created_at, stored.updated_at) == (
        Decimal("12.35"), Decimal("0.00"), PLACED, PLACED, now)
    assert (stored.shipping_address, stored.tags, stored.currency, stored.held_by_rule_id, stored.routing_attempts) == (
        {"city": "Newark", "lines": ["1 Main St", None]}, ["tiktok", "cod"], "USD", None, 0)


def test_rows_insert_fills_defaults_and_returns_pks_in_row_order(shop):
    # given: an order; line rows naming only some fields
    order = _order(shop, "B-3")
    objs_insert([order])
    rows = [{"order_id": order.pk, "sku": f"SKU-{n}", "quantity": n + 1, "unit_price": Decimal("1.10") * (n + 1),
             "channel_line_ids": [f"L{n}"]} for n in range(3)]
    # when
    ids = rows_insert(OrderLine, rows, returning=True)
    # then
    lines = {ln.pk: ln for ln in OrderLine.objects.all()}
    assert [lines[pk].sku for pk in ids] == ["SKU-0", "SKU-1", "SKU-2"]
    assert [(lines[pk].quantity, lines[pk].unit_price, lines[pk].channel_line_ids) for pk in ids] == [
        (1, Decimal("1.10"), ["L0"]), (2, Decimal("2.20"), ["L1"]), (3, Decimal("3.30"), ["L2"])]
    assert {(ln.name, ln.discount, ln.is_bundle, ln.canceled_quantity, ln.product_id, ln.bundle_line_id)
            for ln in lines.values()} == {("", Decimal("0.00"), False, 0, None, None)}


def test_rows_insert_without_pks_is_one_statement_and_returns_nothing(shop):
    order = _order(shop, "B-4")
    objs_insert([order])
    rows = [{"order_id": order.pk, "at": PLACED, "kind": "created", "to_status": "onHold", "message": f"m{n}"} for n in range(50)]
    with CaptureQueriesContext(connection) as captured:
        assert rows_insert(OrderEvent, rows) == []
    assert len(captured.captured_queries) == 1
    assert OrderEvent.objects.filter(order=order, at=PLACED, kind="created", from_status="", actor="").count() == 50


def test_text_with_copy_and_sql_metacharacters_is_stored_as_is_and_the_sequence_stays_ahead(shop):
    # COPY's text format escapes tabs, newlines and backslashes; quotes and NUL-free unicode pass as they are
    nasty = "tab\there\nnew line \\N back\\slash 'quote' \"dq\" ,{}[] é 漢字 \\."
    order = _order(shop, "B-7")
    order.shipping_address = {"line1": nasty}
    objs_insert([order])
    rows_insert(OrderEvent, [{"order_id": order.pk, "at": PLACED, "kind": "note", "message": nasty}])
    assert Order.objects.get(pk=order.pk).shipping_address == {"line1": nasty}
    assert OrderEvent.objects.get(order=order).message == nasty
    # an ordinary insert after reserved pks gets the next one
    assert Order.objects.create(integration=shop, external_id="B-8", status="onHold", created_at=PLACED).pk > order.pk


def test_a_duplicate_key_raises_and_inserts_nothing(shop):
    # given: B-5 stored
    objs_insert([_order(shop, "B-5")])
    # when: a batch carrying B-5 again
    with pytest.raises(IntegrityError), transaction.atomic():
        objs_insert([_order(shop, "B-6"), _order(shop, "B-5")])
    # then: the batch left nothing
    assert list(Order.objects.values_list("external_id", flat=True)) == ["B-5"]


def test_empty_input_asks_nothing(shop):
    with CaptureQueriesContext(connection) as captured:
        assert rows_insert(OrderLine, [], returning=True) == []
        objs_insert([])
    assert captured.captured_queries == []


def test_rows_upsert_inserts_new_keys_and_updates_only_the_named_columns_of_existing_ones(shop):
    # given: one binding
    first = datetime(2026, 3, 4, 5, 0, tzinfo=dt_timezone.utc)
    later = datetime(2026, 3, 4, 6, 0, tzinfo=dt_timezone.utc)
    rows_upsert(ExternalRef, [{"integration_id": shop.pk, "kind": "order", "external_id": "A", "object_id": 1,
                               "payload_hash": "h1", "remote_updated_at": first, "synced_at": first}],
                unique=["integration_id", "kind", "external_id"], update=["object_id", "payload_hash", "synced_at"])
    original_pk = ExternalRef.objects.get(external_id="A").pk
    # when: the same key again (new hash, new remote time that is not in `update`) and a new key, in one statement
    with CaptureQueriesContext(connection) as captured:
        rows_upsert(ExternalRef, [
            {"integration_id": shop.pk, "kind": "order", "external_id": "A", "object_id": 2, "payload_hash": "h2",
             "remote_updated_at": later, "synced_at": later},
            {"integration_id": shop.pk, "kind": "order", "external_id": "B", "object_id": 3, "payload_hash": "h3",
             "remote_updated_at": None, "synced_at": later},
        ], unique=["integration_id", "kind", "external_id"], update=["object_id", "payload_hash", "synced_at"])
    # then
    assert len(captured.captured_queries) == 1
    assert list(ExternalRef.objects.order_by("external_id").values_list(
        "pk", "external_id", "object_id", "payload_hash", "remote_updated_at", "synced_at", "content_type_id")) == [
        (original_pk, "A", 2, "h2", first, later, None),
        (ExternalRef.objects.get(external_id="B").pk, "B", 3, "h3", None, later, None)]
