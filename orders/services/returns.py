"""Returns and refunds from channels and 3PLs."""
from __future__ import annotations

from collections import defaultdict

from integrations.models import Integration
from integrations.services import exceptions_resolve
from orders.interface import RefundIn, ReturnIn, UpsertResult
from orders.models import Order, Refund, RefundLine, Return, ReturnLine
from orders.services.lifecycle import REFUND_DONE_STATUSES, RETURN_DONE_STATUSES, S, _run_actor, _try_transition
from orders.services.lines import _lines_by_sku
from orders.services.cancellations import cancel_too_late_keys


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
        by_sku = _lines_by_sku(order) if order else {}
        ReturnLine.objects.bulk_create([ReturnLine(ret=ret, order_line=by_sku.get(i.sku), sku=i.sku, quantity=i.quantity,
                                                   external_line_id=i.external_line_id) for i in data.lines])
        if order is not None and data.status.lower() in RETURN_DONE_STATUSES:
            _try_transition(order=order, to_status=S.RETURNED, actor=_run_actor(run), run=run, message=f"return {data.external_id}")
            exceptions_resolve(dedup_keys=cancel_too_late_keys(order), note=f"return {data.external_id} received")
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
        by_sku = _lines_by_sku(order) if order else {}
        RefundLine.objects.bulk_create([RefundLine(refund=refund, order_line=by_sku.get(i.sku), sku=i.sku, quantity=i.quantity,
                                                   amount=i.amount) for i in data.lines])
        if order is not None and data.status.lower() in REFUND_DONE_STATUSES:
            _try_transition(order=order, to_status=S.REFUNDED, actor=_run_actor(run), run=run, message=f"refund {data.external_id}")
            exceptions_resolve(dedup_keys=cancel_too_late_keys(order), note=f"refund {data.external_id} completed")
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
