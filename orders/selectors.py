"""Order reads the connectors and the admin use."""
from __future__ import annotations

from collections import defaultdict

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from integrations.models import OpsException, OutboundPush
from orders.models import (
    Cancellation, Fulfillment, FulfillmentLine, Order, OrderLine, OrderStatus, ShippingRequest, ShippingRequestLine,
    ShippingRequestStatus,
)


def shipping_requests_to_send(*, integration) -> QuerySet[ShippingRequest]:
    """readyForFulfillment, never sent, no cancellation pending, order not canceled."""
    return (ShippingRequest.objects.filter(integration=integration, status=ShippingRequestStatus.READY_FOR_FULFILLMENT,
                                           external_id="", cancel_state="")
            .exclude(order__status=OrderStatus.CANCELED)
            .select_related("order", "location").prefetch_related("lines").order_by("created_at", "pk"))


def shipping_requests_to_cancel(*, integration) -> QuerySet[ShippingRequest]:
    return (ShippingRequest.objects.filter(integration=integration, cancel_state=ShippingRequest.CancelState.REQUESTED)
            .select_related("order", "location").order_by("updated_at", "pk"))


def _sent_push(kind: str, integration, model) -> Exists:
    return Exists(OutboundPush.objects.filter(integration=integration, kind=kind, status=OutboundPush.Status.SENT,
                                              content_type=ContentType.objects.get_for_model(model), object_id=OuterRef("pk")))


def fulfillments_to_push(*, channel_integration) -> QuerySet[Fulfillment]:
    """Fulfillments of this channel's seller-fulfilled orders with no SENT "fulfillment" push yet."""
    return (Fulfillment.objects.filter(order__integration=channel_integration)
            .exclude(order__fulfillment_type=Order.FulfillmentType.PLATFORM)
            .exclude(_sent_push("fulfillment", channel_integration, Fulfillment))
            .select_related("order", "shipping_request").prefetch_related("lines").order_by("created_at", "pk"))


def cancellations_to_push(*, integration) -> QuerySet[Cancellation]:
    """Cancellations of this channel's orders not yet pushed, whatever their source (a user, a 3PL, ...), except
    the ones the channel itself reported (buyer, platform or seller cancellations recorded from its pulls)."""
    channel_own = Q(integration=integration, source__in=(Cancellation.Source.BUYER, Cancellation.Source.PLATFORM,
                                                         Cancellation.Source.SELLER))
    return (Cancellation.objects.filter(order__integration=integration).exclude(channel_own)
            .exclude(_sent_push("cancellation", integration, Cancellation))
            .select_related("order").prefetch_related("lines").order_by("created_at", "pk"))


def orders_held_due(*, now) -> QuerySet[Order]:
    return Order.objects.filter(status=OrderStatus.ON_HOLD, channel_hold=False, hold_until__lte=now)


def order_units_shipped(*, order: Order, upto: Fulfillment | None = None, inclusive: bool = True) -> dict[int, int]:
    """{ordered line pk: units shipped} for the order's ordered lines (not bundle components), counting the
    fulfillments recorded up to ``upto`` (included unless ``inclusive`` is False; all when None). A bundle unit
    counts once every component of it shipped: the component lines of an ordered bundle line, or the
    components a catalog bundle was expanded into at routing (units per bundle unit from its request lines)."""
    lines = list(OrderLine.objects.filter(order=order).order_by("pk"))
    fulfilled = FulfillmentLine.objects.filter(fulfillment__order=order, order_line__isnull=False)
    if upto is not None:
        fulfilled = fulfilled.filter(**{"fulfillment__pk__lte" if inclusive else "fulfillment__pk__lt": upto.pk})
    shipped: dict[tuple[int, str], int] = defaultdict(int)
    for line_id, sku, qty in fulfilled.values_list("order_line_id", "sku", "quantity"):
        shipped[(line_id, sku)] += qty
    per_unit: dict[int, dict[str, int]] = defaultdict(dict)
    by_pk = {ln.pk: ln for ln in lines}
    for line_id, sku, qty, units in ShippingRequestLine.objects.filter(shipping_request__order=order, units__gt=0).values_list(
            "order_line_id", "sku", "quantity", "units"):
        line = by_pk.get(line_id)
        if line is not None and sku != line.sku:
            per_unit[line_id][sku] = max(1, qty // units)

    def units(line: OrderLine) -> int:
        components = per_unit.get(line.pk)
        expanded = min(shipped[(line.pk, sku)] // each for sku, each in components.items()) if components else 0
        return shipped[(line.pk, line.sku)] + expanded

    children: dict[int, list[OrderLine]] = defaultdict(list)
    for line in lines:
        if line.bundle_line_id is not None:
            children[line.bundle_line_id].append(line)
    out: dict[int, int] = {}
    for line in lines:
        if line.bundle_line_id is not None:
            continue
        kids = children.get(line.pk)
        out[line.pk] = units(line) + (min(units(kid) // max(1, kid.quantity // line.quantity if line.quantity else 1) for kid in kids)
                                      if kids else 0)
    return out


def return_lines_shipped_as(*, ret) -> list[tuple[int | None, str, int]]:
    """[(product pk, SKU, quantity)] a return's lines as the fulfillment side shipped them: a line on an ordered
    bundle line becomes its component lines (quantity × units per bundle unit), since only those were shipped;
    other lines stay as they are."""
    out: list[tuple[int | None, str, int]] = []
    for line in ret.lines.all():
        ordered = line.order_line
        components = list(ordered.components.all()) if ordered is not None else []
        if not components:
            out.append((ordered.product_id if ordered is not None else None, line.sku, line.quantity))
            continue
        for part in components:
            each = part.quantity // ordered.quantity if ordered.quantity else 1
            out.append((part.product_id, part.sku, line.quantity * max(1, each)))
    return out


def order_page(*, order: Order) -> dict:
    """Everything the order page shows, in a fixed number of queries whatever the order's size: lines (bundle
    components under their bundle), shipping requests, fulfillments, cancellations, returns, refunds (each with
    lines), the open exceptions of the order and of its shipping requests, and the timeline."""
    lines = list(OrderLine.objects.filter(order=order).select_related("product").order_by("id"))
    children = defaultdict(list)
    for line in lines:
        if line.bundle_line_id:
            children[line.bundle_line_id].append(line)
    line_ids = {line.pk for line in lines}
    line_rows = []
    for line in lines:
        if line.bundle_line_id in line_ids:
            continue
        line_rows.append({"line": line, "components": children.get(line.pk, [])})
    requests = list(ShippingRequest.objects.filter(order=order).select_related("integration", "location")
                    .prefetch_related(Prefetch("lines", queryset=ShippingRequestLine.objects.order_by("id"))).order_by("created_at", "id"))
    fulfillments = list(Fulfillment.objects.filter(order=order).select_related("integration", "shipping_request")
                        .prefetch_related("lines").order_by("shipped_at", "id"))
    cancellations = list(Cancellation.objects.filter(order=order).prefetch_related("lines").order_by("created_at", "id"))
    returns = list(order.returns.select_related("integration").prefetch_related("lines").order_by("created_at", "id"))
    refunds = list(order.refunds.select_related("integration").prefetch_related("lines").order_by("created_at", "id"))
    ct_order = ContentType.objects.get_for_model(Order)
    ct_request = ContentType.objects.get_for_model(ShippingRequest)
    exceptions = list(OpsException.objects.filter(status=OpsException.Status.OPEN).filter(
        Q(content_type=ct_order, object_id=order.pk) |
        Q(content_type=ct_request, object_id__in=[sr.pk for sr in requests])).order_by("-last_seen_at")[:50])
    events = list(order.events.select_related("user", "sync_run").order_by("at", "id"))
    return {"line_rows": line_rows, "shipping_requests": requests, "fulfillments": fulfillments,
            "cancellations": cancellations, "returns": returns, "refunds": refunds, "exceptions": exceptions,
            "events": events}



PREVIEW_ORDERS = 100


def routing_rule_preview(*, rule, last: int = PREVIEW_ORDERS) -> dict:
    """How the rule's filters fare on the latest orders: how many it matches, and how many of those an earlier
    enabled rule takes first (3 queries)."""
    from orders.models import RoutingRule
    from orders.services.routing import order_match_facts, routing_rule_matches

    orders = list(Order.objects.order_by("-created_at", "-id").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.only("id", "order_id", "sku")))[:last])
    earlier = [r for r in RoutingRule.objects.filter(enabled=True).order_by("position", "name")
               if (r.position, r.name) < (rule.position, rule.name) and r.pk != rule.pk]
    matched = taken = 0
    for order in orders:
        facts = order_match_facts(order, lines=order.lines.all())
        if routing_rule_matches(rule, facts):
            matched += 1
            if any(routing_rule_matches(r, facts) for r in earlier):
                taken += 1
    return {"orders": len(orders), "matched": matched, "taken_earlier": taken}
