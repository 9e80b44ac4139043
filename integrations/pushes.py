"""Push-outcome bookkeeping shared by the fulfillment connectors (OSA, Katana, Acumatica): what a page of shipping
requests pushed to a remote came to (sent / rejected / held / in doubt), written to the outbox (OutboundPush) and the
orders core in a bounded number of queries whatever the page size, and the outcomes of closed-loop cancellations
(bounded too). Other pushes keyed by their own idempotency key (Katana's FBT orders, Acumatica's refunds) use the
outbox helpers alone: outbox_rows, outbox_sent, outbox_write.

The connector decides what each outcome is (its calls, its messages); this module only records them. Domain apps do
not import it (it is framework: it calls orders and inventory services)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from django.contrib.contenttypes.models import ContentType
from django.db.models import F
from django.utils import timezone

from integrations import services
from integrations.flows import FlowResult
from integrations.models import OutboundPush

PUSH_FIELDS = ["attempts", "status", "remote_id", "sent_at", "payload", "response", "last_error"]


@dataclass
class PushOutcome:
    """One shipping request's push. kind: sent (remote_id/remote_status/response/payload) | rejected (the remote
    refused it: outbox row failed, request failed with an exception) | held (refused before any call: no outbox row,
    request failed with an exception) | transient (outcome unknown: stays pending, last_error kept; the next run
    looks the remote record up before creating)."""

    shipping_request: Any
    kind: str
    remote_id: str = ""
    remote_status: str = ""
    response: dict = field(default_factory=dict)
    payload: dict = field(default_factory=dict)
    message: str = ""  # the request's exception (and the run's error unless run_message)
    code: str = "3pl_rejected"
    cause_key: str = ""
    field: str = ""  # the run error's field
    run_message: str = ""
    exception: bool = True  # the run error opens the engine's own exception too


def push_outcomes_record(*, integration, kind: str, outcomes: Iterable[PushOutcome], result: FlowResult, run,
                         count_attempt: bool = True, move_order: bool = True, error_limit: int | None = None) -> None:
    """Record a page of push outcomes: outbox rows read once (the missing ones created in one statement) and
    written back in one bulk update; the sent requests marked together (orders.services.shipping_requests_mark_sent:
    requests, orders and events in bulk) and their commitments acknowledged in one statement. Rejections (rare)
    take the single-request path. count_attempt=False when the connector counted the attempt before its call
    (Katana); move_order=False leaves the orders' status as it is (an sr_sent event each instead)."""
    from inventory import services as inventory_services
    from orders import services as order_services

    outcomes = [o for o in outcomes if o.shipping_request is not None]
    ledgered = [o.shipping_request for o in outcomes if o.kind != "held"]
    pushes = outbox_rows(integration=integration, kind=kind, requests=ledgered)
    changed, sent = {}, []
    for o in outcomes:
        sr = o.shipping_request
        result.fetched += 1
        if o.kind == "held":
            _rejected(o, result)
            continue
        push = pushes[sr.reference]
        push.attempts += 1 if count_attempt else 0
        changed[push.pk] = push
        if o.kind == "sent":
            if push.status == OutboundPush.Status.SENT:
                result.unchanged += 1
            else:
                result.created += 1
            outbox_sent(push, remote_id=o.remote_id, response=o.response, payload=o.payload)
            sent.append((sr, o.remote_id, o.remote_status))
        elif o.kind == "rejected":
            push.status, push.last_error = OutboundPush.Status.FAILED, o.message[:error_limit]
            _rejected(o, result)
        else:
            push.last_error = o.message[:error_limit]
    outbox_write(changed.values())
    if sent:
        order_services.shipping_requests_mark_sent(sent=sent, run=run, move_order=move_order)
        # The remote now counts these units in its own commitments: its figures taken from now on include them.
        inventory_services.inventory_commitments_acknowledged(references=[sr.reference for sr, _, _ in sent])


def outbox_attempt(push: OutboundPush) -> int:
    """Count an attempt on the ledger row and commit it BEFORE the call (a create whose answer is lost, worker and
    all, is then looked up by the next attempt, never created twice). Returns the attempts before this one."""
    OutboundPush.objects.filter(pk=push.pk).update(attempts=F("attempts") + 1)
    return push.attempts


def duplicate_possible(*, ctx, earlier: int) -> bool:
    """Just created a remote record that has no idempotency key: might another worker have created it too? Only when
    this attempt retries one in doubt (whose call may land late) or this run's lease broke during the call
    (services.flow_lease_unbroken); then the caller reads its records back and keeps one."""
    return bool(earlier) or not services.flow_lease_unbroken(ctx=ctx)


def outbox_rows(*, integration, kind: str, requests: list, key: Callable[[Any], str] | None = None) -> dict[str, OutboundPush]:
    """key → the object's outbox row: one read, the missing rows created pending with no attempt in one statement
    (and read back). key(object) is its idempotency key (default: a shipping request's reference)."""
    key = key or _reference
    objects = {key(obj): obj for obj in requests}
    if not objects:
        return {}
    rows = OutboundPush.objects.filter(integration=integration, kind=kind, idempotency_key__in=list(objects))
    pushes = {p.idempotency_key: p for p in rows}
    missing = {k: obj for k, obj in objects.items() if k not in pushes}
    if missing:
        content_type = ContentType.objects.get_for_model(next(iter(missing.values())))
        OutboundPush.objects.bulk_create([OutboundPush(integration=integration, kind=kind, idempotency_key=k, object_id=obj.pk,
                                                       content_type=content_type) for k, obj in missing.items()],
                                         ignore_conflicts=True)
        pushes.update((p.idempotency_key, p) for p in rows.filter(idempotency_key__in=list(missing)))
    return pushes


def _reference(sr) -> str:
    return sr.reference


def outbox_sent(push: OutboundPush, *, remote_id: str, response: dict, payload: dict | None = None) -> None:
    """The row (read by outbox_rows) as sent: written with the page's others by outbox_write."""
    push.status, push.remote_id, push.sent_at = OutboundPush.Status.SENT, remote_id, push.sent_at or timezone.now()
    push.payload, push.response, push.last_error = payload or push.payload, response, ""


def outbox_write(pushes: Iterable[OutboundPush]) -> None:
    """The page's outbox rows written back in one statement."""
    pushes = list({p.pk: p for p in pushes}.values())
    if pushes:
        OutboundPush.objects.bulk_update(pushes, PUSH_FIELDS)


def _rejected(o: PushOutcome, result: FlowResult) -> None:
    from orders import services as order_services

    sr = o.shipping_request
    order_services.shipping_request_mark_rejected(shipping_request=sr, message=o.message, code=o.code, cause_key=o.cause_key)
    result.record_error(external_id=sr.reference, field=o.field or o.code, message=o.run_message or o.message,
                        exception=o.exception)


def cancel_outcomes_record(*, outcomes: Iterable[tuple[Any, str, str]], result: FlowResult, refused: str, too_late: str,
                           too_late_exception: bool = True) -> None:
    """Record closed-loop cancellations: (request, canceled | too_late | error, remote's message) each. `refused` and
    `too_late` are the run errors' texts, formatted with {message}. The confirmed ones are recorded together in a
    bounded number of queries (orders.services.shipping_requests_cancel_confirmed: stock released, orders cancelled
    in bulk; an order re-routed, per order); too-late ones (rare) take the orders core's single-request path."""
    from orders import services as order_services

    confirmed, late = [], []
    for sr, kind, message in outcomes:
        result.fetched += 1
        if kind == "error":
            result.record_error(external_id=sr.reference, message=refused.format(message=message))
        elif kind == "too_late":
            late.append(sr)
            result.record_error(external_id=sr.reference, message=too_late.format(message=message),
                                exception=too_late_exception)
        else:
            confirmed.append(sr)
            result.updated += 1
    order_services.shipping_requests_cancel_confirmed(shipping_requests=confirmed)
    for sr in late:
        order_services.shipping_request_cancel_confirmed(shipping_request=sr, too_late=True)
