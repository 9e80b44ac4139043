"""Shipments: record them once, ship the stock, move request and order status."""
from __future__ import annotations

from collections import defaultdict

from django.utils import timezone

from catalog.models import Product
from integrations.models import Integration
from inventory import services as inventory_services
from orders.interface import FulfillmentIn
from orders.models import Fulfillment, FulfillmentLine, Order, ShippingRequest, ShippingRequestLine
from orders.services.lifecycle import S, SR, _event, order_can_transition, order_transition, _run_actor
from orders.services.cancellations import _cancel_too_late
from orders.services.lines import _lines_by_sku, _parent_ids


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
    if sr.location_id:
        inventory_services.inventory_levels_lock(pairs=[(sr.location_id, ln.product_id) for ln in lines if ln.product_id])
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
    by_sku = _lines_by_sku(order)
    ordered = [ln for ln in order.lines.all() if ln.bundle_line_id is None]
    items = [(i.sku, i.quantity) for i in data.lines] if data.lines else [(ln.sku, ln.quantity - ln.canceled_quantity) for ln in ordered]
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
    parents = _parent_ids(lines)
    complete = all(shipped.get(ln.pk, 0) >= ln.quantity - ln.canceled_quantity for ln in lines if ln.pk not in parents)
    target = S.FULFILLED if complete else S.PARTIAL_FULFILLMENT
    if order.status == S.CANCELED or order.status == target:
        return
    if order.status == S.ON_HOLD or not order_can_transition(order=order, to_status=target):
        _event(order, "status_not_changed", f"shipment recorded; {order.status} → {target} is not allowed", actor, run=run)
        return
    order_transition(order=order, to_status=target, actor=actor, run=run)
