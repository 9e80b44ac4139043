"""Scale data for the admin benchmark (`manage.py seed_scale --orders 1000000`): orders with lines and a timeline
event each, spread over two years and across a few TikTok shops, plus open exceptions and sync runs. On PostgreSQL
rows go in through `COPY` (ids assigned here, sequences moved after), elsewhere through large `bulk_create`
batches. Never for production data: every integration it makes is named "Scale shop …"."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Callable, Iterable, Iterator

from django.db import connection, models, transaction
from django.utils import timezone

# Share of each status in a mature shop's history (finished orders dominate).
STATUS_MIX = (("delivered", 60), ("closed", 20), ("canceled", 6), ("inTransit", 4), ("onHold", 3), ("readyForFulfillment", 2),
              ("sentToFulfillment", 3), ("reviewRequired", 1), ("fulfilled", 1))
OPEN = ("onHold", "readyForFulfillment", "sentToFulfillment", "reviewRequired")  # older than 14 days: delivered
SKUS = 1000
BATCH = 50_000


def _statuses() -> list[str]:
    out: list[str] = []
    for status, share in STATUS_MIX:
        out += [status] * share
    return out


def _text(value) -> str | None:
    """COPY text-format value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _columns(model: type[models.Model], values: dict) -> list[tuple[str, Callable]]:
    """Every concrete column: a given value (constant or function of n) or the field's default."""
    cols = []
    for field in model._meta.concrete_fields:
        name = field.attname
        if name in values:
            value = values[name]
        elif field.primary_key:
            continue
        else:
            default = field.get_default()
            value = default
        cols.append((field.column, value if callable(value) else (lambda n, v=value: v)))
    return cols


def _write(model: type[models.Model], count: int, values: dict, *, start_id: int) -> None:
    """Rows n = 0..count-1 with ids start_id + n."""
    values = {"id": lambda n: start_id + n, **values}
    cols = _columns(model, values)
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        names = ", ".join(connection.ops.quote_name(c) for c, _ in cols)
        for first in range(0, count, BATCH):
            with transaction.atomic(), connection.cursor() as cursor:
                with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN") as copy:
                    for n in range(first, min(first + BATCH, count)):
                        copy.write_row([_text(fn(n)) for _, fn in cols])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT MAX(id) FROM {connection.ops.quote_name(table)}))",
                           [table])
        return
    fields = {f.column: f.attname for f in model._meta.concrete_fields}
    for first in range(0, count, BATCH):
        objs = [model(**{fields[c]: fn(n) for c, fn in cols}) for n in range(first, min(first + BATCH, count))]
        with transaction.atomic():
            model.objects.bulk_create(objs, batch_size=2000)


def _lines_and_events_sql(*, first_order: int, last_order: int, lines_per_order: int) -> None:
    """Lines and one timeline event for the orders just copied, generated inside PostgreSQL (INSERT … SELECT, in
    slices of 100,000 orders): no row travels through Python."""
    step = 100_000
    for low in range(first_order, last_order + 1, step):
        high = min(low + step - 1, last_order)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO orders_orderline (order_id, sku, product_id, name, quantity, unit_price, discount, tax, total, "
                "channel_line_ids, is_bundle, canceled_quantity, bundle_line_id) "
                "SELECT o.id, p.sku, p.id, 'Scale product', 1, 19.99, 0, 0, 19.99, '[]'::jsonb, false, 0, NULL "
                "FROM orders_order o CROSS JOIN generate_series(0, %s - 1) k "
                "JOIN catalog_product p ON p.sku = 'SCALE-' || lpad(((o.id * %s + k * 31) %% %s)::text, 4, '0') "
                "WHERE o.id BETWEEN %s AND %s", [lines_per_order, lines_per_order * 31, SKUS, low, high])
            cursor.execute(
                "INSERT INTO orders_orderevent (order_id, at, kind, from_status, to_status, message, actor, sync_run_id, user_id) "
                "SELECT o.id, o.created_at, 'created', 'new', o.status, 'received from Scale shop', 'flow run #1', NULL, NULL "
                "FROM orders_order o WHERE o.id BETWEEN %s AND %s", [low, high])


def _next_id(model) -> int:
    return (model.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1


def seed_scale(*, orders: int, shops: int = 5, lines_per_order: int = 2, exceptions: int = 5000, runs: int = 20000,
               log: Callable[[str], None] = print) -> dict:
    """Append `orders` orders (and their lines and events), `exceptions` open exceptions and `runs` sync runs."""
    from catalog.models import Product
    from integrations import services
    from integrations.models import FlowState, Integration, OpsException, SyncRun
    from orders.models import Order, OrderEvent, OrderLine

    started = time.monotonic()
    integrations = list(Integration.objects.filter(name__startswith="Scale shop ").order_by("pk"))
    for i in range(len(integrations), shops):
        integrations.append(services.integration_create(
            name=f"Scale shop {i + 1}", connector="tiktok", environment="production",
            settings={"orders_exclude_before": "2020-01-01T00:00:00+00:00"},
            credentials={"app_key": "scale", "app_secret": "scale-secret", "access_token": "TTP_scale"}))
    Product.objects.bulk_create([Product(sku=f"SCALE-{k:04d}", name=f"Scale product {k}") for k in range(SKUS)],
                                ignore_conflicts=True)
    products = dict(Product.objects.filter(sku__startswith="SCALE-").values_list("sku", "pk"))
    ids = [i.pk for i in integrations]
    statuses = _statuses()
    now = timezone.now().replace(microsecond=0)
    span = timedelta(days=730).total_seconds()
    base = Order.objects.count()
    first_order = _next_id(Order)

    def created(n: int) -> datetime:  # oldest first, the last ones today
        return now - timedelta(seconds=span * (1 - (n + 1) / orders))

    recent = orders - int(orders * 14 / 730)  # orders of the last 14 days: the only ones still open

    def status(n: int) -> str:
        value = statuses[(n * 7919) % len(statuses)]
        return value if n >= recent or value not in OPEN else "delivered"

    log(f"orders {orders:,} from id {first_order}")
    _write(Order, orders, {
        "integration_id": lambda n: ids[n % len(ids)], "external_id": lambda n: str(590000000000000000 + base + n),
        "status": status, "channel_status": lambda n: "DELIVERED" if status(n) in ("delivered", "closed") else "AWAITING_SHIPMENT",
        "currency": "USD", "subtotal": Decimal("39.98"), "total": Decimal("43.18"), "tax_total": Decimal("3.20"),
        "buyer_email": lambda n: f"buyer{base + n}@example.com", "buyer_external_id": lambda n: str(7494000000000 + n),
        "shipping_address": {"name": "Scale Buyer", "address_line1": "1 Main St", "city": "Austin", "region_code": "US",
                             "postal_code": "78701"},
        "tags": [], "ordered_at": created, "created_at": created, "updated_at": created,
        "hold_until": lambda n: now + timedelta(minutes=30) if status(n) == "onHold" else None,
        "review_reason": lambda n: "unknown_sku" if status(n) == "reviewRequired" else "",
        "routing_state": lambda n: "routed" if status(n) in ("sentToFulfillment", "delivered", "closed", "inTransit") else "",
        "payload_hash": lambda n: f"{n:064x}",
    }, start_id=first_order)
    log(f"lines {orders * lines_per_order:,}, events {orders:,}")
    if connection.vendor == "postgresql":
        _lines_and_events_sql(first_order=first_order, last_order=first_order + orders - 1, lines_per_order=lines_per_order)
    else:
        _write(OrderLine, orders * lines_per_order, {
            "order_id": lambda n: first_order + n // lines_per_order,
            "sku": lambda n: f"SCALE-{(n * 31) % SKUS:04d}", "product_id": lambda n: products[f"SCALE-{(n * 31) % SKUS:04d}"],
            "name": "Scale product", "quantity": 1, "unit_price": Decimal("19.99"), "total": Decimal("19.99"),
            "channel_line_ids": [], "bundle_line_id": None,
        }, start_id=_next_id(OrderLine))
        _write(OrderEvent, orders, {
            "order_id": lambda n: first_order + n, "at": created, "kind": "created", "from_status": "new", "to_status": status,
            "message": "received from Scale shop", "actor": "flow run #1", "user_id": None, "sync_run_id": None,
        }, start_id=_next_id(OrderEvent))
    log(f"exceptions {exceptions:,}, sync runs {runs:,}")
    first_exc = _next_id(OpsException)
    _write(OpsException, exceptions, {
        "category": lambda n: ("ingestion", "routing", "fulfillment", "connector")[n % 4], "code": "unknown_sku",
        "integration_id": lambda n: ids[n % len(ids)], "content_type_id": None, "object_id": None, "resolved_by_id": None,
        "dedup_key": lambda n: f"scale:{first_exc + n}", "message": lambda n: f"Unknown SKU SCALE-X{n}",
        "first_seen_at": lambda n: now - timedelta(minutes=n), "last_seen_at": lambda n: now - timedelta(minutes=n),
    }, start_id=first_exc)
    states = {fs.integration_id: fs.pk for fs in FlowState.objects.filter(integration_id__in=ids, flow="pull_orders")}
    _write(SyncRun, runs, {
        "flow_state_id": lambda n: states[ids[n % len(ids)]], "integration_id": lambda n: ids[n % len(ids)],
        "flow": "pull_orders", "trigger": "schedule", "triggered_by_id": None,
        "status": lambda n: "failed" if n % 50 == 0 else "succeeded",
        "started_at": lambda n: now - timedelta(minutes=n), "finished_at": lambda n: now - timedelta(minutes=n) + timedelta(seconds=3),
        "pages": 1, "fetched": 12, "created": 10, "updated": 2,
    }, start_id=_next_id(SyncRun))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Order, OrderLine, OrderEvent, OpsException, SyncRun):
                # VACUUM too (outside a transaction): the visibility map autovacuum keeps in a running database,
                # which index-only scans need.
                vacuum = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
                cursor.execute(f"{vacuum} {connection.ops.quote_name(model._meta.db_table)}")
    seconds = time.monotonic() - started
    log(f"done in {seconds:.0f} s")
    return {"orders": orders, "seconds": round(seconds, 1), "total_orders": Order.objects.count()}
