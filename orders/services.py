"""Order operations: ingestion, lifecycle, holds, routing, fulfillment, closed-loop cancellation,
returns, refunds, exception re-drive. Connectors call the functions listed in orders/CONTRACT.md."""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Product
from integrations.models import Integration, OpsException
from integrations.services import exception_raise, exceptions_resolve
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.models import Location
from orders.interface import CancellationIn, FulfillmentIn, OrderIn, RefundIn, ReturnIn, UpsertResult
from orders.models import (
    Cancellation, CancellationLine, Fulfillment, FulfillmentLine, HoldRule, Order, OrderEvent, OrderLine, OrderStatus,
    Refund, RefundLine, Return, ReturnLine, RoutingRule, RoutingState, ShippingRequest, ShippingRequestLine,
    ShippingRequestStatus,
)

S = OrderStatus
SR = ShippingRequestStatus

# Allowed order status moves. Anything else is refused (InvalidTransition), so a stale or out-of-order
# channel update cannot drag an order backwards.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.NEW, S.CANCELED}),
    S.NEW: frozenset({S.ON_HOLD, S.TO_BE_VALIDATED, S.REVIEW_REQUIRED, S.READY_FOR_FULFILLMENT, S.CANCELED, S.FULFILLED,
                      S.IN_TRANSIT, S.DELIVERED, S.CLOSED}),
    S.TO_BE_VALIDATED: frozenset({S.ON_HOLD, S.REVIEW_REQUIRED, S.READY_FOR_FULFILLMENT, S.CANCELED}),
    S.ON_HOLD: frozenset({S.READY_FOR_FULFILLMENT, S.REVIEW_REQUIRED, S.CANCELED}),
    S.REVIEW_REQUIRED: frozenset({S.ON_HOLD, S.READY_FOR_FULFILLMENT, S.CANCELED}),
    S.READY_FOR_FULFILLMENT: frozenset({S.ON_HOLD, S.REVIEW_REQUIRED, S.SENT_TO_FULFILLMENT, S.PARTIAL_FULFILLMENT,
                                        S.FULFILLED, S.CANCELED}),
    S.SENT_TO_FULFILLMENT: frozenset({S.READY_FOR_FULFILLMENT, S.REVIEW_REQUIRED, S.PARTIAL_FULFILLMENT, S.FULFILLED,
                                      S.CANCELED}),
    S.PARTIAL_FULFILLMENT: frozenset({S.FULFILLED, S.REVIEW_REQUIRED, S.CANCELED, S.RETURNED, S.REFUNDED}),
    S.FULFILLED: frozenset({S.IN_TRANSIT, S.DELIVERED, S.RETURNED, S.REFUNDED, S.CLOSED}),
    S.IN_TRANSIT: frozenset({S.DELIVERED, S.RETURNED, S.REFUNDED, S.CLOSED}),
    S.DELIVERED: frozenset({S.RETURNED, S.REFUNDED, S.CLOSED}),
    S.CANCELED: frozenset({S.REFUNDED, S.CLOSED}),
    S.RETURNED: frozenset({S.REFUNDED, S.CLOSED}),
    S.REFUNDED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}

# Shipping requests still holding (or about to hold) stock at a location.
SR_ACTIVE = (SR.NEW, SR.PENDING_INVENTORY, SR.REVIEW_REQUIRED, SR.READY_FOR_FULFILLMENT, SR.SENT_TO_FULFILLMENT,
             SR.PARTIAL_FULFILLMENT, SR.ON_HOLD, SR.FAILED)
SR_UNSENT = (SR.NEW, SR.PENDING_INVENTORY, SR.REVIEW_REQUIRED, SR.READY_FOR_FULFILLMENT, SR.ON_HOLD, SR.FAILED)
# Statuses a channel reports for orders that already left (historic import, platform-shipped).
CHANNEL_DONE = (S.FULFILLED, S.IN_TRANSIT, S.DELIVERED, S.CLOSED)
# 3PL-side cancellation outcomes the integration setting may choose.
FULFILLMENT_CANCEL_STATUSES = (SR.REVIEW_REQUIRED, SR.CANCELED, SR.CANCELED_RESTOCK, SR.FAILED)
# Failed routing is retried on this schedule (and immediately when stock arrives for pendingInventory).
ROUTING_RETRY = timedelta(minutes=15)
RETURN_DONE_STATUSES = {"received", "completed", "returned", "closed", "return_completed"}
REFUND_DONE_STATUSES = {"completed", "success", "succeeded", "refunded", "closed"}


class InvalidTransition(ValueError):
    pass


class OrderActionError(ValueError):
    """A user or connector asked for something the order's state does not allow; nothing changed."""


# --- lifecycle ------------------------------------------------------------------------------

def order_transition(*, order: Order, to_status: str, actor: str, user=None, run=None, message: str = "") -> OrderEvent | None:
    """Move the order to to_status if allowed, recording who or what moved it. Same status: no-op."""
    if order.status == to_status:
        return None
    if to_status not in TRANSITIONS.get(order.status, frozenset()):
        raise InvalidTransition(f"order {order.external_id}: {order.status} → {to_status} is not allowed")
    from_status = order.status
    Order.objects.filter(pk=order.pk).update(status=to_status, updated_at=timezone.now())
    order.status = to_status
    return OrderEvent.objects.create(order=order, kind="status", from_status=from_status, to_status=to_status, message=message,
                                     actor=actor[:120], user=user, sync_run=run)


def order_can_transition(*, order: Order, to_status: str) -> bool:
    return order.status == to_status or to_status in TRANSITIONS.get(order.status, frozenset())


def _try_transition(**kwargs) -> OrderEvent | None:
    if not order_can_transition(order=kwargs["order"], to_status=kwargs["to_status"]):
        return None
    return order_transition(**kwargs)


def _event(order: Order, kind: str, message: str, actor: str, user=None, run=None) -> OrderEvent:
    return OrderEvent.objects.create(order=order, kind=kind, message=message, actor=actor[:120], user=user, sync_run=run)


def _run_actor(run) -> str:
    return f"flow run #{run.pk}" if run is not None else "sync"


def _user_actor(user) -> str:
    return f"user {user.get_username()}" if user is not None else "system"


def _save(order: Order, *fields: str) -> None:
    order.save(update_fields=[*fields, "updated_at"])


# --- ingestion ------------------------------------------------------------------------------

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
                      "l": [[ln.sku, ln.quantity, str(ln.unit_price), str(ln.discount), str(ln.tax), ln.canceled_quantity]
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
    return ""


def _merge_lines(data: OrderIn) -> dict[str, dict]:
    """Lines keyed by SKU (TikTok sends one line per unit)."""
    merged: dict[str, dict] = {}
    for ln in data.lines:
        row = merged.setdefault(ln.sku, {"quantity": 0, "unit_price": ln.unit_price, "discount": 0, "tax": 0, "name": ln.name,
                                         "channel_line_ids": [], "is_bundle": ln.is_bundle, "canceled_quantity": 0})
        row["quantity"] += ln.quantity
        row["discount"] += ln.discount
        row["tax"] += ln.tax
        row["canceled_quantity"] += ln.canceled_quantity
        row["channel_line_ids"] += list(ln.channel_line_ids)
    for row in merged.values():
        row["total"] = row["unit_price"] * row["quantity"] - row["discount"] + row["tax"]
    return merged


def orders_upsert_from_channel(*, integration: Integration, orders_in: list[OrderIn], run=None) -> UpsertResult:
    """Page-level upsert on (integration, external_id). See CONTRACT.md for the status rules."""
    result = UpsertResult()
    valid: dict[str, OrderIn] = {}
    for data in orders_in:
        problem = _validate_order_in(data)
        if problem:
            result.errors.append({"external_id": data.external_id, "field": "order", "message": problem})
            continue
        previous = valid.get(data.external_id)
        if previous is not None and _hash_order_in(previous) != _hash_order_in(data):
            exception_raise(category=OpsException.Category.INGESTION, code="duplicate_order_id", integration=integration,
                            cause_key=f"duplicate_order_id:{integration.pk}", dedup_key=f"ingest:{integration.pk}:duplicate:{data.external_id}",
                            message=f"{integration.name} sent order id {data.external_id} twice with different contents; the later one was kept.")
        valid[data.external_id] = data  # a repeat in the same page: the later one wins
    if not valid:
        return result
    existing = {o.external_id: o for o in Order.objects.filter(integration=integration, external_id__in=list(valid))}
    skus = {ln.sku for data in valid.values() for ln in data.lines}
    products = inventory_services.products_for_skus(skus=sorted(skus), integration=integration)
    to_route: list[Order] = []
    new = [(data, _order_values(data)) for eid, data in valid.items() if eid not in existing]
    if new:
        to_route += _orders_create_bulk(integration=integration, items=new, products=products, run=run)
        result.created += len(new)
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
    hold, rule hold, ready, or the channel's done/canceled status) and a timeline. Returns the orders to route."""
    now = timezone.now()
    actor = _run_actor(run)
    rules = [r for r in HoldRule.objects.filter(enabled=True).filter(Q(integration__isnull=True) | Q(integration=integration))
             if not r.connector or r.connector == integration.connector]
    orders, plans = [], []
    for data, values in items:
        merged = _merge_lines(data)
        order = Order(integration=integration, external_id=data.external_id, created_at=now, **values)
        unknown = [sku for sku, row in merged.items() if sku not in products and row["quantity"] > row["canceled_quantity"]]
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
            rule = _match_hold_rule(rules, skus=set(merged), tags=set(data.tags), order_type=data.order_type)
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
    Order.objects.bulk_create(orders)
    lines, events, cancellations, cancellation_lines = [], [], [], []
    for order, (merged, unknown, event_actor, message, data) in zip(orders, plans):
        by_sku = {}
        for sku, row in merged.items():
            product = products.get(sku)
            by_sku[sku] = OrderLine(order=order, sku=sku, product=product, **{**row, "is_bundle": row["is_bundle"] or bool(
                product and product.kind == Product.Kind.BUNDLE)})
            lines.append(by_sku[sku])
        events.append(OrderEvent(order=order, at=now, kind="created", message=f"received from {integration.name} ({order.channel_status})",
                                 actor=actor, sync_run=run))
        events.append(OrderEvent(order=order, at=now, kind="status", from_status=S.NEW, to_status=order.status, message=message,
                                 actor=event_actor[:120], sync_run=run))
        for item in _created_cancellations(order=order, data=data):
            record = Cancellation(order=order, integration=integration, source=item.source, reason=item.reason[:255],
                                  external_id=item.external_id, status=item.status, is_full=item.is_full)
            cancellations.append(record)
            cancellation_lines.extend((record, by_sku.get(ql.sku), ql) for ql in item.lines)
    OrderLine.objects.bulk_create(lines)
    OrderEvent.objects.bulk_create(events)
    Cancellation.objects.bulk_create(cancellations)
    CancellationLine.objects.bulk_create([
        CancellationLine(cancellation=record, order_line=line, sku=ql.sku, quantity=ql.quantity)
        for record, line, ql in cancellation_lines])
    for order, (_, unknown, _, _, _) in zip(orders, plans):
        for sku in unknown:
            _raise_unknown_sku(order, sku)
    return [o for o in orders if o.status == S.READY_FOR_FULFILLMENT]


def _full_cancellation_in(data: OrderIn) -> CancellationIn:
    """The channel's whole-order cancellation (its source, reason and id), else "platform" with the channel status."""
    full = next((c for c in data.cancellations if c.is_full), None)
    return full or CancellationIn(source=Cancellation.Source.PLATFORM, reason=data.channel_status)


def _created_cancellations(*, order: Order, data: OrderIn) -> list[CancellationIn]:
    """Cancellations to record for a new order: the full one when it starts cancelled, else the channel's
    line cancellations whose SKUs are cancelled on the order's lines (partial cancellation on arrival)."""
    if order.status == S.CANCELED:
        return [_full_cancellation_in(data)]
    canceled = {ln.sku for ln in data.lines if ln.canceled_quantity}
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


def _order_update(*, order: Order, data: OrderIn, values: dict, products: dict, run, to_route: list) -> None:
    actor = _run_actor(run)
    sent = order.shipping_requests.filter(status__in=SR_ACTIVE).exclude(status__in=SR_UNSENT).exists()
    merged = _merge_lines(data)
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
        if order.status == S.ON_HOLD:
            Order.objects.filter(pk=order.pk).update(status=S.NEW)
            order.status = S.NEW
            _order_proceed(order=order, actor=actor, run=run, to_route=to_route)
        return
    if order.review_reason in ("unknown_sku", "bad_address") and order.status == S.REVIEW_REQUIRED:
        order_retry(order=order, actor=actor, run=run)


def _lines_differ(order: Order, merged: dict[str, dict]) -> bool:
    current = {ln.sku: (ln.quantity, ln.canceled_quantity) for ln in order.lines.all()}
    return current != {sku: (row["quantity"], row["canceled_quantity"]) for sku, row in merged.items()}


def _lines_replace(*, order: Order, merged: dict[str, dict], products: dict) -> None:
    existing = {ln.sku: ln for ln in order.lines.all()}
    order.lines.exclude(sku__in=list(merged)).delete()
    new, changed = [], []
    for sku, row in merged.items():
        product = products.get(sku)
        line = existing.get(sku) or OrderLine(order=order, sku=sku)
        for key, value in row.items():
            setattr(line, key, value)
        line.product = product
        line.is_bundle = row["is_bundle"] or bool(product and product.kind == Product.Kind.BUNDLE)
        (changed if line.pk else new).append(line)
    OrderLine.objects.bulk_create(new)
    if changed:
        OrderLine.objects.bulk_update(changed, ["quantity", "unit_price", "discount", "tax", "total", "name", "channel_line_ids",
                                                "is_bundle", "canceled_quantity", "product"])


def _unknown_skus(order: Order) -> list[str]:
    return [ln.sku for ln in order.lines.all() if ln.product_id is None and ln.quantity > ln.canceled_quantity]


def _raise_unknown_skus(order: Order) -> None:
    for sku in _unknown_skus(order):
        _raise_unknown_sku(order, sku)


def address_problems(address: dict) -> list[str]:
    """What a carrier needs that a given shipping address lacks. No address at all is not a problem here
    (channels that share none, platform logistics); masked values (TikTok hides parts with '*') count as given."""
    if not address or not any(str(v).strip() for v in address.values()):
        return []
    missing = []
    if not (str(address.get("address1", "")).strip() or str(address.get("full_address", "")).strip()):
        missing.append("street address")
    if not (str(address.get("country_code", "")).strip() or str(address.get("country", "")).strip()):
        missing.append("country")
    if not (str(address.get("postal_code", "")).strip() or str(address.get("city", "")).strip()):
        missing.append("postal code or city")
    return missing


def _bad_address_key(order: Order) -> str:
    return f"order:{order.pk}:bad_address"


def _raise_bad_address(order: Order) -> None:
    missing = address_problems(order.shipping_address)
    exception_raise(category=OpsException.Category.INGESTION, code="bad_address", integration=order.integration, entity=order,
                    cause_key=f"address:{order.pk}", dedup_key=_bad_address_key(order),
                    message=f"Order {order.external_id} has an incomplete shipping address (missing {', '.join(missing)}); "
                            "it waits in review until the address is completed at the channel or edited here.",
                    details={"missing": missing})


def _raise_unknown_sku(order: Order, sku: str) -> None:
    exception_raise(category=OpsException.Category.INGESTION, code="unknown_sku", integration=order.integration, entity=order,
                    cause_key=f"sku:{sku}", dedup_key=f"order:{order.pk}:unknown_sku:{sku}",
                    message=f"Order {order.external_id} has unknown SKU {sku}: create the product or map the SKU.",
                    details={"sku": sku})


def order_resolve_skus(*, order: Order) -> list[str]:
    """Re-resolve line SKUs against the catalog and SKU mappings; resolve the exceptions of SKUs now known.
    Returns the SKUs still unknown."""
    lines = list(order.lines.all())
    products = inventory_services.products_for_skus(skus=[ln.sku for ln in lines], integration=order.integration)
    changed = []
    for line in lines:
        product = products.get(line.sku)
        if product is not None and line.product_id != product.pk:
            line.product = product
            line.is_bundle = line.is_bundle or product.kind == Product.Kind.BUNDLE
            changed.append(line)
    if changed:
        OrderLine.objects.bulk_update(changed, ["product", "is_bundle"])
    exceptions_resolve(dedup_keys=[f"order:{order.pk}:unknown_sku:{sku}" for sku in products], note="SKU now known")
    return [ln.sku for ln in lines if ln.sku not in products]


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
        Order.objects.filter(pk=order.pk).update(status=S.NEW)
        order.status = S.NEW
        _event(order, "address_fixed", "shipping address complete", actor, user=user, run=run)
        _order_proceed(order=order, actor=actor, run=run, user=user)
        return True
    if order.status == S.REVIEW_REQUIRED and order.review_reason == "unknown_sku":
        order.review_reason = ""
        _save(order, "review_reason")
        Order.objects.filter(pk=order.pk).update(status=S.NEW)
        order.status = S.NEW
        _event(order, "sku_resolved", "all SKUs known", actor, user=user, run=run)
        _order_proceed(order=order, actor=actor, run=run, user=user)
        return True
    if order.status == S.READY_FOR_FULFILLMENT and order.routing_state in (RoutingState.FAILED, RoutingState.PENDING_INVENTORY, ""):
        return bool(order_route(order=order, run=run, user=user, actor=actor))
    return False


# --- holds ----------------------------------------------------------------------------------

def hold_rule_for(*, order: Order) -> HoldRule | None:
    """The first enabled rule (by priority) whose filters all match."""
    rules = [r for r in HoldRule.objects.filter(enabled=True).filter(Q(integration__isnull=True) | Q(integration=order.integration_id))
             if not r.connector or r.connector == order.integration.connector]
    return _match_hold_rule(rules, skus={ln.sku for ln in order.lines.all()}, tags=set(order.tags or []), order_type=order.order_type)


def _match_hold_rule(rules: list[HoldRule], *, skus: set, tags: set, order_type: str) -> HoldRule | None:
    for rule in rules:
        if rule.tags and not tags & set(rule.tags):
            continue
        if rule.skus and not skus & set(rule.skus):
            continue
        if rule.order_types and order_type not in rule.order_types:
            continue
        return rule
    return None


def hold_until_for(*, order: Order, rule: HoldRule):
    start = order.ordered_at if rule.clock == HoldRule.Clock.ORDER_TIME and order.ordered_at else order.created_at
    return start + timedelta(minutes=rule.minutes)


def orders_release_due(*, now=None) -> int:
    """Scheduled: release held orders whose hold ended (not those the channel or a user holds)."""
    now = now or timezone.now()
    count = 0
    due = Order.objects.filter(status=S.ON_HOLD, channel_hold=False, hold_until__isnull=False, hold_until__lte=now)
    for order in due.select_related("integration", "held_by_rule").order_by("hold_until")[:500]:
        with transaction.atomic():
            rule = order.held_by_rule
            actor = f"hold rule {rule.name}" if rule else "hold schedule"
            order.hold_until = None
            _save(order, "hold_until")
            if rule is not None and rule.next_status == S.REVIEW_REQUIRED:
                order.review_reason = "hold_rule"
                _save(order, "review_reason")
                order_transition(order=order, to_status=S.REVIEW_REQUIRED, actor=actor, message="hold ended; manual release")
            else:
                order_transition(order=order, to_status=S.READY_FOR_FULFILLMENT, actor=actor, message="hold ended")
                order_route(order=order)
            count += 1
    return count


@transaction.atomic
def order_release_hold(*, order: Order, user=None) -> list[ShippingRequest]:
    """A person releases a held (or review-required) order: it becomes ready and is routed."""
    if order.status not in (S.ON_HOLD, S.REVIEW_REQUIRED):
        raise OrderActionError(f"order {order.external_id} is {order.status}, not held")
    if _unknown_skus(order) and order_resolve_skus(order=order):
        raise OrderActionError(f"order {order.external_id} has unknown SKUs; create the products or map the SKUs first")
    order.hold_until, order.channel_hold, order.review_reason = None, False, ""
    _save(order, "hold_until", "channel_hold", "review_reason")
    order_transition(order=order, to_status=S.READY_FOR_FULFILLMENT, actor=_user_actor(user), user=user, message="released")
    return order_route(order=order, user=user)


@transaction.atomic
def order_rehold(*, order: Order, user=None, minutes: int | None = None) -> None:
    """Put a not-yet-sent order back on hold (until a person releases it, or for `minutes`). Unsent
    shipping requests are cancelled with restock."""
    if order.status not in (S.READY_FOR_FULFILLMENT, S.REVIEW_REQUIRED):
        raise OrderActionError(f"order {order.external_id} is {order.status}; only orders not sent to fulfillment can be re-held")
    if order.shipping_requests.filter(status__in=SR_ACTIVE).exclude(status__in=SR_UNSENT).exists():
        raise OrderActionError(f"order {order.external_id} was already sent to fulfillment")
    for sr in order.shipping_requests.filter(status__in=SR_UNSENT):
        shipping_request_cancel(shipping_request=sr, restock=True, actor=_user_actor(user), user=user)
    order.hold_until = timezone.now() + timedelta(minutes=minutes) if minutes else None
    order.routing_state, order.held_by_rule = "", None
    _save(order, "hold_until", "routing_state", "held_by_rule")
    order_transition(order=order, to_status=S.ON_HOLD, actor=_user_actor(user), user=user,
                     message=f"re-held for {minutes} min" if minutes else "re-held until released")


# --- routing --------------------------------------------------------------------------------

def routing_rule_for(*, order: Order) -> RoutingRule | None:
    skus = {ln.sku for ln in order.lines.all()}
    tags = set(order.tags or [])
    address = order.shipping_address or {}
    # Channels give names and/or codes ("United States" / "US", "California" / "CA"): a rule matches either.
    countries = {str(address.get(k) or "").upper() for k in ("country", "country_code")} - {""}
    regions = {str(address.get(k) or "").upper() for k in ("region", "state", "state_code", "province", "region_code")} - {""}
    rules = RoutingRule.objects.filter(enabled=True).filter(Q(integration__isnull=True) | Q(integration=order.integration_id))
    for rule in rules.order_by("position", "name"):
        if rule.skus and not skus & set(rule.skus):
            continue
        if rule.tags and not tags & set(rule.tags):
            continue
        if rule.countries and not countries & {c.upper() for c in rule.countries}:
            continue
        if rule.regions and not regions & {r.upper() for r in rule.regions}:
            continue
        return rule
    return None


def _fulfillment_locations(location: Location) -> list[Location]:
    """A candidate reaches a fulfillment integration directly (it owns the location) or through links
    from a channel location to the fulfillment locations that feed it."""
    from integrations import registry

    if not location.is_active:
        return []
    if location.integration is not None and location.integration.role == registry.FULFILLMENT:
        return [location]
    return [link.source for link in location.links_in.select_related("source__integration")
            if link.source.is_active and link.source.integration is not None
            and link.source.integration.role == registry.FULFILLMENT]


def _managed_routing(integration: Integration) -> bool:
    key = integration.spec.extra.get("managed_routing_setting") if integration.spec.extra else None
    return bool(key) and bool(integration.setting(key))


def _demand(order: Order, existing: dict[int, int]) -> list[tuple[OrderLine, int]]:
    """(line, units still to route) for each line."""
    out = []
    for line in order.lines.all():
        units = line.quantity - line.canceled_quantity - existing.get(line.pk, 0)
        if units > 0:
            out.append((line, units))
    return out


def _expand(line: OrderLine, units: int, location: Location | None, components: dict) -> list[tuple[int, str, int]]:
    """[(product_id, sku, quantity)] one line ships as at a location: components unless bundles are preserved."""
    if line.product is not None and line.product.kind == Product.Kind.BUNDLE and components.get(line.product_id) and not (
            location is not None and location.preserve_bundles):
        return [(cid, sku, qty * units) for cid, sku, qty in components[line.product_id]]
    return [(line.product_id, line.sku, units)]


def _max_units(line: OrderLine, location: Location, components: dict, avail: dict) -> int:
    parts = _expand(line, 1, location, components)
    return max(0, min(avail.get((location.pk, pid), 0) // qty for pid, _, qty in parts)) if parts else 0


@transaction.atomic
def order_route(*, order: Order, run=None, user=None, actor: str = "routing") -> list[ShippingRequest]:
    """Route what is left of a readyForFulfillment order into shipping requests, committing stock. No
    rule, no location or no stock → routing exception and the order waits; nothing is sent anywhere."""
    order = Order.objects.select_for_update().select_related("integration").get(pk=order.pk)
    if order.status != S.READY_FOR_FULFILLMENT or order.cancel_requested_at:
        return []
    routed = _routed_units(order)
    demand = _demand(order, routed)
    if not demand:
        return []
    if any(line.product_id is None for line, _ in demand):
        return []
    if address_problems(order.shipping_address):
        # Checked here, where every path meets before anything is sent: channels may withhold the address
        # until their own hold ends (TikTok ON_HOLD), so an order cannot be judged at creation.
        order.review_reason = "bad_address"
        _save(order, "review_reason")
        _raise_bad_address(order)
        order_transition(order=order, to_status=S.REVIEW_REQUIRED, actor=actor, run=run, user=user,
                         message="incomplete shipping address")
        return []
    rule = routing_rule_for(order=order)
    candidates: list[Location] = []
    if rule is not None:
        for cand in rule.candidates.select_related("location__integration").order_by("rank", "id"):
            for loc in _fulfillment_locations(cand.location):
                if loc not in candidates:
                    candidates.append(loc)
    if not candidates:
        return _routing_failed(order, code="no_location", run=run,
                               message="no routing rule matches" if rule is None else f"rule {rule.name} has no usable location")
    components = _components_for([line for line, _ in demand])
    managed = next((loc for loc in candidates if _managed_routing(loc.integration)), None)
    if managed is not None and managed == candidates[0]:
        # The 3PL picks its own warehouse: the whole order goes there, stock is committed at the 3PL location.
        plan = {managed: [(line, units) for line, units in demand]}
        return _create_requests(order, plan, components, rule=rule, run=run, user=user, actor=actor, managed=True, check=False)
    if not rule.check_inventory:
        plan = {candidates[0]: list(demand)}
        return _create_requests(order, plan, components, rule=rule, run=run, user=user, actor=actor, check=False)
    product_ids = {pid for line, units in demand for loc in candidates for pid, _, _ in _expand(line, units, loc, components)}
    avail = inventory_selectors.available_by_location(product_ids=product_ids, location_ids=[c.pk for c in candidates])
    for loc in candidates:
        if all(_max_units(line, loc, components, avail) >= units for line, units in demand) and _fits(demand, loc, components, avail):
            return _create_requests(order, {loc: list(demand)}, components, rule=rule, run=run, user=user, actor=actor, check=True)
    if rule.allow_split:
        plan = _split_plan(demand, candidates, components, avail)
        if plan is not None:
            return _create_requests(order, plan, components, rule=rule, run=run, user=user, actor=actor, check=True)
    short = sorted({line.sku for line, _ in demand})
    return _routing_failed(order, code="out_of_stock", run=run, pending=True,
                           message=f"not enough stock for {', '.join(short)} at {', '.join(c.name for c in candidates)}")


def _routed_units(order: Order) -> dict[int, int]:
    """Units of each order line on active shipping requests (bundle component lines count as bundle units)."""
    out: dict[int, int] = defaultdict(int)
    per_sr_line: dict[tuple[int, int], int] = {}
    for sr_id, line_id, units in ShippingRequestLine.objects.filter(
            shipping_request__order=order, shipping_request__status__in=SR_ACTIVE, order_line__isnull=False).values_list(
            "shipping_request_id", "order_line_id", "units"):
        per_sr_line[(sr_id, line_id)] = units
    for (_, line_id), units in per_sr_line.items():
        out[line_id] += units
    return out


def _fits(demand, loc, components, avail) -> bool:
    need: dict[int, int] = defaultdict(int)
    for line, units in demand:
        for pid, _, qty in _expand(line, units, loc, components):
            need[pid] += qty
    return all(avail.get((loc.pk, pid), 0) >= qty for pid, qty in need.items())


def _split_plan(demand, candidates, components, avail) -> dict | None:
    """Greedy by rank: each line takes as many units as the best-ranked location can give, the rest
    goes down the list. None if the candidates together cannot cover the order."""
    left = dict(avail)
    plan: dict[Location, list] = defaultdict(list)
    for line, units in demand:
        remaining = units
        for loc in candidates:
            if remaining == 0:
                break
            take = min(remaining, _max_units(line, loc, components, left))
            if take <= 0:
                continue
            for pid, _, qty in _expand(line, take, loc, components):
                left[(loc.pk, pid)] = left.get((loc.pk, pid), 0) - qty
            plan[loc].append((line, take))
            remaining -= take
        if remaining:
            return None
    return dict(plan)


def _components_for(lines: list[OrderLine]) -> dict[int, list[tuple[int, str, int]]]:
    from catalog.models import BundleComponent

    bundle_ids = [ln.product_id for ln in lines if ln.product is not None and ln.product.kind == Product.Kind.BUNDLE]
    out: dict[int, list] = defaultdict(list)
    for bc in BundleComponent.objects.filter(bundle_id__in=bundle_ids).select_related("component"):
        out[bc.bundle_id].append((bc.component_id, bc.component.sku, bc.quantity))
    return dict(out)


def _create_requests(order: Order, plan: dict, components: dict, *, rule, run, user, actor: str, check: bool,
                     managed: bool = False) -> list[ShippingRequest]:
    try:
        with transaction.atomic():
            return _create_requests_now(order, plan, components, rule=rule, run=run, user=user, actor=actor, check=check, managed=managed)
    except inventory_services.InsufficientInventory as exc:
        # Another worker committed the same stock between our read and our commit: wait like any shortage.
        return _routing_failed(order, code="out_of_stock", run=run, pending=True, message=str(exc))


def _create_requests_now(order: Order, plan: dict, components: dict, *, rule, run, user, actor: str, check: bool,
                         managed: bool = False) -> list[ShippingRequest]:
    created = []
    n = order.shipping_requests.count()
    for loc, items in plan.items():
        n += 1
        sr = ShippingRequest.objects.create(order=order, integration=loc.integration, location=loc, reference=f"SY-{order.pk}-{n}",
                                            status=SR.READY_FOR_FULFILLMENT, managed_routing=managed,
                                            shipping_method=order.shipping_method)
        lines = []
        for line, units in items:
            for pid, sku, qty in _expand(line, units, loc, components):
                lines.append(ShippingRequestLine(shipping_request=sr, order_line=line, product_id=pid, sku=sku, quantity=qty,
                                                 units=units))
        ShippingRequestLine.objects.bulk_create(lines)
        for sr_line in lines:
            inventory_services.inventory_commit(location=loc, product=Product(pk=sr_line.product_id, sku=sr_line.sku),
                                                quantity=sr_line.quantity, reference=sr.reference, run=run, allow_negative=not check)
        created.append(sr)
    order.routing_state, order.routing_next_at = RoutingState.ROUTED, None
    _save(order, "routing_state", "routing_next_at")
    exceptions_resolve(dedup_keys=[f"order:{order.pk}:routing:no_location", f"order:{order.pk}:routing:out_of_stock"],
                       note="order routed")
    _event(order, "routed", f"rule {rule.name if rule else '—'} → " + ", ".join(f"{sr.reference} @ {sr.location}" for sr in created),
           actor, user=user, run=run)
    return created


def _routing_failed(order: Order, *, code: str, message: str, run=None, pending: bool = False) -> list:
    state = RoutingState.PENDING_INVENTORY if pending else RoutingState.FAILED
    order.routing_state = state
    order.routing_attempts += 1
    order.routing_next_at = timezone.now() + ROUTING_RETRY
    _save(order, "routing_state", "routing_attempts", "routing_next_at")
    exception_raise(category=OpsException.Category.ROUTING, code=code, integration=order.integration, entity=order,
                    cause_key=f"routing:{code}", dedup_key=f"order:{order.pk}:routing:{code}",
                    message=f"Order {order.external_id} could not be routed: {message}.")
    if order.routing_attempts == 1 or not OrderEvent.objects.filter(order=order, kind="routing_failed", message=message).exists():
        _event(order, "routing_failed", message, "routing", run=run)
    return []


def orders_recheck_pending(*, product_ids) -> int:
    """Stock arrived: try again the orders waiting for it."""
    ids = list(product_ids)
    orders = Order.objects.filter(status=S.READY_FOR_FULFILLMENT, routing_state=RoutingState.PENDING_INVENTORY).filter(
        Q(lines__product_id__in=ids) | Q(lines__product__components__component_id__in=ids)).distinct()
    return sum(1 for order in orders.order_by("created_at")[:200] if order_route(order=order, actor="stock arrived"))


def orders_retry_routing(*, now=None) -> int:
    """Scheduled: retry failed or pending routing whose retry time came."""
    now = now or timezone.now()
    orders = Order.objects.filter(status=S.READY_FOR_FULFILLMENT, routing_state__in=[RoutingState.FAILED, RoutingState.PENDING_INVENTORY],
                                  routing_next_at__lte=now).order_by("routing_next_at")[:200]
    return sum(1 for order in orders if order_route(order=order, actor="routing retry"))


def order_reroute(*, order: Order, user=None, restock: bool = True) -> list[ShippingRequest]:
    """Cancel the order's unsent shipping requests and route it again."""
    with transaction.atomic():
        if order.status != S.READY_FOR_FULFILLMENT:
            raise OrderActionError(f"order {order.external_id} is {order.status}; only orders not sent can be re-routed")
        for sr in order.shipping_requests.filter(status__in=SR_UNSENT):
            shipping_request_cancel(shipping_request=sr, restock=restock, actor=_user_actor(user), user=user)
        order.routing_state = ""
        _save(order, "routing_state")
        return order_route(order=order, user=user, actor=_user_actor(user))


# --- shipping requests ----------------------------------------------------------------------

def _sr_release(sr: ShippingRequest, *, consume: bool, run=None) -> None:
    """Give back what the request still commits (quantity not shipped)."""
    if sr.location_id is None:
        return
    for line in sr.lines.all():
        left = line.quantity - line.shipped_quantity
        if left > 0 and line.product_id:
            inventory_services.inventory_release(location=sr.location, product=Product(pk=line.product_id, sku=line.sku), quantity=left,
                                                 consume=consume, reference=sr.reference, run=run)


def shipping_request_cancel(*, shipping_request: ShippingRequest, restock: bool = True, actor: str = "system", user=None) -> ShippingRequest:
    """Cancel a request. Unsent: done here (release or consume its stock). Sent: the cancellation is
    requested from the fulfillment integration (closed loop)."""
    sr = shipping_request
    if sr.status not in SR_ACTIVE:
        return sr
    if sr.status in SR_UNSENT:
        sr.status = SR.CANCELED_RESTOCK if restock else SR.CANCELED
        sr.cancel_state = ShippingRequest.CancelState.CANCELED
        sr.save(update_fields=["status", "cancel_state", "updated_at"])
        _sr_release(sr, consume=not restock)
        _event(sr.order, "sr_canceled", f"{sr.reference} canceled ({'restock' if restock else 'no restock'})", actor, user=user)
        return sr
    if sr.cancel_state == ShippingRequest.CancelState.REQUESTED:
        return sr
    sr.cancel_state, sr.restock_on_cancel = ShippingRequest.CancelState.REQUESTED, restock
    sr.save(update_fields=["cancel_state", "restock_on_cancel", "updated_at"])
    _event(sr.order, "sr_cancel_requested", f"cancellation of {sr.reference} requested from {sr.integration}", actor, user=user)
    return sr


def shipping_request_mark_sent(*, shipping_request: ShippingRequest, external_id: str, remote_status: str = "", run=None) -> ShippingRequest:
    sr = shipping_request
    if sr.status == SR.SENT_TO_FULFILLMENT and sr.external_id == external_id:
        return sr
    sr.status, sr.external_id, sr.remote_status = SR.SENT_TO_FULFILLMENT, external_id, remote_status or sr.remote_status
    sr.sent_at = sr.sent_at or timezone.now()
    sr.save(update_fields=["status", "external_id", "remote_status", "sent_at", "updated_at"])
    exceptions_resolve(dedup_keys=_sr_exception_keys(sr), note="sent to fulfillment")
    _try_transition(order=sr.order, to_status=S.SENT_TO_FULFILLMENT, actor=_run_actor(run), run=run,
                    message=f"{sr.reference} sent to {sr.integration} as {external_id}")
    return sr


def _sr_exception_keys(sr: ShippingRequest) -> list[str]:
    return list(OpsException.objects.filter(status=OpsException.Status.OPEN, dedup_key__startswith=f"sr:{sr.pk}:").exclude(
        code="cancel_too_late").values_list("dedup_key", flat=True))


def shipping_request_mark_rejected(*, shipping_request: ShippingRequest, message: str, code: str = "3pl_rejected",
                                   cause_key: str = "") -> ShippingRequest:
    """The 3PL refused the request: failed and visible as a fulfillment exception (re-drive resends it).
    cause_key groups requests blocked by one cause, e.g. "shipping_method:<integration pk>:Standard"."""
    sr = shipping_request
    if not cause_key:
        cause_key = f"shipping_method:{sr.integration_id}:{sr.shipping_method}" if "shipping_method" in code else f"{code}:{sr.integration_id}"
    exception_raise(category=OpsException.Category.FULFILLMENT, code=code, integration=sr.integration, entity=sr, cause_key=cause_key,
                    dedup_key=f"sr:{sr.pk}:{code}", message=f"{sr.reference}: {message}", details={"order": sr.order.external_id})
    if sr.status != SR.FAILED:
        sr.status = SR.FAILED
        sr.save(update_fields=["status", "updated_at"])
        _event(sr.order, "sr_rejected", f"{sr.reference} rejected by {sr.integration}: {message}", f"{sr.integration}")
    return sr


def shipping_request_canceled_by_fulfillment(*, shipping_request: ShippingRequest, status: str, reason: str = "") -> ShippingRequest:
    """The 3PL cancelled the request; status is the integration setting's choice."""
    sr = shipping_request
    if status not in FULFILLMENT_CANCEL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(FULFILLMENT_CANCEL_STATUSES)}")
    if sr.status == status or sr.status not in SR_ACTIVE:
        return sr
    order = sr.order
    actor = f"{sr.integration} (3PL cancellation)"
    previous = sr.status
    sr.status = status
    sr.remote_status = "canceled"
    sr.save(update_fields=["status", "remote_status", "updated_at"])
    message = f"{sr.reference} canceled by {sr.integration}" + (f": {reason}" if reason else "") + f" → {status}"
    _event(order, "sr_canceled_by_fulfillment", message, actor)
    if status in (SR.CANCELED, SR.CANCELED_RESTOCK):
        _sr_release(sr, consume=status == SR.CANCELED)
        if not order.shipping_requests.filter(status__in=SR_ACTIVE).exists():
            if _shipped_any(order):
                _try_transition(order=order, to_status=S.PARTIAL_FULFILLMENT, actor=actor, message=message)
            else:
                _try_transition(order=order, to_status=S.CANCELED, actor=actor, message=message)
    elif status == SR.REVIEW_REQUIRED:
        order.review_reason = "fulfillment_canceled"
        _save(order, "review_reason")
        _try_transition(order=order, to_status=S.REVIEW_REQUIRED, actor=actor, message=message)
    elif status == SR.FAILED:
        exception_raise(category=OpsException.Category.FULFILLMENT, code="canceled_by_fulfillment", integration=sr.integration,
                        entity=sr, cause_key=f"canceled_by_fulfillment:{sr.integration_id}", dedup_key=f"sr:{sr.pk}:canceled_by_fulfillment",
                        message=message, details={"previous_status": previous})
    return sr


def _shipped_any(order: Order) -> bool:
    return FulfillmentLine.objects.filter(fulfillment__order=order).exists()


def shipping_request_cancel_confirmed(*, shipping_request: ShippingRequest, too_late: bool = False) -> ShippingRequest:
    """Outcome of a requested cancellation at the 3PL."""
    sr = shipping_request
    if sr.cancel_state in (ShippingRequest.CancelState.CANCELED, ShippingRequest.CancelState.TOO_LATE):
        return sr
    order = sr.order
    actor = f"{sr.integration} (cancel confirmation)"
    if too_late:
        _cancel_too_late(sr)
        return sr
    sr.cancel_state = ShippingRequest.CancelState.CANCELED
    sr.status = SR.CANCELED_RESTOCK if sr.restock_on_cancel else SR.CANCELED
    sr.save(update_fields=["cancel_state", "status", "updated_at"])
    _sr_release(sr, consume=not sr.restock_on_cancel)
    _event(order, "sr_canceled", f"{sr.reference} canceled at {sr.integration}", actor)
    _order_after_cancel_outcome(order, actor=actor)
    return sr


def _cancel_too_late(sr: ShippingRequest) -> None:
    sr.cancel_state = ShippingRequest.CancelState.TOO_LATE
    sr.save(update_fields=["cancel_state", "updated_at"])
    order = sr.order
    exception_raise(category=OpsException.Category.FULFILLMENT, code="cancel_too_late", integration=sr.integration, entity=sr,
                    cause_key=f"cancel_too_late:{sr.pk}", dedup_key=f"sr:{sr.pk}:cancel_too_late",
                    message=f"{sr.reference} of order {order.external_id} shipped before the cancellation reached {sr.integration}.")
    _event(order, "sr_cancel_too_late", f"{sr.reference} already shipped; the fulfillment flows on", f"{sr.integration}")
    _order_after_cancel_outcome(order, actor=f"{sr.integration}")


def _order_after_cancel_outcome(order: Order, *, actor: str) -> None:
    """Once no cancellation is outstanding: a full cancel completes (or stops if something shipped);
    a partial cancel re-routes what is left."""
    if order.shipping_requests.filter(cancel_state=ShippingRequest.CancelState.REQUESTED).exists():
        return
    if order.cancel_requested_at:
        order.cancel_requested_at = None
        _save(order, "cancel_requested_at")
        if order.shipping_requests.filter(status__in=SR_ACTIVE).exists() or _shipped_any(order):
            _event(order, "cancel_incomplete", "part of the order was already shipped; the cancellation did not complete", actor)
            return
        _try_transition(order=order, to_status=S.CANCELED, actor=actor, message="canceled at fulfillment")
        Cancellation.objects.filter(order=order, status=Cancellation.Status.REQUESTED).update(status=Cancellation.Status.COMPLETED)
    elif order.status in (S.SENT_TO_FULFILLMENT, S.READY_FOR_FULFILLMENT) and not order.shipping_requests.filter(status__in=SR_ACTIVE).exists():
        _try_transition(order=order, to_status=S.READY_FOR_FULFILLMENT, actor=actor, message="re-routing what is left")
        order.routing_state = ""
        _save(order, "routing_state")
        order_route(order=order, actor=actor)


# --- cancellations --------------------------------------------------------------------------

def order_cancel_from_channel(*, order: Order, cancellation: CancellationIn, run=None) -> Cancellation:
    """The buyer or platform cancelled (fully or some lines)."""
    existing = None
    if cancellation.external_id:
        existing = Cancellation.objects.filter(integration=order.integration, external_id=cancellation.external_id).first()
    elif order.status == S.CANCELED or order.cancel_requested_at:
        existing = order.cancellations.exclude(source=Cancellation.Source.USER).first()
    if existing is not None:
        return existing
    record = Cancellation.objects.create(order=order, integration=order.integration, external_id=cancellation.external_id,
                                         source=cancellation.source, status=cancellation.status, is_full=cancellation.is_full,
                                         reason=cancellation.reason[:255])
    _cancel_apply(order=order, cancellation=record, lines=cancellation.lines, actor=_run_actor(run), run=run)
    return record


@transaction.atomic
def order_cancel(*, order: Order, reason: str = "", user=None) -> Cancellation:
    """Hub-initiated cancellation (pushed to the channel by its connector when its setting says so)."""
    if order.status in (S.CANCELED, *CHANNEL_DONE, S.RETURNED, S.REFUNDED):
        raise OrderActionError(f"order {order.external_id} is {order.status} and cannot be canceled")
    record = Cancellation.objects.create(order=order, integration=order.integration, source=Cancellation.Source.USER,
                                         status=Cancellation.Status.COMPLETED, is_full=True, reason=reason[:255])
    _cancel_apply(order=order, cancellation=record, lines=(), actor=_user_actor(user), user=user)
    return record


def _cancel_apply(*, order: Order, cancellation: Cancellation, lines, actor: str, run=None, user=None) -> None:
    by_sku = {ln.sku: ln for ln in order.lines.all()}
    if not cancellation.is_full and lines:
        changed = []
        for item in lines:
            line = by_sku.get(item.sku)
            if line is None:
                continue
            line.canceled_quantity = min(line.quantity, line.canceled_quantity + item.quantity)
            changed.append(line)
            CancellationLine.objects.create(cancellation=cancellation, order_line=line, sku=item.sku, quantity=item.quantity)
        OrderLine.objects.bulk_update(changed, ["canceled_quantity"])
        if all(ln.canceled_quantity >= ln.quantity for ln in by_sku.values()):
            cancellation.is_full = True
            cancellation.save(update_fields=["is_full"])
        else:
            _event(order, "partially_canceled", ", ".join(f"{i.quantity} × {i.sku}" for i in lines), actor, user=user, run=run)
            _cancel_partial(order=order, actor=actor, user=user, run=run)
            return
    else:
        CancellationLine.objects.bulk_create([CancellationLine(cancellation=cancellation, order_line=ln, sku=ln.sku,
                                                               quantity=ln.quantity - ln.canceled_quantity)
                                              for ln in by_sku.values() if ln.quantity > ln.canceled_quantity])
    _cancel_full(order=order, cancellation=cancellation, actor=actor, user=user, run=run)


def _cancel_full(*, order: Order, cancellation: Cancellation, actor: str, user=None, run=None) -> None:
    if order.status in CHANNEL_DONE or order.status in (S.RETURNED, S.REFUNDED):
        exception_raise(category=OpsException.Category.FULFILLMENT, code="cancel_too_late", integration=order.integration, entity=order,
                        cause_key=f"cancel_too_late:order:{order.pk}", dedup_key=f"order:{order.pk}:cancel_too_late",
                        message=f"Order {order.external_id} was canceled at the channel after it shipped.")
        return
    for sr in order.shipping_requests.filter(status__in=SR_UNSENT):
        shipping_request_cancel(shipping_request=sr, restock=True, actor=actor, user=user)
    sent = list(order.shipping_requests.filter(status__in=SR_ACTIVE).exclude(status__in=SR_UNSENT))
    for sr in sent:
        shipping_request_cancel(shipping_request=sr, restock=True, actor=actor, user=user)
    order.hold_until, order.channel_hold = None, False
    if sent:
        order.cancel_requested_at = timezone.now()
        _save(order, "hold_until", "channel_hold", "cancel_requested_at")
        _event(order, "cancel_requested", f"waiting for {', '.join(sr.reference for sr in sent)} to be canceled at fulfillment",
               actor, user=user, run=run)
        return
    _save(order, "hold_until", "channel_hold")
    order_transition(order=order, to_status=S.CANCELED, actor=actor, user=user, run=run, message=cancellation.reason)
    exceptions_resolve(dedup_keys=list(OpsException.objects.filter(status=OpsException.Status.OPEN, dedup_key__startswith=f"order:{order.pk}:")
                                       .exclude(code="cancel_too_late").values_list("dedup_key", flat=True)), note="order canceled")


def _cancel_partial(*, order: Order, actor: str, user=None, run=None) -> None:
    """Shipping requests are never edited: cancel the affected ones and route the rest again."""
    active = list(order.shipping_requests.filter(status__in=SR_ACTIVE))
    if not active:
        return
    for sr in active:
        shipping_request_cancel(shipping_request=sr, restock=True, actor=actor, user=user)
    if not any(sr.cancel_state == ShippingRequest.CancelState.REQUESTED for sr in active):
        order.routing_state = ""
        _save(order, "routing_state")
        order_route(order=order, run=run, user=user, actor=actor)


# --- fulfillments ---------------------------------------------------------------------------

def fulfillment_record(*, integration: Integration, shipping_request: ShippingRequest | None = None, order: Order | None = None,
                       fulfillment: FulfillmentIn, run=None) -> tuple[Fulfillment, bool]:
    """Record a shipment once (integration, external_id); ship stock; move request and order status."""
    existing = Fulfillment.objects.filter(integration=integration, external_id=fulfillment.external_id).first()
    if existing is not None:
        return existing, False
    sr = shipping_request
    order = order or (sr.order if sr else None)
    if order is None:
        raise ValueError("fulfillment_record needs a shipping request or an order")
    record = Fulfillment.objects.create(order=order, shipping_request=sr, integration=integration, external_id=fulfillment.external_id,
                                        carrier=fulfillment.carrier, shipping_method=fulfillment.shipping_method,
                                        tracking_numbers=list(fulfillment.tracking_numbers), tracking_url=fulfillment.tracking_url,
                                        shipped_at=fulfillment.shipped_at or timezone.now())
    actor = _run_actor(run)
    if sr is not None:
        _fulfill_request(sr, record, fulfillment, run=run)
    else:
        _fulfill_order_lines(order, record, fulfillment)
    _event(order, "fulfilled", f"shipment {fulfillment.external_id} {fulfillment.carrier} {' '.join(fulfillment.tracking_numbers)}".strip(),
           actor, run=run)
    order_sync_fulfillment_status(order=order, actor=actor, run=run)
    return record, True


def _fulfill_request(sr: ShippingRequest, record: Fulfillment, data: FulfillmentIn, run=None) -> None:
    lines = list(sr.lines.all())
    wanted: dict[str, int] = defaultdict(int)
    if data.lines:
        for item in data.lines:
            wanted[item.sku] += item.quantity
    else:
        for line in lines:
            wanted[line.sku] += line.quantity - line.shipped_quantity
    out, changed = [], []
    for line in lines:
        take = min(wanted.get(line.sku, 0), line.quantity - line.shipped_quantity)
        if take <= 0:
            continue
        wanted[line.sku] -= take
        line.shipped_quantity += take
        changed.append(line)
        out.append(FulfillmentLine(fulfillment=record, order_line_id=line.order_line_id, sku=line.sku, quantity=take))
        if sr.location_id and line.product_id:
            inventory_services.inventory_ship(location=sr.location, product=Product(pk=line.product_id, sku=line.sku), quantity=take,
                                              reference=sr.reference, run=run)
    ShippingRequestLine.objects.bulk_update(changed, ["shipped_quantity"])
    FulfillmentLine.objects.bulk_create(out)
    done = all(ln.shipped_quantity >= ln.quantity for ln in lines)
    sr.status = SR.FULFILLED if done else SR.PARTIAL_FULFILLMENT
    sr.save(update_fields=["status", "updated_at"])
    if sr.cancel_state == ShippingRequest.CancelState.REQUESTED:
        _cancel_too_late(sr)


def _fulfill_order_lines(order: Order, record: Fulfillment, data: FulfillmentIn) -> None:
    by_sku = {ln.sku: ln for ln in order.lines.all()}
    items = [(i.sku, i.quantity) for i in data.lines] if data.lines else [(ln.sku, ln.quantity - ln.canceled_quantity) for ln in by_sku.values()]
    FulfillmentLine.objects.bulk_create([FulfillmentLine(fulfillment=record, order_line=by_sku.get(sku), sku=sku, quantity=qty)
                                         for sku, qty in items if qty > 0])


def order_sync_fulfillment_status(*, order: Order, actor: str = "fulfillment", run=None) -> None:
    """partialFulfillment while something is left to ship, fulfilled when everything (not canceled) shipped."""
    if order.fulfillment_type == Order.FulfillmentType.PLATFORM:
        return
    shipped: dict[int, int] = defaultdict(int)
    for sr in order.shipping_requests.exclude(status__in=[SR.CANCELED, SR.CANCELED_RESTOCK]).prefetch_related("lines"):
        per_line: dict[int, list] = defaultdict(list)
        for ln in sr.lines.all():
            per_line[ln.order_line_id].append(ln)
        for line_id, sr_lines in per_line.items():
            units = sr_lines[0].units or sum(ln.quantity for ln in sr_lines)
            # Bundle components: the bundle unit shipped when every component of it shipped.
            shipped[line_id] += min((ln.shipped_quantity * units) // ln.quantity if ln.quantity else 0 for ln in sr_lines)
    for line_id, qty in FulfillmentLine.objects.filter(fulfillment__order=order, fulfillment__shipping_request__isnull=True).values_list(
            "order_line_id", "quantity"):
        shipped[line_id] += qty
    lines = list(order.lines.all())
    if not any(shipped.values()):
        return
    complete = all(shipped.get(ln.pk, 0) >= ln.quantity - ln.canceled_quantity for ln in lines)
    target = S.FULFILLED if complete else S.PARTIAL_FULFILLMENT
    if order.status == S.CANCELED or order.status == target:
        return
    if order.status == S.ON_HOLD or not order_can_transition(order=order, to_status=target):
        _event(order, "status_not_changed", f"shipment recorded; {order.status} → {target} is not allowed", actor, run=run)
        return
    order_transition(order=order, to_status=target, actor=actor, run=run)


# --- returns and refunds ---------------------------------------------------------------------

def _orders_by_external_id(integration: Integration, external_ids: set[str]) -> dict[str, Order]:
    found = {o.external_id: o for o in Order.objects.filter(integration=integration, external_id__in=list(external_ids))}
    missing = external_ids - set(found)
    if missing:
        # A 3PL or ERP reports returns against the channel order id: match it if it is unique.
        counts: dict[str, list[Order]] = defaultdict(list)
        for o in Order.objects.filter(external_id__in=list(missing)):
            counts[o.external_id].append(o)
        found.update({eid: orders[0] for eid, orders in counts.items() if len(orders) == 1})
    return found


def returns_upsert(*, integration: Integration, returns_in: list[ReturnIn], run=None, require_order: bool = False) -> UpsertResult:
    result = UpsertResult()
    if not returns_in:
        return result
    orders = _orders_by_external_id(integration, {r.order_external_id for r in returns_in if r.order_external_id})
    existing = {r.external_id: r for r in Return.objects.filter(integration=integration, external_id__in=[r.external_id for r in returns_in])}
    for data in returns_in:
        order = orders.get(data.order_external_id)
        if not data.external_id or (require_order and order is None):
            result.errors.append({"external_id": data.external_id, "field": "order_external_id",
                                  "message": "unknown order" if data.external_id else "external_id is required"})
            continue
        values = {"order": order, "order_external_id": data.order_external_id, "status": data.status, "return_type": data.return_type,
                  "reason": data.reason[:255], "tracking_number": data.tracking_number, "currency": data.currency,
                  "refund_total": data.refund_total, "remote_created_at": data.remote_created_at, "remote_updated_at": data.remote_updated_at}
        ret = _upsert_changed(Return, existing.get(data.external_id), integration=integration, external_id=data.external_id,
                              values=values, result=result)
        if ret is None:
            continue
        ret.lines.all().delete()
        by_sku = {ln.sku: ln for ln in order.lines.all()} if order else {}
        ReturnLine.objects.bulk_create([ReturnLine(ret=ret, order_line=by_sku.get(i.sku), sku=i.sku, quantity=i.quantity,
                                                   external_line_id=i.external_line_id) for i in data.lines])
        if order is not None and data.status.lower() in RETURN_DONE_STATUSES:
            _try_transition(order=order, to_status=S.RETURNED, actor=_run_actor(run), run=run, message=f"return {data.external_id}")
    return result


def _upsert_changed(model, current, *, integration: Integration, external_id: str, values: dict, result: UpsertResult):
    """Create or update one channel record (counted in `result`); None when nothing changed, so its lines stay."""
    if current is None:
        result.created += 1
        return model.objects.create(integration=integration, external_id=external_id, **values)
    if all(getattr(current, k) == v for k, v in values.items()):
        result.unchanged += 1
        return None
    for k, v in values.items():
        setattr(current, k, v)
    current.save()
    result.updated += 1
    return current


def refunds_upsert(*, integration: Integration, refunds_in: list[RefundIn], run=None) -> UpsertResult:
    result = UpsertResult()
    if not refunds_in:
        return result
    orders = _orders_by_external_id(integration, {r.order_external_id for r in refunds_in if r.order_external_id})
    returns = {r.external_id: r for r in Return.objects.filter(integration=integration,
                                                               external_id__in=[r.return_external_id for r in refunds_in if r.return_external_id])}
    existing = {r.external_id: r for r in Refund.objects.filter(integration=integration, external_id__in=[r.external_id for r in refunds_in])}
    for data in refunds_in:
        if not data.external_id:
            result.errors.append({"external_id": "", "field": "external_id", "message": "external_id is required"})
            continue
        order = orders.get(data.order_external_id)
        values = {"order": order, "ret": returns.get(data.return_external_id), "refund_type": data.refund_type, "status": data.status,
                  "reason": data.reason[:255], "currency": data.currency, "amount": data.amount, "remote_created_at": data.remote_created_at}
        refund = _upsert_changed(Refund, existing.get(data.external_id), integration=integration, external_id=data.external_id,
                                 values=values, result=result)
        if refund is None:
            continue
        refund.lines.all().delete()
        by_sku = {ln.sku: ln for ln in order.lines.all()} if order else {}
        RefundLine.objects.bulk_create([RefundLine(refund=refund, order_line=by_sku.get(i.sku), sku=i.sku, quantity=i.quantity,
                                                   amount=i.amount) for i in data.lines])
        if order is not None and data.status.lower() in REFUND_DONE_STATUSES:
            _try_transition(order=order, to_status=S.REFUNDED, actor=_run_actor(run), run=run, message=f"refund {data.external_id}")
    return result


def refund_bind_external_id(*, refund: Refund, integration: Integration, external_id: str) -> bool:
    """A refund created here was accepted by the channel as ``external_id``: keep that id on the refund so the
    channel's later pull upserts the same row instead of creating a second one. Only when the refund belongs to
    that integration, has no id yet and no other refund of the integration has this id. Returns whether bound."""
    external_id = (external_id or "").strip()[:64]
    if not external_id or refund.external_id or refund.integration_id != integration.pk:
        return False
    if Refund.objects.filter(integration=integration, external_id=external_id).exclude(pk=refund.pk).exists():
        return False
    if not Refund.objects.filter(pk=refund.pk, external_id="").update(external_id=external_id):
        return False
    refund.external_id = external_id
    return True


# --- exceptions -----------------------------------------------------------------------------

def exceptions_redrive(*, exceptions, user=None) -> int:
    """Retry every entity blocked by the causes of these exceptions (all open exceptions sharing a
    cause_key, not only the selected ones); resolve those whose cause cleared. Returns how many
    exceptions were resolved."""
    from django.contrib.contenttypes.models import ContentType

    selected = list(exceptions)
    causes = {e.cause_key for e in selected if e.cause_key}
    blocked = OpsException.objects.filter(status=OpsException.Status.OPEN).filter(
        Q(pk__in=[e.pk for e in selected]) | Q(cause_key__in=causes))
    order_ct = ContentType.objects.get_for_model(Order)
    sr_ct = ContentType.objects.get_for_model(ShippingRequest)
    order_ids, sr_ids = set(), set()
    for exc in blocked:
        if exc.content_type_id == order_ct.pk:
            order_ids.add(exc.object_id)
        elif exc.content_type_id == sr_ct.pk:
            sr_ids.add(exc.object_id)
    before = set(blocked.values_list("pk", flat=True))
    actor = f"re-drive by {_user_actor(user)}"
    for order in Order.objects.filter(pk__in=order_ids).select_related("integration"):
        with transaction.atomic():
            order_retry(order=order, actor=actor, user=user)
    for sr in ShippingRequest.objects.filter(pk__in=sr_ids).select_related("order", "integration"):
        with transaction.atomic():
            shipping_request_retry(shipping_request=sr, user=user)
    return OpsException.objects.filter(pk__in=before).exclude(status=OpsException.Status.OPEN).count()


def shipping_request_retry(*, shipping_request: ShippingRequest, user=None) -> bool:
    """A failed request goes back to readyForFulfillment so the 3PL push flow sends it again."""
    sr = shipping_request
    if sr.status != SR.FAILED or sr.external_id:
        return False
    sr.status = SR.READY_FOR_FULFILLMENT
    sr.save(update_fields=["status", "updated_at"])
    exceptions_resolve(dedup_keys=_sr_exception_keys(sr), note="re-driven", user=user)
    _event(sr.order, "sr_retry", f"{sr.reference} will be sent again", f"re-drive by {_user_actor(user)}", user=user)
    return True
