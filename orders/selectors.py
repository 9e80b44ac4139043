"""Order reads the connectors and the admin use."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, QuerySet

from integrations.models import OutboundPush
from orders.models import Cancellation, Fulfillment, Order, OrderStatus, ShippingRequest, ShippingRequestStatus


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
    """Cancellations made in Switchyard (source user) of this channel's orders, not yet pushed."""
    return (Cancellation.objects.filter(order__integration=integration, source=Cancellation.Source.USER)
            .exclude(_sent_push("cancellation", integration, Cancellation))
            .select_related("order").prefetch_related("lines").order_by("created_at", "pk"))


def orders_held_due(*, now) -> QuerySet[Order]:
    return Order.objects.filter(status=OrderStatus.ON_HOLD, channel_hold=False, hold_until__lte=now)
