"""Order lifecycle: allowed status moves, the transition itself, timeline events and shared constants."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from orders.models import Order, OrderEvent, OrderStatus, ShippingRequestStatus


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
