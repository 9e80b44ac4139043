"""Hold rules: holding new orders, releasing them when due or by hand, re-holding."""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.services import exceptions_resolve
from orders.models import HoldRule, Order, ShippingRequest
from orders.services.lifecycle import S, SR_ACTIVE, SR_UNSENT, OrderActionError, order_lock, order_transition, _save, _user_actor
from orders.services.checks import order_resolve_skus, _unknown_skus
from orders.services.shipping_requests import shipping_request_cancel
from orders.services.routing import order_route, routing_exception_keys


# Orders released per scheduled run; the rest wait for the next run (every minute).
RELEASE_BATCH = 500


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
    """Scheduled: release held orders whose hold ended (not those the channel or a user holds). The batch read
    gives candidates only: each order is locked and re-read, and released only if it is still held and due
    (a buyer may have cancelled it, or a person released it, since the batch was read)."""
    now = now or timezone.now()
    count = 0
    due = Order.objects.filter(status=S.ON_HOLD, channel_hold=False, hold_until__isnull=False, hold_until__lte=now)
    for pk in list(due.order_by("hold_until").values_list("pk", flat=True)[:RELEASE_BATCH]):
        with transaction.atomic():
            order = (due.filter(pk=pk).select_for_update(of=("self",)).select_related("integration", "held_by_rule").first())
            if order is None:
                continue
            rule = order.held_by_rule
            actor = f"hold rule {rule.name}" if rule else "hold schedule"
            order.hold_until = None
            _save(order, "hold_until")
            if rule is not None and rule.next_status == S.REVIEW_REQUIRED:
                order.review_reason = "hold_rule"
                _save(order, "review_reason")
                order_transition(order=order, from_status=S.ON_HOLD, to_status=S.REVIEW_REQUIRED, actor=actor,
                                 message="hold ended; manual release")
            else:
                order_transition(order=order, from_status=S.ON_HOLD, to_status=S.READY_FOR_FULFILLMENT, actor=actor,
                                 message="hold ended")
                order_route(order=order)
            count += 1
    return count


@transaction.atomic
def order_release_hold(*, order: Order, user=None) -> list[ShippingRequest]:
    """A person releases a held (or review-required) order: it becomes ready and is routed."""
    order_lock(order)
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
    order_lock(order)
    if order.status not in (S.READY_FOR_FULFILLMENT, S.REVIEW_REQUIRED):
        raise OrderActionError(f"order {order.external_id} is {order.status}; only orders not sent to fulfillment can be re-held")
    if order.shipping_requests.filter(status__in=SR_ACTIVE).exclude(status__in=SR_UNSENT).exists():
        raise OrderActionError(f"order {order.external_id} was already sent to fulfillment")
    for sr in order.shipping_requests.filter(status__in=SR_UNSENT):
        shipping_request_cancel(shipping_request=sr, restock=True, actor=_user_actor(user), user=user)
    order.hold_until = timezone.now() + timedelta(minutes=minutes) if minutes else None
    order.routing_state, order.held_by_rule = "", None
    _save(order, "hold_until", "routing_state", "held_by_rule")
    exceptions_resolve(dedup_keys=routing_exception_keys(order), note="order re-held")
    order_transition(order=order, to_status=S.ON_HOLD, actor=_user_actor(user), user=user,
                     message=f"re-held for {minutes} min" if minutes else "re-held until released")
