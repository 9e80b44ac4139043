"""Shipping request operations that do not route: cancel (or request it), mark sent / rejected, retry."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.models import OpsException, OutboundPush
from integrations.services import exception_raise, exceptions_resolve
from inventory import services as inventory_services
from orders.models import ShippingRequest
from orders.services.lifecycle import (
    S, SR, SR_ACTIVE, SR_CANCELED, SR_UNSENT, _event, _run_actor, _try_transition, _user_actor, orders_transition, sr_lock, srs_lock,
)


def _sr_release(sr: ShippingRequest, *, consume: bool, run=None) -> None:
    """Give back what the request still commits (quantity not shipped)."""
    _srs_release([(sr, consume)], run=run)


def _srs_release(requests: list[tuple[ShippingRequest, bool]], *, run=None) -> None:
    """Give back what each (request, consume) still commits (quantity not shipped), the levels locked once in id order
    and written in bulk (inventory_services.inventory_releases)."""
    inventory_services.inventory_releases(releases=[
        inventory_services.Release(location=sr.location, product_id=line.product_id, quantity=line.quantity - line.shipped_quantity,
                                   consume=consume, reference=sr.reference)
        for sr, consume in requests if sr.location_id is not None
        for line in sr.lines.all() if line.product_id and line.quantity > line.shipped_quantity], run=run)


def _push_in_doubt(sr: ShippingRequest) -> bool:
    """A push of this never-acknowledged request was attempted and did not end rejected (e.g. it timed out
    after the 3PL accepted it)."""
    if sr.external_id:
        return False
    return OutboundPush.objects.filter(content_type=ContentType.objects.get_for_model(ShippingRequest), object_id=sr.pk,
                                       attempts__gt=0).exclude(status=OutboundPush.Status.FAILED).exists()


@transaction.atomic
def shipping_request_cancel(*, shipping_request: ShippingRequest, restock: bool = True, actor: str = "system", user=None) -> ShippingRequest:
    """Cancel a request, decided under its row lock from its current state. Unsent: done here (release or
    consume its stock). Sent, or a push of it in doubt (attempted, outcome unknown: the 3PL may have it): the
    cancellation is requested from the fulfillment integration (closed loop; its cancel flow looks the
    reference up when the request has no 3PL id)."""
    sr = sr_lock(shipping_request)
    if sr.status not in SR_ACTIVE:
        return sr
    if sr.status in SR_UNSENT and not _push_in_doubt(sr):
        sr.status = SR.CANCELED_RESTOCK if restock else SR.CANCELED
        sr.cancel_state = ShippingRequest.CancelState.CANCELED
        sr.save(update_fields=["status", "cancel_state", "updated_at"])
        _sr_release(sr, consume=not restock)
        exceptions_resolve(dedup_keys=_sr_exception_keys(sr), note="shipping request canceled")
        _event(sr.order, "sr_canceled", f"{sr.reference} canceled ({'restock' if restock else 'no restock'})", actor, user=user)
        return sr
    if sr.cancel_state == ShippingRequest.CancelState.REQUESTED:
        return sr
    sr.cancel_state, sr.restock_on_cancel = ShippingRequest.CancelState.REQUESTED, restock
    sr.save(update_fields=["cancel_state", "restock_on_cancel", "updated_at"])
    _event(sr.order, "sr_cancel_requested", f"cancellation of {sr.reference} requested from {sr.integration}", actor, user=user)
    return sr


@transaction.atomic
def shipping_request_mark_sent(*, shipping_request: ShippingRequest, external_id: str, remote_status: str = "", run=None,
                               move_order: bool = True) -> ShippingRequest:
    """The 3PL accepted the request as external_id. Decided under the row lock from the request's current
    state: only an unsent request becomes sentToFulfillment. One cancelled while it was being sent stays
    cancelled (its stock was released) and gets cancel_state=requested, so the 3PL cancel flow cancels the
    3PL's copy; a request already further on (shipped) keeps its status. move_order=False leaves the order's
    status as it is (Acumatica's "Mark orders as Sent to Fulfillment" switched off)."""
    sr = sr_lock(shipping_request)
    sent_at = sr.sent_at or timezone.now()
    if sr.status in SR_CANCELED:
        if sr.external_id == external_id:
            return sr
        sr.external_id, sr.remote_status, sr.sent_at = external_id, remote_status or sr.remote_status, sent_at
        fields = ["external_id", "remote_status", "sent_at", "updated_at"]
        if sr.cancel_state in ("", ShippingRequest.CancelState.CANCELED):
            sr.cancel_state = ShippingRequest.CancelState.REQUESTED
            fields.append("cancel_state")
        sr.save(update_fields=fields)
        _event(sr.order, "sr_cancel_requested", f"{sr.reference} reached {sr.integration} as {external_id} after it was canceled; "
               "cancellation requested", _run_actor(run), run=run)
        return sr
    if sr.status not in SR_UNSENT:
        if not sr.external_id:
            sr.external_id = external_id
            sr.save(update_fields=["external_id", "updated_at"])
        return sr
    sr.status, sr.external_id, sr.remote_status = SR.SENT_TO_FULFILLMENT, external_id, remote_status or sr.remote_status
    sr.sent_at = sent_at
    sr.save(update_fields=["status", "external_id", "remote_status", "sent_at", "updated_at"])
    exceptions_resolve(dedup_keys=_sr_exception_keys(sr), note="sent to fulfillment")
    if not move_order:
        _event(sr.order, "sr_sent", f"{sr.reference} sent to {sr.integration} as {external_id}", _run_actor(run), run=run)
        return sr
    _try_transition(order=sr.order, to_status=S.SENT_TO_FULFILLMENT, actor=_run_actor(run), run=run,
                    message=f"{sr.reference} sent to {sr.integration} as {external_id}")
    return sr


@transaction.atomic
def shipping_requests_mark_sent(*, sent: list[tuple[ShippingRequest, str, str]], run=None,
                                move_order: bool = True) -> list[ShippingRequest]:
    """`shipping_request_mark_sent` for a page of (request, external_id, remote_status) in a bounded number of
    queries, whatever the page size: orders locked then requests locked and re-read (two statements, pk order),
    the unsent requests updated in one statement, their exceptions resolved in one, their orders moved to
    sentToFulfillment by compare-and-set per expected status with one event each (bulk); move_order=False leaves
    the orders' status as it is and writes one sr_sent event per request (bulk). A request cancelled or already
    further on meanwhile takes the single-request path (rare)."""
    from orders.models import OrderEvent

    if not sent:
        return []
    wanted = {sr.pk: (external_id, remote_status) for sr, external_id, remote_status in sent}
    rows = srs_lock(sr for sr, _, _ in sent)
    now = timezone.now()
    unsent = [sr for sr in rows if sr.status in SR_UNSENT]
    for sr in rows:
        if sr.status not in SR_UNSENT:
            external_id, remote_status = wanted[sr.pk]
            shipping_request_mark_sent(shipping_request=sr, external_id=external_id, remote_status=remote_status, run=run,
                                       move_order=move_order)
    if not unsent:
        return rows
    for sr in unsent:
        external_id, remote_status = wanted[sr.pk]
        sr.status, sr.external_id, sr.remote_status = SR.SENT_TO_FULFILLMENT, external_id, remote_status or sr.remote_status
        sr.sent_at, sr.updated_at = sr.sent_at or now, now
    ShippingRequest.objects.bulk_update(unsent, ["status", "external_id", "remote_status", "sent_at", "updated_at"])
    exceptions_resolve(dedup_keys=_srs_exception_keys(unsent), note="sent to fulfillment")
    actor = _run_actor(run)[:120]
    if not move_order:
        OrderEvent.objects.bulk_create([OrderEvent(order_id=sr.order_id, kind="sr_sent", actor=actor, sync_run=run,
                                                   message=f"{sr.reference} sent to {sr.integration} as {sr.external_id}")
                                        for sr in unsent])
        return rows
    # One transition per order (a split order's requests move it once), compare-and-set on the status read under lock.
    first_sr: dict[int, ShippingRequest] = {}
    for sr in unsent:
        first_sr.setdefault(sr.order_id, sr)
    orders_transition(moves=[(sr.order, f"{sr.reference} sent to {sr.integration} as {sr.external_id}") for sr in first_sr.values()],
                      to_status=S.SENT_TO_FULFILLMENT, actor=actor, run=run)
    return rows


def _sr_exception_keys(sr: ShippingRequest) -> list[str]:
    return _srs_exception_keys([sr])


def _srs_exception_keys(requests) -> list[str]:
    """The requests' open exceptions (but cancel_too_late, resolved by the return or refund) in one query."""
    prefixes = Q()
    for sr in requests:
        prefixes |= Q(dedup_key__startswith=f"sr:{sr.pk}:")
    if not prefixes:
        return []
    return list(OpsException.objects.filter(prefixes, status=OpsException.Status.OPEN).exclude(code="cancel_too_late")
                .values_list("dedup_key", flat=True))


@transaction.atomic
def shipping_request_mark_rejected(*, shipping_request: ShippingRequest, message: str, code: str = "3pl_rejected",
                                   cause_key: str = "") -> ShippingRequest:
    """The 3PL refused the request: failed and visible as a fulfillment exception (re-drive resends it).
    cause_key groups requests blocked by one cause, e.g. "shipping_method:<integration pk>:Standard".
    A request cancelled (or sent by another attempt) meanwhile is left as it is: nothing to fix."""
    sr = sr_lock(shipping_request)
    if sr.status not in SR_UNSENT:
        return sr
    if not cause_key:
        cause_key = f"shipping_method:{sr.integration_id}:{sr.shipping_method}" if "shipping_method" in code else f"{code}:{sr.integration_id}"
    exception_raise(category=OpsException.Category.FULFILLMENT, code=code, integration=sr.integration, entity=sr, cause_key=cause_key,
                    dedup_key=f"sr:{sr.pk}:{code}", message=f"{sr.reference}: {message}", details={"order": sr.order.external_id})
    if sr.status != SR.FAILED:
        sr.status = SR.FAILED
        sr.save(update_fields=["status", "updated_at"])
        _event(sr.order, "sr_rejected", f"{sr.reference} rejected by {sr.integration}: {message}", f"{sr.integration}")
    return sr


@transaction.atomic
def shipping_request_retry(*, shipping_request: ShippingRequest, user=None) -> bool:
    """A failed, never-accepted request goes back to readyForFulfillment so the 3PL push flow sends it again."""
    sr = sr_lock(shipping_request)
    if sr.status != SR.FAILED or sr.external_id:
        return False
    sr.status = SR.READY_FOR_FULFILLMENT
    sr.save(update_fields=["status", "updated_at"])
    exceptions_resolve(dedup_keys=_sr_exception_keys(sr), note="re-driven", user=user)
    _event(sr.order, "sr_retry", f"{sr.reference} will be sent again", f"re-drive by {_user_actor(user)}", user=user)
    return True
