"""Order lifecycle: allowed status moves, the compare-and-set transition, row locks, the status shipments give an
order, timeline events and shared constants."""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from orders.models import FulfillmentLine, Order, OrderEvent, OrderStatus, ShippingRequest, ShippingRequestStatus
from orders.services.lines import _parent_ids

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
SR_CANCELED = (SR.CANCELED, SR.CANCELED_RESTOCK)
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


class StaleTransition(InvalidTransition):
    """The order is no longer in the status the move expected (another worker or person moved it since it was
    read); nothing changed. The order instance now carries the current status, to re-decide from."""


class OrderActionError(ValueError):
    """A user or connector asked for something the order's state does not allow; nothing changed."""


def order_transition(*, order: Order, to_status: str, actor: str, user=None, run=None, message: str = "",
                     from_status: str | None = None) -> OrderEvent | None:
    """Move the order from the status it is expected to be in (`from_status`, default: the status this instance
    was read with) to to_status, recording who or what moved it. Applied as compare-and-set
    (UPDATE … WHERE status=<expected>): if the row moved on meanwhile, StaleTransition and nothing changes.
    A move TRANSITIONS does not allow: InvalidTransition. Expected status equal to to_status: no-op."""
    expected = from_status or order.status
    if expected == to_status:
        return None
    if to_status not in TRANSITIONS.get(expected, frozenset()):
        raise InvalidTransition(f"order {order.external_id}: {expected} → {to_status} is not allowed")
    if not Order.objects.filter(pk=order.pk, status=expected).update(status=to_status, updated_at=timezone.now()):
        current = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
        order.status = current or order.status
        raise StaleTransition(f"order {order.external_id}: expected {expected}, is {current}; {to_status} not applied")
    order.status = to_status
    return OrderEvent.objects.create(order=order, kind="status", from_status=expected, to_status=to_status, message=message,
                                     actor=actor[:120], user=user, sync_run=run)


def orders_transition(*, moves: list[tuple[Order, str]], to_status: str, actor: str, run=None) -> list[Order]:
    """`_try_transition` for many orders, (order, event message) each, read under their row locks: those whose status
    allows the move are moved by compare-and-set, one UPDATE per status they were read in, with one event each
    (one INSERT). One that moved on meanwhile (possible only without the row locks) is not overwritten: it is
    re-decided once from its current status, like `_try_transition`. Returns the orders moved."""
    by_expected: dict[str, list[tuple[Order, str]]] = defaultdict(list)
    for order, message in moves:
        if order.status != to_status and order_can_transition(order=order, to_status=to_status):
            by_expected[order.status].append((order, message))
    moved, events, stale = [], [], []
    for expected, group in by_expected.items():
        ours = compare_and_set(Order, pks=[o.pk for o, _ in group], expected={"status": expected}, values={"status": to_status})
        for order, message in group:
            if order.pk not in ours:
                stale.append((order, message))
                continue
            order.status = to_status
            moved.append(order)
            events.append(OrderEvent(order=order, kind="status", from_status=expected, to_status=to_status, message=message,
                                     actor=actor[:120], sync_run=run))
    OrderEvent.objects.bulk_create(events)
    for order, message in stale:
        if _try_transition(order=order, to_status=to_status, actor=actor, run=run, message=message):
            moved.append(order)
    return moved


def compare_and_set(model, *, pks: list[int], expected: dict, values: dict) -> set[int]:
    """UPDATE the rows pks still in the `expected` state to `values` (and updated_at) in one statement; returns the
    pks it changed. Every row matched (the usual case, always so under row locks): no other query. Otherwise the
    rows it changed are told apart by the updated_at it wrote."""
    now = timezone.now()
    changed = model.objects.filter(pk__in=pks, **expected).update(**values, updated_at=now)
    if changed == len(set(pks)):
        return set(pks)
    return set(model.objects.filter(pk__in=pks, updated_at=now, **values).values_list("pk", flat=True))


def order_can_transition(*, order: Order, to_status: str) -> bool:
    return order.status == to_status or to_status in TRANSITIONS.get(order.status, frozenset())


def _try_transition(**kwargs) -> OrderEvent | None:
    """Move if the order's status allows it. A stale instance is re-decided once from the row's current status
    (so a shipment or return reported late still lands), never applied over it."""
    order = kwargs["order"]
    for _ in range(2):
        if not order_can_transition(order=order, to_status=kwargs["to_status"]):
            return None
        try:
            return order_transition(**kwargs)
        except StaleTransition:
            continue
    return None


def order_lock(order: Order) -> Order:
    """Lock the order's row for this transaction and reload the instance from it (lock + re-read): decisions
    made after this see the current state, and other writers of the order wait. Lock order: order first,
    then its shipping requests (sr_lock), then inventory levels."""
    order.refresh_from_db(from_queryset=Order.objects.select_for_update(of=("self",)).select_related("integration"))
    return order


def sr_lock(sr: ShippingRequest) -> ShippingRequest:
    """Lock the request's order, then the request, and reload the request (with its order) from the rows."""
    Order.objects.select_for_update().filter(pk=sr.order_id).values_list("pk", flat=True).first()
    sr.refresh_from_db(from_queryset=ShippingRequest.objects.select_for_update(of=("self",)).select_related(
        "order", "integration", "location"))
    return sr


def srs_lock(requests) -> list[ShippingRequest]:
    """`sr_lock` for many requests in two statements: their orders locked and re-read (pk order), then the requests
    locked and re-read (pk order, with their integration and location); each request's `order` is the one
    instance of its order."""
    requests = list(requests)
    orders = {o.pk: o for o in Order.objects.select_for_update(of=("self",)).filter(
        pk__in={sr.order_id for sr in requests}).order_by("pk")}
    rows = list(ShippingRequest.objects.select_for_update(of=("self",)).select_related("integration", "location")
                .filter(pk__in={sr.pk for sr in requests}).order_by("pk"))
    for sr in rows:
        sr.order = orders[sr.order_id]
    return rows


def _event(order: Order, kind: str, message: str, actor: str, user=None, run=None) -> OrderEvent:
    return OrderEvent.objects.create(order=order, kind=kind, message=message, actor=actor[:120], user=user, sync_run=run)


def _run_actor(run) -> str:
    return f"flow run #{run.pk}" if run is not None else "sync"


def _user_actor(user) -> str:
    return f"user {user.get_username()}" if user is not None else "system"


def _save(order: Order, *fields: str) -> None:
    order.save(update_fields=[*fields, "updated_at"])


@transaction.atomic
def order_sync_fulfillment_status(*, order: Order, actor: str = "fulfillment", run=None) -> None:
    """partialFulfillment while something is left to ship, fulfilled when everything (not canceled) shipped.
    Decided on the order's locked, re-read row; a cancelled order is never moved by a shipment."""
    order_lock(order)
    if order.fulfillment_type == Order.FulfillmentType.PLATFORM:
        return
    shipped: dict[int, int] = defaultdict(int)
    # Every request counts, cancelled ones too: one cancelled after a partial shipment shipped those units.
    for sr in order.shipping_requests.prefetch_related("lines"):
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
    parents = _parent_ids(lines)
    complete = all(shipped.get(ln.pk, 0) >= ln.quantity - ln.canceled_quantity for ln in lines if ln.pk not in parents)
    target = S.FULFILLED if complete else S.PARTIAL_FULFILLMENT
    if order.status == S.CANCELED or order.status == target:
        return
    if order.status == S.ON_HOLD or not order_can_transition(order=order, to_status=target):
        _event(order, "status_not_changed", f"shipment recorded; {order.status} → {target} is not allowed", actor, run=run)
        return
    order_transition(order=order, to_status=target, actor=actor, run=run)
