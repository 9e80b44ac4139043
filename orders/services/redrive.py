"""Exception re-drive: retry every entity blocked by the selected exceptions' causes."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q

from integrations.models import OpsException
from orders.models import Order, ShippingRequest
from orders.services.lifecycle import SR, _user_actor
from orders.services.shipping_requests import shipping_request_cancel, shipping_request_retry
from orders.services.cancellations import _order_after_cancel_outcome
from orders.services.ingestion import order_retry


def exceptions_redrive(*, exceptions, user=None) -> int:
    """Retry every entity blocked by the causes of these exceptions (all open exceptions sharing a
    cause_key, not only the selected ones); resolve those whose cause cleared, recording the user as the
    resolver (note: the cause's own note + "re-drive by user …"). Returns how many exceptions were resolved."""
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
            if sr.status == SR.FAILED and sr.external_id:
                _redrive_canceled_by_fulfillment(sr, actor=actor, user=user)
            else:
                shipping_request_retry(shipping_request=sr, user=user)
    resolved = list(OpsException.objects.filter(pk__in=before).exclude(status=OpsException.Status.OPEN))
    if user is not None:
        for exc in resolved:
            if exc.resolved_by_id is None:
                exc.resolved_by = user
                exc.resolution_note = f"{exc.resolution_note} ({actor})".strip()[:255]
                exc.save(update_fields=["resolved_by", "resolution_note"])
    return len(resolved)


def _redrive_canceled_by_fulfillment(sr: ShippingRequest, *, actor: str, user=None) -> None:
    """The 3PL cancelled this request (setting "failed"): it cannot be resent under its reference, so it is closed
    here (restock) and what it held is routed again on a new request."""
    shipping_request_cancel(shipping_request=sr, restock=True, actor=actor, user=user)
    _order_after_cancel_outcome(sr.order, actor=actor)
