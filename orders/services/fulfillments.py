"""Shipments: record them once, ship the stock, move request and order status."""
from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from catalog.models import Product
from integrations.models import Integration
from inventory import services as inventory_services
from orders.interface import FulfillmentIn
from orders.models import Fulfillment, FulfillmentLine, Order, ShippingRequest, ShippingRequestLine
from orders.services.lifecycle import SR, SR_CANCELED, _event, _run_actor, order_sync_fulfillment_status, sr_lock
from orders.services.cancellations import _cancel_too_late
from orders.services.lines import _lines_by_sku


@transaction.atomic
def fulfillment_record(*, integration: Integration, shipping_request: ShippingRequest | None = None, order: Order | None = None,
                       fulfillment: FulfillmentIn, run=None) -> tuple[Fulfillment, bool]:
    """Record a shipment once (integration, external_id); ship stock; move request and order status. A shipment
    really happened, so it is always recorded, whatever the request's or order's status meanwhile (a request
    cancelled here that shipped anyway keeps its cancelled status; the order status follows its own rules)."""
    existing = Fulfillment.objects.filter(integration=integration, external_id=fulfillment.external_id).first()
    if existing is not None:
        return existing, False
    sr = sr_lock(shipping_request) if shipping_request is not None else None
    order = sr.order if sr is not None else order
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
    """Caller holds the request's row lock."""
    canceled = sr.status in SR_CANCELED
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
            product = Product(pk=line.product_id, sku=line.sku)
            if canceled:
                # Its commitment was released when it was cancelled here: commit the shipped units again so the
                # shipment takes them from this request's commitment, never from another order's.
                inventory_services.inventory_commit(location=sr.location, product=product, quantity=take, reference=sr.reference,
                                                    run=run, allow_negative=True)
            inventory_services.inventory_ship(location=sr.location, product=product, quantity=take, reference=sr.reference, run=run)
    ShippingRequestLine.objects.bulk_update(changed, ["shipped_quantity"])
    FulfillmentLine.objects.bulk_create(out)
    if not canceled:
        done = all(ln.shipped_quantity >= ln.quantity for ln in lines)
        sr.status = SR.FULFILLED if done else SR.PARTIAL_FULFILLMENT
        sr.save(update_fields=["status", "updated_at"])
    if sr.cancel_state == ShippingRequest.CancelState.REQUESTED or (canceled and sr.cancel_state != ShippingRequest.CancelState.TOO_LATE):
        _cancel_too_late(sr)


def _fulfill_order_lines(order: Order, record: Fulfillment, data: FulfillmentIn) -> None:
    by_sku = _lines_by_sku(order)
    ordered = [ln for ln in order.lines.all() if ln.bundle_line_id is None]
    items = [(i.sku, i.quantity) for i in data.lines] if data.lines else [(ln.sku, ln.quantity - ln.canceled_quantity) for ln in ordered]
    FulfillmentLine.objects.bulk_create([FulfillmentLine(fulfillment=record, order_line=by_sku.get(sku), sku=sku, quantity=qty)
                                         for sku, qty in items if qty > 0])
