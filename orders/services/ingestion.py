"""Channel ingestion: page-level order upsert, channel edits and holds, retry of blocked orders."""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Product
from integrations.models import Integration, OpsException
from integrations.services import exception_raise, exceptions_resolve
from inventory import services as inventory_services
from orders.interface import CancellationIn, OrderIn, UpsertResult
from orders.money import CENT
from orders.models import Cancellation, CancellationLine, HoldRule, Order, OrderEvent, OrderLine, RoutingState
from orders.services.lifecycle import (
    CHANNEL_DONE, S, SR_ACTIVE, SR_UNSENT, _event, order_lock, order_transition, _run_actor, _save, _try_transition,
)
from orders.services.checks import (
    address_problems, _bad_address_key, order_resolve_skus, _raise_bad_address, _raise_unknown_sku, _raise_unknown_skus,
    _unknown_skus,
)
from orders.services.shipping_requests import shipping_request_cancel
from orders.services.lines import _lines_by_sku
from integrations.bulk_insert import objs_insert, rows_insert
from orders.services.routing import order_route
from orders.services.cancellations import order_cancel_from_channel
from orders.services.holds import hold_rule_for, hold_until_for, _match_hold_rule


ORDER_FIELDS = ("channel_status", "order_type", "fulfillment_type", "currency", "subtotal", "shipping_total", "tax_total",
                "discount_total", "total", "buyer_external_id", "buyer_email", "buyer_message", "payment_method",
                "shipping_address", "shipping_method", "delivery_option_id", "ship_by", "deliver_by", "ordered_at",
                "remote_updated_at")


def _order_values(data: OrderIn) -> dict:
    values = {f: getattr(data, f) for f in ORDER_FIELDS}
    values["tags"] = list(data.tags)
    values["payload_hash"] = data.payload_hash or _hash_order_in(data)
    return values


def _hash_order_in(data: OrderIn) -> str:
    raw = json.dumps({"o": {f: str(getattr(data, f)) for f in ORDER_FIELDS}, "s": data.status, "t": list(data.tags),
                      "l": [[ln.sku, ln.quantity, str(ln.unit_price), str(ln.discount), str(ln.tax), ln.canceled_quantity,
                             *([ln.bundle_sku, str(ln.price_total)] if ln.bundle_sku or ln.price_total is not None else [])]
                            for ln in data.lines]}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _validate_order_in(data: OrderIn) -> str:
    if not data.external_id:
        return "external_id is required"
    if data.status not in S.values:
        return f"unknown status {data.status!r}"
    if not data.lines:
        return "order has no lines"
    for line in data.lines:
        if not line.sku:
            return "a line has no SKU"
        if line.quantity <= 0 or line.canceled_quantity < 0 or line.canceled_quantity > line.quantity:
            return f"line {line.sku}: bad quantity"
    return _validate_bundle_lines(data)


def _validate_bundle_lines(data: OrderIn) -> str:
    """Every component names an ordered line of the same order, in whole units per bundle unit."""
    ordered: dict[str, int] = defaultdict(int)
    parts: dict[tuple[str, str], int] = defaultdict(int)
    for line in data.lines:
        if line.bundle_sku:
            parts[(line.bundle_sku, line.sku)] += line.quantity
        else:
            ordered[line.sku] += line.quantity
    for (bundle, sku), quantity in parts.items():
        if bundle == sku:
            return f"line {sku}: a bundle cannot contain itself"
        if bundle not in ordered:
            return f"line {sku}: bundle {bundle} is not a line of this order"
        if quantity % ordered[bundle]:
            return f"line {sku}: quantity {quantity} is not a whole multiple of bundle {bundle}'s {ordered[bundle]}"
    return ""


def _merge_lines(data: OrderIn) -> dict[tuple[str, str], dict]:
    """Lines keyed by (bundle SKU, SKU): TikTok sends one line per unit, and an ordered bundle's components are
    their own lines under it (the same SKU ordered on its own is another line). The total comes from the exact
    sum of the unit prices, never from a rounded average price (which was off by a cent or two)."""
    merged: dict[tuple[str, str], dict] = {}
    for ln in data.lines:
        row = merged.setdefault((ln.bundle_sku, ln.sku), {"quantity": 0, "unit_price": ln.unit_price, "discount": 0, "tax": 0,
                                                          "name": ln.name, "channel_line_ids": [], "is_bundle": ln.is_bundle,
                                                          "canceled_quantity": 0, "gross": Decimal("0")})
        row["quantity"] += ln.quantity
        row["discount"] += ln.discount
        row["tax"] += ln.tax
        row["canceled_quantity"] += ln.canceled_quantity
        row["channel_line_ids"] += list(ln.channel_line_ids)
        row["is_bundle"] = row["is_bundle"] or ln.is_bundle
        row["gross"] += ln.price_total if ln.price_total is not None else ln.unit_price * ln.quantity
    for row in merged.values():
        gross = row.pop("gross")
        row["unit_price"] = (gross / row["quantity"]).quantize(CENT, rounding=ROUND_HALF_UP)
        row["total"] = gross - row["discount"] + row["tax"]
    return merged


def _bundle_skus(merged: dict[tuple[str, str], dict]) -> set[str]:
    """SKUs of the ordered bundle lines that have component lines (never routed themselves)."""
    return {bundle for bundle, _ in merged if bundle}


def _lines_build(*, order: Order, merged: dict[tuple[str, str], dict], products: dict, existing: dict | None = None):
    """(ordered lines, component lines) for merged rows; a component's bundle_line is set once its parent is saved."""
    existing = existing or {}
    top, parts = [], []
    for (bundle, sku), row in merged.items():
        product = products.get(sku)
        line = existing.get((bundle, sku)) or OrderLine(order=order, sku=sku)
        for key, value in row.items():
            setattr(line, key, value)
        line.product = product
        line.is_bundle = row["is_bundle"] or bool(product and product.kind == Product.Kind.BUNDLE)
        (parts if bundle else top).append((bundle, line))
    return top, parts


def _duplicate_key(integration: Integration, external_id: str) -> str:
    return f"ingest:{integration.pk}:duplicate:{external_id}"


@transaction.atomic
def orders_upsert_from_channel(*, integration: Integration, orders_in: list[OrderIn], run=None,
                               existing: dict[str, Order] | None = None) -> UpsertResult:
    """Page-level upsert on (integration, external_id). See CONTRACT.md for the status rules. `existing`: the
    caller's own lookup of this page's orders (external_id → Order, read in this transaction; ids missing from
    it are new), so a page looks its orders up once. The result names the pk of every order upserted."""
    result = UpsertResult()
    valid: dict[str, OrderIn] = {}
    duplicates: set[str] = set()
    for data in orders_in:
        problem = _validate_order_in(data)
        if problem:
            result.errors.append({"external_id": data.external_id, "field": "order", "message": problem})
            continue
        previous = valid.get(data.external_id)
        if previous is not None and _hash_order_in(previous) != _hash_order_in(data):
            exception_raise(category=OpsException.Category.INGESTION, code="duplicate_order_id", integration=integration,
                            cause_key=f"duplicate_order_id:{integration.pk}", dedup_key=_duplicate_key(integration, data.external_id),
                            message=f"{integration.name} sent order id {data.external_id} twice with different contents; the later one was kept.")
            duplicates.add(data.external_id)
        valid[data.external_id] = data  # a repeat in the same page: the later one wins
    if not valid:
        return result
    if existing is None:
        existing = {o.external_id: o for o in Order.objects.filter(integration=integration, external_id__in=list(valid))}
    else:
        existing = {eid: existing[eid] for eid in valid if eid in existing}
    # An order received once (no conflicting copy in its page) clears its earlier duplicate exception. Only an
    # order we already have can have one (the copy kept was stored with it), so a page of new orders asks nothing.
    resolvable = [_duplicate_key(integration, eid) for eid in valid if eid not in duplicates and eid in existing]
    if resolvable:
        exceptions_resolve(dedup_keys=resolvable, note="order received once")
    skus = {ln.sku for data in valid.values() for ln in data.lines}
    products = inventory_services.products_for_skus(skus=sorted(skus), integration=integration)
    to_route: list[Order] = []
    new = [(data, _order_values(data)) for eid, data in valid.items() if eid not in existing]
    if new:
        created = _orders_create_bulk(integration=integration, items=new, products=products, run=run)
        result.order_ids.update((o.external_id, o.pk) for o in created)
        to_route += [o for o in created if o.status == S.READY_FOR_FULFILLMENT]
        result.created += len(new)
    result.order_ids.update((eid, o.pk) for eid, o in existing.items())
    for external_id, order in existing.items():
        data = valid[external_id]
        values = _order_values(data)
        if order.payload_hash == values["payload_hash"]:
            result.unchanged += 1
        else:
            _order_update(order=order, data=data, values=values, products=products, run=run, to_route=to_route)
            result.updated += 1
    for order in to_route:
        order_route(order=order, run=run)
    return result


def _orders_create_bulk(*, integration, items: list[tuple[OrderIn, dict]], products: dict, run) -> list[Order]:
    """New orders of a page in a few bulk statements: each gets its final starting status (review, channel
    hold, rule hold, ready, or the channel's done/canceled status) and one timeline event saying so (received,
    new → starting status). Returns the orders created, pks set (the insert returns them)."""
    now = timezone.now()
    actor = _run_actor(run)
    rules = [r for r in HoldRule.objects.filter(enabled=True).filter(Q(integration__isnull=True) | Q(integration=integration))
             if not r.connector or r.connector == integration.connector]
    orders, plans = [], []
    for data, values in items:
        merged = _merge_lines(data)
        order = Order(integration=integration, external_id=data.external_id, created_at=now, **values)
        bundles = _bundle_skus(merged)
        unknown = list(dict.fromkeys(sku for (bundle, sku), row in merged.items() if sku not in products
                                     and row["quantity"] > row["canceled_quantity"] and not (not bundle and sku in bundles)))
        status, event_actor, message = S.READY_FOR_FULFILLMENT, actor, ""
        if data.fulfillment_type == Order.FulfillmentType.PLATFORM or data.status in CHANNEL_DONE:
            status = data.status if data.status in CHANNEL_DONE else S.FULFILLED
            message = "fulfilled by the platform" if data.fulfillment_type == Order.FulfillmentType.PLATFORM else ""
        elif data.status == S.CANCELED:
            status, message = S.CANCELED, "canceled at the channel"
        elif unknown:
            status, order.review_reason, message = S.REVIEW_REQUIRED, "unknown_sku", "unknown SKU"
        elif data.status == S.ON_HOLD:
            status, order.channel_hold, message = S.ON_HOLD, True, "on hold at the channel"
        else:
            rule = _match_hold_rule(rules, skus={sku for _, sku in merged}, tags=set(data.tags), order_type=data.order_type)
            if rule is not None:
                start = data.ordered_at if rule.clock == HoldRule.Clock.ORDER_TIME and data.ordered_at else now
                until = start + timedelta(minutes=rule.minutes)
                if until > now:
                    status, event_actor, message = S.ON_HOLD, f"hold rule {rule.name}", f"held until {until:%Y-%m-%d %H:%M} UTC"
                    order.hold_until, order.held_by_rule = until, rule
                elif rule.next_status == S.REVIEW_REQUIRED:
                    status, event_actor, order.review_reason = S.REVIEW_REQUIRED, f"hold rule {rule.name}", "hold_rule"
        order.status = status
        orders.append(order)
        plans.append((merged, unknown, event_actor, message, data))
    objs_insert(orders, now=now)
    lines, parts, events, cancellations, cancellation_lines = [], [], [], [], []
    run_id = run.pk if run is not None else None
    for order, (merged, unknown, event_actor, message, data) in zip(orders, plans):
        rows = _line_rows(order=order, merged=merged, products=products)
        lines.extend(row for bundle, row in rows if not bundle)
        parts.extend((order.pk, bundle, row) for bundle, row in rows if bundle)
        received = f"received from {integration.name} ({order.channel_status})"
        events.append({"order_id": order.pk, "at": now, "kind": "created", "from_status": S.NEW, "to_status": order.status,
                       "message": f"{received}: {message}" if message else received, "actor": event_actor[:120],
                       "sync_run_id": run_id})
        for item in _created_cancellations(order=order, data=data):
            record = Cancellation(order=order, integration=integration, source=item.source, reason=item.reason[:255],
                                  external_id=item.external_id, status=item.status, is_full=item.is_full)
            cancellations.append(record)
            cancellation_lines.extend((record, order.pk, ql) for ql in item.lines)
    # Line pks are read back only when something points at a line (bundle components, cancelled lines).
    line_ids = rows_insert(OrderLine, lines, returning=bool(parts or cancellation_lines), now=now)
    by_key = {(row["order_id"], row["sku"]): pk for row, pk in zip(lines, line_ids)}
    for order_id, bundle, row in parts:
        row["bundle_line_id"] = by_key[(order_id, bundle)]
    rows_insert(OrderLine, [row for _, _, row in parts], now=now)
    rows_insert(OrderEvent, events, now=now)
    Cancellation.objects.bulk_create(cancellations)
    CancellationLine.objects.bulk_create([
        CancellationLine(cancellation=record, order_line_id=by_key.get((order_id, ql.sku)), sku=ql.sku, quantity=ql.quantity)
        for record, order_id, ql in cancellation_lines])
    for order, (_, unknown, _, _, _) in zip(orders, plans):
        for sku in unknown:
            _raise_unknown_sku(order, sku)
    return orders


def _line_rows(*, order: Order, merged: dict[tuple[str, str], dict], products: dict) -> list[tuple[str, dict]]:
    """[(bundle SKU, line row by attname)] of a new order's merged lines (bundle_line_id set once the bundle line has
    its pk); what _lines_build makes as model instances for an existing order."""
    rows = []
    for (bundle, sku), row in merged.items():
        product = products.get(sku)
        rows.append((bundle, {**row, "order_id": order.pk, "sku": sku, "product_id": product.pk if product else None,
                              "is_bundle": row["is_bundle"] or bool(product and product.kind == Product.Kind.BUNDLE)}))
    return rows


def _full_cancellation_in(data: OrderIn) -> CancellationIn:
    """The channel's whole-order cancellation (its source, reason and id), else "platform" with the channel status."""
    full = next((c for c in data.cancellations if c.is_full), None)
    return full or CancellationIn(source=Cancellation.Source.PLATFORM, reason=data.channel_status)


def _created_cancellations(*, order: Order, data: OrderIn) -> list[CancellationIn]:
    """Cancellations to record for a new order: the full one when it starts cancelled, else the channel's
    line cancellations whose SKUs are cancelled on the order's lines (partial cancellation on arrival)."""
    if order.status == S.CANCELED:
        return [_full_cancellation_in(data)]
    canceled = {ln.sku for ln in data.lines if ln.canceled_quantity and not ln.bundle_sku}
    return [c for c in data.cancellations if not c.is_full and c.lines and all(ql.sku in canceled for ql in c.lines)]


def _order_proceed(*, order: Order, actor: str, run=None, user=None, channel_hold: bool = False, to_route: list | None = None) -> None:
    """From new / reviewRequired: unknown SKUs → review; channel hold or hold rule → onHold; else ready and routed."""
    if _unknown_skus(order):
        _raise_unknown_skus(order)
        order.review_reason = "unknown_sku"
        _save(order, "review_reason")
        _try_transition(order=order, to_status=S.REVIEW_REQUIRED, actor=actor, run=run, user=user, message="unknown SKU")
        return
    if channel_hold:
        order.channel_hold = True
        _save(order, "channel_hold")
        order_transition(order=order, to_status=S.ON_HOLD, actor=actor, run=run, user=user, message="on hold at the channel")
        return
    rule = hold_rule_for(order=order)
    if rule is not None:
        until = hold_until_for(order=order, rule=rule)
        if until > timezone.now():
            order.hold_until, order.held_by_rule = until, rule
            _save(order, "hold_until", "held_by_rule")
            order_transition(order=order, to_status=S.ON_HOLD, actor=f"hold rule {rule.name}", run=run,
                             message=f"held until {until:%Y-%m-%d %H:%M} UTC")
            return
        if rule.next_status == S.REVIEW_REQUIRED:
            order.review_reason = "hold_rule"
            _save(order, "review_reason")
            order_transition(order=order, to_status=S.REVIEW_REQUIRED, actor=f"hold rule {rule.name}", run=run)
            return
    order_transition(order=order, to_status=S.READY_FOR_FULFILLMENT, actor=actor, run=run, user=user)
    if to_route is not None:
        to_route.append(order)
    else:
        order_route(order=order, run=run, user=user)


def _order_reset(order: Order, *, from_status: str) -> bool:
    """Back to `new` (to be decided again by _order_proceed), only from the status the caller saw: a
    compare-and-set, so an order cancelled or released meanwhile is left alone. Internal step, no event."""
    if not Order.objects.filter(pk=order.pk, status=from_status).update(status=S.NEW, updated_at=timezone.now()):
        order.status = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first() or order.status
        return False
    order.status = S.NEW
    return True


def _channel_line_cancellations(*, order: Order, data: OrderIn, merged: dict[tuple[str, str], dict], run) -> None:
    """Apply the channel's line cancellations not recorded yet (closed loop: requests cancelled, the rest routed
    again). Each is recorded once by its external id; one is applied only while the order line's cancelled
    quantity is below what the channel reports cancelled for that SKU (a cancellation that already existed
    counts for nothing, so a later one of the same SKU is never skipped)."""
    partial = [c for c in data.cancellations if not c.is_full and c.lines and c.external_id]
    if not partial or order.status in (S.CANCELED, *CHANNEL_DONE):
        return
    known = set(Cancellation.objects.filter(integration=order.integration, external_id__in=[c.external_id for c in partial])
                .values_list("external_id", flat=True))
    reported: dict[str, int] = defaultdict(int)
    for (bundle, sku), row in merged.items():
        if not bundle:  # the lines as ordered (a bundle's components follow their bundle line)
            reported[sku] += row["canceled_quantity"]
    for cancellation in partial:
        if cancellation.external_id in known:
            continue
        lines = _lines_by_sku(Order.objects.get(pk=order.pk))
        if all((lines[ql.sku].canceled_quantity if ql.sku in lines else 0) + ql.quantity <= reported[ql.sku]
               for ql in cancellation.lines):
            order_cancel_from_channel(order=order, cancellation=cancellation, run=run)


def _order_update(*, order: Order, data: OrderIn, values: dict, products: dict, run, to_route: list) -> None:
    actor = _run_actor(run)
    order_lock(order)
    merged = _merge_lines(data)
    if data.status != S.CANCELED:
        _channel_line_cancellations(order=order, data=data, merged=merged, run=run)
    sent = order.shipping_requests.filter(status__in=SR_ACTIVE).exclude(status__in=SR_UNSENT).exists()
    lines_changed = _lines_differ(order, merged)
    for field, value in values.items():
        setattr(order, field, value)
    _save(order, *values)
    if lines_changed and not sent and order.status not in (S.CANCELED, *CHANNEL_DONE, S.PARTIAL_FULFILLMENT):
        # Shipping requests are never edited: cancel (restock) the unsent ones and route again.
        rerouting = order.shipping_requests.filter(status__in=SR_UNSENT).exists()
        for sr in order.shipping_requests.filter(status__in=SR_UNSENT):
            shipping_request_cancel(shipping_request=sr, restock=True, actor=actor)
        _lines_replace(order=order, merged=merged, products=products)
        _event(order, "edited", "lines changed at the channel", actor, run=run)
        if rerouting:
            order.routing_state = ""
            _save(order, "routing_state")
            to_route.append(order)
    elif lines_changed:
        _event(order, "edit_ignored", "lines changed at the channel after the order was sent to fulfillment", actor, run=run)
    if data.status == S.CANCELED and order.status != S.CANCELED:
        order_cancel_from_channel(order=order, cancellation=_full_cancellation_in(data), run=run)
        return
    if data.status in CHANNEL_DONE and order.fulfillment_type == Order.FulfillmentType.PLATFORM:
        _try_transition(order=order, to_status=data.status, actor=actor, run=run)
        return
    if data.status in (S.IN_TRANSIT, S.DELIVERED, S.CLOSED):
        _try_transition(order=order, to_status=data.status, actor=actor, run=run)
    if order.channel_hold and data.status != S.ON_HOLD:
        order.channel_hold = False
        _save(order, "channel_hold")
        _event(order, "channel_released", "released by the channel", actor, run=run)
        if _order_reset(order, from_status=S.ON_HOLD):
            _order_proceed(order=order, actor=actor, run=run, to_route=to_route)
        return
    if order.review_reason in ("unknown_sku", "bad_address") and order.status == S.REVIEW_REQUIRED:
        order_retry(order=order, actor=actor, run=run)


def _line_keys(order: Order) -> dict[tuple[str, str], OrderLine]:
    lines = list(order.lines.all())
    skus = {ln.pk: ln.sku for ln in lines}
    return {(skus.get(ln.bundle_line_id, "") if ln.bundle_line_id else "", ln.sku): ln for ln in lines}


def _lines_differ(order: Order, merged: dict[tuple[str, str], dict]) -> bool:
    current = {key: (ln.quantity, ln.canceled_quantity) for key, ln in _line_keys(order).items()}
    return current != {key: (row["quantity"], row["canceled_quantity"]) for key, row in merged.items()}


def _lines_replace(*, order: Order, merged: dict[tuple[str, str], dict], products: dict) -> None:
    existing = _line_keys(order)
    gone = [ln.pk for key, ln in existing.items() if key not in merged]
    order.lines.filter(pk__in=gone).delete()
    existing = {key: ln for key, ln in existing.items() if key in merged}
    top, parts = _lines_build(order=order, merged=merged, products=products, existing=existing)
    fields = ["quantity", "unit_price", "discount", "tax", "total", "name", "channel_line_ids", "is_bundle", "canceled_quantity",
              "product", "bundle_line"]
    OrderLine.objects.bulk_create([line for _, line in top if not line.pk])
    OrderLine.objects.bulk_update([line for _, line in top if line.pk], fields) if top else None
    by_sku = {line.sku: line for _, line in top}
    for bundle, line in parts:
        line.bundle_line = by_sku[bundle]
    OrderLine.objects.bulk_create([line for _, line in parts if not line.pk])
    changed = [line for _, line in parts if line.pk]
    if changed:
        OrderLine.objects.bulk_update(changed, fields)


def order_retry(*, order: Order, actor: str = "re-drive", user=None, run=None) -> bool:
    """Retry whatever blocks the order: unknown SKUs, then routing. True if the order moved on."""
    if order.status in (S.CANCELED, *CHANNEL_DONE):
        return False
    unknown = order_resolve_skus(order=order)
    if unknown:
        _raise_unknown_skus(order)
        return False
    if order.status == S.REVIEW_REQUIRED and order.review_reason == "bad_address":
        if address_problems(order.shipping_address):
            _raise_bad_address(order)
            return False
        exceptions_resolve(dedup_keys=[_bad_address_key(order)], note="shipping address completed")
        order.review_reason = ""
        _save(order, "review_reason")
        if not _order_reset(order, from_status=S.REVIEW_REQUIRED):
            return False
        _event(order, "address_fixed", "shipping address complete", actor, user=user, run=run)
        _order_proceed(order=order, actor=actor, run=run, user=user)
        return True
    if order.status == S.REVIEW_REQUIRED and order.review_reason == "unknown_sku":
        order.review_reason = ""
        _save(order, "review_reason")
        if not _order_reset(order, from_status=S.REVIEW_REQUIRED):
            return False
        _event(order, "sku_resolved", "all SKUs known", actor, user=user, run=run)
        _order_proceed(order=order, actor=actor, run=run, user=user)
        return True
    if order.status == S.READY_FOR_FULFILLMENT and order.routing_state in (RoutingState.FAILED, RoutingState.PENDING_INVENTORY, ""):
        return bool(order_route(order=order, run=run, user=user, actor=actor))
    return False


# Orders re-checked per scheduled run (oldest first); the rest wait for the next run.
RETRY_BLOCKED_BATCH = 200


def orders_retry_blocked(*, limit: int = RETRY_BLOCKED_BATCH) -> int:
    """Scheduled: orders waiting in review for a cause that may have been fixed without a re-drive (the SKU was
    created or mapped, the address completed here) move on, and their exceptions resolve. An order whose cause
    is still there is left alone (its exception is not bumped). Returns how many orders moved on."""
    moved = 0
    blocked = Order.objects.filter(status=S.REVIEW_REQUIRED, review_reason__in=("unknown_sku", "bad_address"))
    for order in blocked.select_related("integration").order_by("updated_at", "pk")[:limit]:
        with transaction.atomic():
            if order.review_reason == "unknown_sku" and order_resolve_skus(order=order):
                continue
            if order.review_reason == "bad_address" and address_problems(order.shipping_address):
                continue
            moved += bool(order_retry(order=order, actor="retry schedule"))
    return moved
