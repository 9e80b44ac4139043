"""What ops staff may change on an order by hand: the shipping address (while nothing was sent to fulfillment), the
hold (an until-date) and the tags. Each edit is validated before anything is written, made under the order's row lock
after a re-read, and recorded on the timeline. Layered after ingestion (an address completed here lets a
bad-address order move on, through order_retry)."""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders.models import Order
from orders.services.checks import address_problems
from orders.services.ingestion import order_retry
from orders.services.lifecycle import CHANNEL_DONE, S, SR_ACTIVE, SR_UNSENT, OrderActionError, _event, _save, _user_actor, order_lock
from orders.services.holds import order_rehold

# Address keys a person edits (the channel's other keys are kept as stored).
ADDRESS_FIELDS = ("name", "phone", "address1", "address2", "city", "state", "postal_code", "country_code")
TAG_MAX_LENGTH = 40
TAGS_MAX = 30
# Statuses in which the address may still be corrected (nothing shipped, nothing sent).
ADDRESS_EDITABLE = (S.DRAFT, S.NEW, S.ON_HOLD, S.TO_BE_VALIDATED, S.REVIEW_REQUIRED, S.READY_FOR_FULFILLMENT)


def _sent(order: Order) -> bool:
    return order.shipping_requests.filter(status__in=SR_ACTIVE).exclude(status__in=SR_UNSENT).exists() or \
        order.shipping_requests.exclude(sent_at=None).exclude(status__in=("canceled", "canceledRestock")).exists()


def order_address_editable(*, order: Order) -> str:
    """"" when the address may be edited, else why not (for the page and the service alike)."""
    if order.status not in ADDRESS_EDITABLE:
        return f"the order is {order.get_status_display().lower()}"
    if _sent(order):
        return "the order was already sent to fulfillment"
    return ""


@transaction.atomic
def order_update_address(*, order: Order, address: dict, user=None) -> Order:
    """Correct the shipping address. Refused (OrderActionError, nothing changed) once the order was sent to
    fulfillment or when the new address still lacks what a carrier needs. An order waiting in review for a bad
    address moves on at once."""
    unknown = set(address) - set(ADDRESS_FIELDS)
    if unknown:
        raise OrderActionError(f"unknown address field(s): {', '.join(sorted(unknown))}")
    cleaned = {key: str(address.get(key, "") or "").strip() for key in ADDRESS_FIELDS}
    missing = address_problems(cleaned) if any(cleaned.values()) else ["street address", "country", "postal code or city"]
    if missing:
        raise OrderActionError(f"the address is missing {', '.join(missing)}")
    order_lock(order)
    reason = order_address_editable(order=order)
    if reason:
        raise OrderActionError(f"order {order.external_id}: the address cannot be changed, {reason}")
    before = dict(order.shipping_address or {})
    after = {**before, **cleaned}
    after.pop("full_address", None)  # the channel's one-line address would contradict the corrected fields
    changed = sorted(k for k in ADDRESS_FIELDS if str(before.get(k, "") or "") != cleaned[k])
    if not changed and "full_address" not in before:
        return order
    order.shipping_address = after
    _save(order, "shipping_address")
    _event(order, "address_changed", f"shipping address corrected ({', '.join(changed) or 'one-line address dropped'})",
           _user_actor(user), user=user)
    if order.status == S.REVIEW_REQUIRED and order.review_reason == "bad_address":
        order_retry(order=order, actor=_user_actor(user), user=user)
    return order


def _clean_tags(tags) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    out: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if not tag:
            continue
        if len(tag) > TAG_MAX_LENGTH:
            raise OrderActionError(f"tag {tag[:TAG_MAX_LENGTH]}… is longer than {TAG_MAX_LENGTH} characters")
        if any(ch in tag for ch in "<>\"'") or not tag.isprintable():
            raise OrderActionError(f"tag {tag!r} contains characters tags may not have")
        if tag not in out:
            out.append(tag)
    if len(out) > TAGS_MAX:
        raise OrderActionError(f"at most {TAGS_MAX} tags")
    return out


@transaction.atomic
def order_set_tags(*, order: Order, tags, user=None) -> Order:
    """Replace the order's tags (a list, or a comma-separated string). Validated first; timeline entry."""
    new = _clean_tags(tags)
    order_lock(order)
    old = list(order.tags or [])
    if new == old:
        return order
    added = [t for t in new if t not in old]
    removed = [t for t in old if t not in new]
    order.tags = new
    _save(order, "tags")
    parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
    _event(order, "tags_changed", "tags " + "; ".join(parts or ["reordered"]), _user_actor(user), user=user)
    return order


@transaction.atomic
def order_set_hold(*, order: Order, until: datetime | None, user=None) -> Order:
    """Hold the order until a time (None: until released by a person). A held order gets its new until-date; a
    ready order not sent yet is re-held. Anything else is refused (OrderActionError, nothing changed)."""
    now = timezone.now()
    if until is not None and until <= now:
        raise OrderActionError("the hold must end in the future")
    order_lock(order)
    if order.status == S.ON_HOLD:
        if order.channel_hold:
            raise OrderActionError(f"order {order.external_id} is held by the channel; it is released when the channel releases it")
        before = order.hold_until
        order.hold_until, order.held_by_rule = until, None
        _save(order, "hold_until", "held_by_rule")
        _event(order, "hold_changed",
               f"hold {'until ' + f'{before:%Y-%m-%d %H:%M:%S}' if before else 'until released'} → "
               f"{'until ' + f'{until:%Y-%m-%d %H:%M:%S}' if until else 'until released'}", _user_actor(user), user=user)
        return order
    if order.status in (S.CANCELED, *CHANNEL_DONE):
        raise OrderActionError(f"order {order.external_id} is {order.status}; it cannot be held")
    minutes = None if until is None else max(1, int((until - now).total_seconds() // 60))
    order_rehold(order=order, user=user, minutes=minutes)
    if until is not None:
        order.hold_until = until
        _save(order, "hold_until")
    return order
