"""Closed-loop cancellation: channel, user and 3PL cancellations and their outcomes."""
from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from integrations.models import OpsException
from integrations.services import exception_raise, exceptions_resolve
from orders.interface import CancellationIn
from orders.models import Cancellation, CancellationLine, FulfillmentLine, Order, OrderEvent, OrderLine, ShippingRequest
from orders.services.lifecycle import (
    CHANNEL_DONE, FULFILLMENT_CANCEL_STATUSES, S, SR, SR_ACTIVE, SR_CANCELED, OrderActionError, _event, compare_and_set, order_lock,
    order_transition, orders_transition, order_sync_fulfillment_status, _run_actor, _save, sr_lock, srs_lock, _try_transition,
    _user_actor,
)
from orders.services.shipping_requests import (
    shipping_request_cancel, _sr_exception_keys, _sr_release, _srs_exception_keys, _srs_release,
)
from orders.services.routing import ROUTABLE, order_route


@transaction.atomic
def shipping_request_canceled_by_fulfillment(*, shipping_request: ShippingRequest, status: str, reason: str = "") -> ShippingRequest:
    """The 3PL cancelled the request; status is the integration setting's choice. Decided under the row lock."""
    if status not in FULFILLMENT_CANCEL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(FULFILLMENT_CANCEL_STATUSES)}")
    sr = sr_lock(shipping_request)
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
    if status in SR_CANCELED:
        _sr_release(sr, consume=status == SR.CANCELED)
        exceptions_resolve(dedup_keys=_sr_exception_keys(sr), note="shipping request canceled by fulfillment")
        others_active = order.shipping_requests.filter(status__in=SR_ACTIVE).exists()
        full = not others_active and not _shipped_any(order)
        _fulfillment_cancellation_record(sr, reason=reason, full=full)
        if not others_active:
            if full:
                _try_transition(order=order, to_status=S.CANCELED, actor=actor, message=message)
            else:
                order_sync_fulfillment_status(order=order, actor=actor)
                order.refresh_from_db(fields=["status"])
                if order.status not in (S.PARTIAL_FULFILLMENT, S.FULFILLED):
                    _try_transition(order=order, to_status=S.PARTIAL_FULFILLMENT, actor=actor, message=message)
    elif status == SR.REVIEW_REQUIRED:
        order.review_reason = "fulfillment_canceled"
        _save(order, "review_reason")
        _try_transition(order=order, to_status=S.REVIEW_REQUIRED, actor=actor, message=message)
    elif status == SR.FAILED:
        exception_raise(category=OpsException.Category.FULFILLMENT, code="canceled_by_fulfillment", integration=sr.integration,
                        entity=sr, cause_key=f"canceled_by_fulfillment:{sr.integration_id}", dedup_key=f"sr:{sr.pk}:canceled_by_fulfillment",
                        message=message, details={"previous_status": previous})
    return sr


def _fulfillment_cancellation_record(sr: ShippingRequest, *, reason: str, full: bool) -> Cancellation:
    """One Cancellation (source fulfillment, the 3PL's integration and reason) per cancelled request, keyed
    "shipping_request:<pk>" so a repeat records nothing. Full when the order is cancelled with it; otherwise a
    line cancellation of the request's units that did not ship, which are added to the order lines'
    canceled_quantity (a channel push of these lines and the channel's later report of them agree)."""
    external_id = f"shipping_request:{sr.pk}"
    existing = Cancellation.objects.filter(integration=sr.integration, external_id=external_id).first()
    if existing is not None:
        return existing
    by_line: dict[int, list] = {}
    for ln in sr.lines.all().order_by("pk"):
        if ln.order_line_id is not None:
            by_line.setdefault(ln.order_line_id, []).append(ln)
    units_left: dict[int, int] = {}
    for line_id, sr_lines in by_line.items():
        units = sr_lines[0].units or sum(ln.quantity for ln in sr_lines)
        shipped = min((ln.shipped_quantity * units) // ln.quantity if ln.quantity else 0 for ln in sr_lines)
        if units - shipped > 0:
            units_left[line_id] = units - shipped
    record = Cancellation.objects.create(order=sr.order, integration=sr.integration, external_id=external_id,
                                         source=Cancellation.Source.FULFILLMENT, status=Cancellation.Status.COMPLETED,
                                         is_full=full, reason=(reason or "")[:255])
    lines = {ln.pk: ln for ln in OrderLine.objects.filter(order=sr.order)}
    changed = []
    for line_id, qty in units_left.items():
        line = lines.get(line_id)
        if line is None:
            continue
        CancellationLine.objects.create(cancellation=record, order_line=line, sku=line.sku, quantity=qty)
        if not full:
            line.canceled_quantity = min(line.quantity, line.canceled_quantity + qty)
            changed.append(line)
            for part in lines.values():
                if part.bundle_line_id == line.pk:  # a cancelled bundle unit cancels its components' units
                    each = part.quantity // line.quantity if line.quantity else 0
                    part.canceled_quantity = min(part.quantity, line.canceled_quantity * each)
                    changed.append(part)
    if changed:
        OrderLine.objects.bulk_update(changed, ["canceled_quantity"])
    return record


def _shipped_any(order: Order) -> bool:
    return FulfillmentLine.objects.filter(fulfillment__order=order).exists()


@transaction.atomic
def shipping_request_cancel_confirmed(*, shipping_request: ShippingRequest, too_late: bool = False) -> ShippingRequest:
    """Outcome of a requested cancellation at the 3PL, applied under the row lock. A request already
    cancelled here (it reached the 3PL while being cancelled) only closes its cancel request: its stock
    was released when it was cancelled. Confirmed: `shipping_requests_cancel_confirmed` of this one request."""
    if not too_late:
        return shipping_requests_cancel_confirmed(shipping_requests=[shipping_request])[0]
    sr = sr_lock(shipping_request)
    if sr.cancel_state in (ShippingRequest.CancelState.CANCELED, ShippingRequest.CancelState.TOO_LATE):
        return sr
    _cancel_too_late(sr)
    return sr


@transaction.atomic
def shipping_requests_cancel_confirmed(*, shipping_requests: list[ShippingRequest]) -> list[ShippingRequest]:
    """Confirmed cancellations at the 3PL for a page of requests, in a bounded number of queries whatever the page
    size (re-routing excepted, see below). Returns the requests as re-read under their locks (pk order).

    The orders then the requests are locked and re-read (two statements, pk order; `srs_lock`), and each request
    is decided from its current state as `shipping_request_cancel_confirmed` decides it: one already closed here
    (canceled / too late) is left as it is; one already cancelled here only closes its cancel request; any other
    is cancelled (restock as asked when its cancellation was requested). They are written by compare-and-set on
    the state they were read in (one UPDATE per (status, cancel state) read): one that changed meanwhile (possible
    only without the row locks) is not overwritten but re-decided once from its current state. Then, each in one
    statement: their stock released (levels locked in id order, after the orders and requests), their exceptions
    resolved, one sr_canceled event each; then each order once no cancellation of it is outstanding
    (`_orders_after_cancel_outcome`: bulk, except the re-routing of what a partially cancelled order has left,
    which stays per order because it decides routing)."""
    closed: dict[int, ShippingRequest] = {}
    read: dict[int, ShippingRequest] = {}
    release: list[tuple[ShippingRequest, bool]] = []
    pending = list(shipping_requests)
    for _ in range(2):
        if not pending:
            break
        rows = srs_lock(pending)
        prefetch_related_objects(rows, "lines")
        read.update((sr.pk, sr) for sr in rows)
        groups: dict[tuple[str, str, str], list[ShippingRequest]] = defaultdict(list)
        for sr in rows:
            if sr.cancel_state in (ShippingRequest.CancelState.CANCELED, ShippingRequest.CancelState.TOO_LATE):
                continue
            to = sr.status if sr.status in SR_CANCELED else SR.CANCELED_RESTOCK if sr.restock_on_cancel else SR.CANCELED
            groups[(sr.status, sr.cancel_state, to)].append(sr)
        pending = []
        for (status, cancel_state, to), group in groups.items():
            ours = compare_and_set(ShippingRequest, pks=[sr.pk for sr in group], expected={"status": status, "cancel_state": cancel_state},
                                   values={"status": to, "cancel_state": ShippingRequest.CancelState.CANCELED})
            for sr in group:
                if sr.pk not in ours:
                    pending.append(sr)
                    continue
                if sr.status not in SR_CANCELED:
                    release.append((sr, not sr.restock_on_cancel))
                sr.status, sr.cancel_state = to, ShippingRequest.CancelState.CANCELED
                closed[sr.pk] = sr
    if not closed:
        return [read[pk] for pk in sorted(read)]
    _srs_release(release)
    exceptions_resolve(dedup_keys=_srs_exception_keys(closed.values()), note="shipping request canceled")
    orders: dict[int, tuple[Order, str]] = {}
    events = []
    for pk in sorted(closed):
        sr = closed[pk]
        actor = f"{sr.integration} (cancel confirmation)"
        events.append(OrderEvent(order=sr.order, kind="sr_canceled", message=f"{sr.reference} canceled at {sr.integration}",
                                 actor=actor[:120]))
        orders[sr.order_id] = (sr.order, actor)
    OrderEvent.objects.bulk_create(events)
    _orders_after_cancel_outcome(list(orders.values()))
    return [read[pk] for pk in sorted(read)]


def cancel_too_late_keys(order: Order) -> list[str]:
    """The order's cancel_too_late exceptions (order-level and per request): their cause is handled once the
    buyer's return is received or the refund completed."""
    return [f"order:{order.pk}:cancel_too_late", *(f"sr:{pk}:cancel_too_late" for pk in order.shipping_requests.values_list("pk", flat=True))]


def _cancel_too_late(sr: ShippingRequest) -> None:
    """The 3PL shipped before the cancellation reached it (caller holds the request's row lock)."""
    sr.cancel_state = ShippingRequest.CancelState.TOO_LATE
    sr.save(update_fields=["cancel_state", "updated_at"])
    order = sr.order
    exception_raise(category=OpsException.Category.FULFILLMENT, code="cancel_too_late", integration=sr.integration, entity=sr,
                    cause_key=f"cancel_too_late:{sr.pk}", dedup_key=f"sr:{sr.pk}:cancel_too_late",
                    message=f"{sr.reference} of order {order.external_id} shipped before the cancellation reached {sr.integration}.")
    _event(order, "sr_cancel_too_late", f"{sr.reference} already shipped; the fulfillment flows on", f"{sr.integration}")
    _order_after_cancel_outcome(order, actor=f"{sr.integration}")


def _order_after_cancel_outcome(order: Order, *, actor: str) -> None:
    """`_orders_after_cancel_outcome` of one order, locked and re-read here."""
    order_lock(order)
    _orders_after_cancel_outcome([(order, actor)])


def _orders_after_cancel_outcome(orders: list[tuple[Order, str]]) -> None:
    """(order, actor) each, read under the order's row lock held by the caller. Once no cancellation of an order is
    outstanding: a full cancel completes (or stops if something shipped); a partial cancel re-routes what is left
    (also after a partial shipment), and an order with nothing left to route gets the status its shipments give
    it. Bulk (a fixed number of statements for any number of orders) but for the re-routing, per order."""
    if not orders:
        return
    outstanding = set(ShippingRequest.objects.filter(order_id__in=[o.pk for o, _ in orders],
                                                     cancel_state=ShippingRequest.CancelState.REQUESTED)
                      .values_list("order_id", flat=True))
    orders = [(o, actor) for o, actor in orders if o.pk not in outstanding]
    if not orders:
        return
    active = set(ShippingRequest.objects.filter(order_id__in=[o.pk for o, _ in orders], status__in=SR_ACTIVE)
                 .values_list("order_id", flat=True))
    waiting = [(o, actor) for o, actor in orders if o.cancel_requested_at]
    if waiting:
        Order.objects.filter(pk__in=[o.pk for o, _ in waiting]).update(cancel_requested_at=None, updated_at=timezone.now())
        shipped = set(FulfillmentLine.objects.filter(fulfillment__order__in=[o.pk for o, _ in waiting if o.pk not in active])
                      .values_list("fulfillment__order_id", flat=True))
        complete: dict[str, list[Order]] = defaultdict(list)
        incomplete = []
        for order, actor in waiting:
            order.cancel_requested_at = None
            if order.pk in active or order.pk in shipped:
                incomplete.append(OrderEvent(order=order, kind="cancel_incomplete", actor=actor[:120],
                                             message="part of the order was already shipped; the cancellation did not complete"))
            else:
                complete[actor].append(order)
        OrderEvent.objects.bulk_create(incomplete)
        for actor, group in complete.items():
            orders_transition(moves=[(o, "canceled at fulfillment") for o in group], to_status=S.CANCELED, actor=actor)
        done = [o.pk for group in complete.values() for o in group]
        if done:
            Cancellation.objects.filter(order_id__in=done, status=Cancellation.Status.REQUESTED).update(
                status=Cancellation.Status.COMPLETED)
    waiting_ids = {o.pk for o, _ in waiting}
    for order, actor in orders:
        if order.pk not in waiting_ids and order.pk not in active and order.status in (S.SENT_TO_FULFILLMENT, *ROUTABLE):
            _order_reroute(order, actor=actor)


def _order_reroute(order: Order, *, actor: str) -> None:
    """Route again what a partially cancelled order has left (caller holds the order's row lock; per order: it
    decides routing); nothing left to route: the status its shipments give it."""
    if order.status == S.SENT_TO_FULFILLMENT:
        order_transition(order=order, to_status=S.READY_FOR_FULFILLMENT, actor=actor, message="re-routing what is left")
    order.routing_state = ""
    _save(order, "routing_state")
    if not order_route(order=order, actor=actor):
        order_sync_fulfillment_status(order=order, actor=actor)


@transaction.atomic
def order_cancel_from_channel(*, order: Order, cancellation: CancellationIn, run=None) -> Cancellation:
    """The buyer or platform cancelled (fully or some lines). Decided on the order's locked, re-read row."""
    order_lock(order)
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
    order_lock(order)
    if order.status in (S.CANCELED, *CHANNEL_DONE, S.RETURNED, S.REFUNDED):
        raise OrderActionError(f"order {order.external_id} is {order.status} and cannot be canceled")
    record = Cancellation.objects.create(order=order, integration=order.integration, source=Cancellation.Source.USER,
                                         status=Cancellation.Status.COMPLETED, is_full=True, reason=reason[:255])
    _cancel_apply(order=order, cancellation=record, lines=(), actor=_user_actor(user), user=user)
    return record


def _cancel_apply(*, order: Order, cancellation: Cancellation, lines, actor: str, run=None, user=None) -> None:
    all_lines = list(order.lines.all())
    by_sku = {ln.sku: ln for ln in all_lines if ln.bundle_line_id is None}
    if not cancellation.is_full and lines:
        changed = []
        for item in lines:
            line = by_sku.get(item.sku)
            if line is None:
                continue
            line.canceled_quantity = min(line.quantity, line.canceled_quantity + item.quantity)
            changed.append(line)
            CancellationLine.objects.create(cancellation=cancellation, order_line=line, sku=item.sku, quantity=item.quantity)
            for part in all_lines:
                if part.bundle_line_id == line.pk:  # a cancelled bundle unit cancels its components' units
                    each = part.quantity // line.quantity if line.quantity else 0
                    part.canceled_quantity = min(part.quantity, line.canceled_quantity * each)
                    changed.append(part)
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
    """Caller holds the order's row lock. Each active request is cancelled (or its cancellation requested)
    by shipping_request_cancel under its own lock, so one sent meanwhile is asked of the 3PL, not dropped."""
    if order.status in CHANNEL_DONE or order.status in (S.RETURNED, S.REFUNDED):
        exception_raise(category=OpsException.Category.FULFILLMENT, code="cancel_too_late", integration=order.integration, entity=order,
                        cause_key=f"cancel_too_late:order:{order.pk}", dedup_key=f"order:{order.pk}:cancel_too_late",
                        message=f"Order {order.external_id} was canceled at the channel after it shipped.")
        return
    active = list(order.shipping_requests.filter(status__in=SR_ACTIVE).order_by("pk"))
    for sr in active:
        shipping_request_cancel(shipping_request=sr, restock=True, actor=actor, user=user)
    waiting = [sr for sr in active if sr.cancel_state == ShippingRequest.CancelState.REQUESTED]
    order.hold_until, order.channel_hold = None, False
    if waiting:
        order.cancel_requested_at = timezone.now()
        _save(order, "hold_until", "channel_hold", "cancel_requested_at")
        _event(order, "cancel_requested", f"waiting for {', '.join(sr.reference for sr in waiting)} to be canceled at fulfillment",
               actor, user=user, run=run)
        return
    _save(order, "hold_until", "channel_hold")
    order_transition(order=order, to_status=S.CANCELED, actor=actor, user=user, run=run, message=cancellation.reason)
    exceptions_resolve(dedup_keys=list(OpsException.objects.filter(status=OpsException.Status.OPEN, dedup_key__startswith=f"order:{order.pk}:")
                                       .exclude(code="cancel_too_late").values_list("dedup_key", flat=True)), note="order canceled")


def _cancel_partial(*, order: Order, actor: str, user=None, run=None) -> None:
    """Shipping requests are never edited: cancel the affected ones (each under its own lock) and route the
    rest again once no cancellation is waiting for the 3PL."""
    active = list(order.shipping_requests.filter(status__in=SR_ACTIVE).order_by("pk"))
    if not active:
        return
    for sr in active:
        shipping_request_cancel(shipping_request=sr, restock=True, actor=actor, user=user)
    if not any(sr.cancel_state == ShippingRequest.CancelState.REQUESTED for sr in active):
        order.routing_state = ""
        _save(order, "routing_state")
        order_route(order=order, run=run, user=user, actor=actor)
