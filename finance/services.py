"""Finance services: statements and statement transactions upserted in bulk on (integration, external_id)."""
from __future__ import annotations

from finance.models import Statement, StatementTransaction

STATEMENT_FIELDS = ["statement_time", "currency", "revenue_amount", "fee_amount", "adjustment_amount", "shipping_cost_amount",
                    "settlement_amount", "payment_status", "payment_id"]
TRANSACTION_FIELDS = ["statement", "transaction_type", "order", "order_external_id", "currency", "revenue_amount", "fee_amount",
                      "shipping_cost_amount", "adjustment_amount", "settlement_amount", "details", "remote_created_at"]


def _split(existing: dict, rows: list[dict], fields: list[str]) -> tuple[int, int, int]:
    created = updated = unchanged = 0
    for row in rows:
        current = existing.get(row["external_id"])
        if current is None:
            created += 1
        elif any(getattr(current, f if f not in ("statement", "order") else f"{f}_id") != _value(row, f) for f in fields):
            updated += 1
        else:
            unchanged += 1
    return created, updated, unchanged


def _value(row: dict, field: str):
    if field in ("statement", "order"):
        obj = row.get(field)
        return obj.pk if obj is not None else None
    return row.get(field)


def statements_upsert(*, integration, rows: list[dict]) -> tuple[dict[str, Statement], tuple[int, int, int]]:
    """rows: mappers' statement rows. Returns ({external_id: Statement}, (created, updated, unchanged))."""
    unique = {r["external_id"]: r for r in rows}
    existing = {s.external_id: s for s in Statement.objects.filter(integration=integration, external_id__in=list(unique))}
    counts = _split(existing, list(unique.values()), STATEMENT_FIELDS)
    Statement.objects.bulk_create([Statement(integration=integration, **r) for r in unique.values()], update_conflicts=True,
                                  unique_fields=["integration", "external_id"], update_fields=STATEMENT_FIELDS)
    saved = {s.external_id: s for s in Statement.objects.filter(integration=integration, external_id__in=list(unique))}
    return saved, counts


def statement_transactions_upsert(*, integration, statement: Statement, rows: list[dict]) -> tuple[int, int, int]:
    """Upsert transactions of one statement, linking each to its order by (integration, order_external_id)."""
    from orders.models import Order

    unique = {r["external_id"]: dict(r) for r in rows}
    order_ids = {r["order_external_id"] for r in unique.values() if r.get("order_external_id")}
    orders = {o.external_id: o for o in Order.objects.filter(integration=integration, external_id__in=order_ids)}
    for row in unique.values():
        row["statement"] = statement
        row["order"] = orders.get(row.get("order_external_id") or "")
    existing = {t.external_id: t for t in StatementTransaction.objects.filter(integration=integration,
                                                                                external_id__in=list(unique))}
    counts = _split(existing, list(unique.values()), TRANSACTION_FIELDS)
    StatementTransaction.objects.bulk_create(
        [StatementTransaction(integration=integration, **r) for r in unique.values()], update_conflicts=True,
        unique_fields=["integration", "external_id"], update_fields=TRANSACTION_FIELDS)
    return counts


def statement_transactions_link_orders(*, integration, order_external_ids: list[str]) -> int:
    """Link transactions pulled before their order arrived (call after orders are ingested)."""
    from orders.models import Order

    linked = 0
    for order in Order.objects.filter(integration=integration, external_id__in=list(order_external_ids)):
        linked += StatementTransaction.objects.filter(integration=integration, order_external_id=order.external_id,
                                                      order__isnull=True).update(order=order)
    return linked


def statement_transactions_link_pending(*, integration) -> int:
    """One UPDATE: link every unlinked transaction whose order has arrived since."""
    from django.db.models import OuterRef, Subquery

    from orders.models import Order

    order_pk = Order.objects.filter(integration=integration, external_id=OuterRef("order_external_id")).values("pk")[:1]
    pending = StatementTransaction.objects.filter(integration=integration, order__isnull=True).exclude(order_external_id="")
    matched = pending.filter(order_external_id__in=Order.objects.filter(integration=integration).values("external_id"))
    return matched.update(order=Subquery(order_pk))
