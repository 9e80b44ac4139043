"""Orders from selling integrations, shipping requests to fulfillment, fulfillments, cancellations,
returns and refunds. Money is Decimal with a currency, never float."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

MONEY = {"max_digits": 14, "decimal_places": 2}


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    NEW = "new", "New"
    ON_HOLD = "onHold", "On hold"
    TO_BE_VALIDATED = "toBeValidated", "To be validated"
    REVIEW_REQUIRED = "reviewRequired", "Review required"
    READY_FOR_FULFILLMENT = "readyForFulfillment", "Ready for fulfillment"
    SENT_TO_FULFILLMENT = "sentToFulfillment", "Sent to fulfillment"
    PARTIAL_FULFILLMENT = "partialFulfillment", "Partial fulfillment"
    FULFILLED = "fulfilled", "Fulfilled"
    IN_TRANSIT = "inTransit", "In transit"
    DELIVERED = "delivered", "Delivered"
    CANCELED = "canceled", "Canceled"
    RETURNED = "returned", "Returned"
    REFUNDED = "refunded", "Refunded"
    CLOSED = "closed", "Closed"


class RoutingState(models.TextChoices):
    NONE = "", "—"
    ROUTED = "routed", "Routed"
    PENDING_INVENTORY = "pendingInventory", "Pending inventory"
    FAILED = "failed", "Routing failed (retried)"


class Order(models.Model):
    class FulfillmentType(models.TextChoices):
        SELLER = "seller", "Fulfilled by seller"
        PLATFORM = "platform", "Fulfilled by platform"

    integration = models.ForeignKey("integrations.Integration", on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField("channel order id", max_length=64)
    status = models.CharField(max_length=30, choices=OrderStatus.choices, default=OrderStatus.NEW, db_index=True)
    channel_status = models.CharField(max_length=40, blank=True, db_index=True)
    order_type = models.CharField(max_length=40, blank=True)
    fulfillment_type = models.CharField(max_length=20, choices=FulfillmentType.choices, default=FulfillmentType.SELLER)
    hold_until = models.DateTimeField(null=True, blank=True, db_index=True)
    currency = models.CharField(max_length=3, default="USD")
    subtotal = models.DecimalField(default=0, **MONEY)
    shipping_total = models.DecimalField(default=0, **MONEY)
    tax_total = models.DecimalField(default=0, **MONEY)
    discount_total = models.DecimalField(default=0, **MONEY)
    total = models.DecimalField(default=0, **MONEY)
    buyer_external_id = models.CharField(max_length=64, blank=True)
    buyer_email = models.CharField(max_length=255, blank=True)
    buyer_message = models.TextField(blank=True)
    payment_method = models.CharField(max_length=60, blank=True)
    # TikTok masks names/addresses at times; stored exactly as given.
    shipping_address = models.JSONField(default=dict, blank=True)
    shipping_method = models.CharField(max_length=100, blank=True, help_text="Channel delivery option / shipping method.")
    delivery_option_id = models.CharField(max_length=64, blank=True)
    ship_by = models.DateTimeField("ship by (SLA)", null=True, blank=True)
    deliver_by = models.DateTimeField("deliver by (SLA)", null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    ordered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Operations state: why the order waits, and where routing stands.
    held_by_rule = models.ForeignKey("orders.HoldRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel_hold = models.BooleanField(default=False, help_text="Held by the channel (TikTok ON_HOLD) until it releases the order.")
    review_reason = models.CharField(max_length=40, blank=True)
    routing_state = models.CharField(max_length=20, choices=RoutingState.choices, blank=True, default="", db_index=True)
    routing_attempts = models.PositiveIntegerField(default=0)
    routing_next_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True, help_text="Full cancellation waiting for the fulfillment side.")
    payload_hash = models.CharField(max_length=64, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="uniq_channel_order")]
        indexes = [
            models.Index(fields=["status", "hold_until"], name="order_hold_idx"),
            models.Index(fields=["integration", "-created_at"], name="order_integration_idx"),
            # The orders changelist at scale (orders/admin_list.py): status filter in list order, exact order id
            # search across integrations, whole e-mail search.
            models.Index(fields=["status", "-created_at"], name="order_status_created_idx"),
            models.Index(fields=["external_id"], name="order_external_id_idx"),
            models.Index(Upper("buyer_email"), name="order_email_upper_idx"),
        ]
        permissions = [("release_hold", "Can release and re-hold orders")]

    def __str__(self) -> str:
        return f"{self.integration.name} #{self.external_id}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=100)  # indexed with order_id (Meta): the admin's SKU search reads only the index
    product = models.ForeignKey("catalog.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="order_lines")
    name = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(default=0, **MONEY)
    discount = models.DecimalField(default=0, **MONEY)
    tax = models.DecimalField(default=0, **MONEY)
    total = models.DecimalField(default=0, **MONEY)
    # TikTok sends one line item per unit; a line aggregates the channel line ids per SKU.
    channel_line_ids = models.JSONField(default=list, blank=True)
    is_bundle = models.BooleanField(default=False)
    canceled_quantity = models.PositiveIntegerField(default=0)
    # A component of an ordered bundle line (a TikTok combined listing): the bundle line stays on the order as
    # the buyer ordered it (reporting, statements, returns) and is never routed, committed or shipped itself;
    # its component lines are. quantity = bundle quantity × units per bundle unit.
    bundle_line = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="components")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "sku"], condition=Q(bundle_line__isnull=True), name="uniq_order_line_sku"),
            models.UniqueConstraint(fields=["order", "bundle_line", "sku"], condition=Q(bundle_line__isnull=False),
                                    name="uniq_order_bundle_component_sku"),
        ]
        indexes = [models.Index(fields=["sku", "order"], name="orderline_sku_order_idx")]

    @property
    def units_per_bundle(self) -> int:
        """Units of this component line in one unit of its bundle line (1 for a line that is no component)."""
        if self.bundle_line is None or not self.bundle_line.quantity:
            return 1
        return max(1, self.quantity // self.bundle_line.quantity)

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class OrderEvent(models.Model):
    """The order's timeline: what happened, and who or what did it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30, blank=True)
    message = models.TextField(blank=True)
    actor = models.CharField(max_length=120, blank=True, help_text="e.g. “flow run #12”, “hold rule TikTok 60 min”, “user alice”.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    sync_run = models.ForeignKey("integrations.SyncRun", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["order", "at"], name="orderevent_order_idx")]


class ShippingRequestStatus(models.TextChoices):
    NEW = "new", "New"
    PENDING_INVENTORY = "pendingInventory", "Pending inventory"
    REVIEW_REQUIRED = "reviewRequired", "Review required"
    READY_FOR_FULFILLMENT = "readyForFulfillment", "Ready for fulfillment"
    SENT_TO_FULFILLMENT = "sentToFulfillment", "Sent to fulfillment"
    PARTIAL_FULFILLMENT = "partialFulfillment", "Partial fulfillment"
    FULFILLED = "fulfilled", "Fulfilled"
    CANCELED = "canceled", "Canceled"
    CANCELED_RESTOCK = "canceledRestock", "Canceled restock"
    FAILED = "failed", "Failed"
    ON_HOLD = "onHold", "On hold"


class ShippingRequest(models.Model):
    """An order (or part of it) routed to a fulfillment integration and location. Never edited:
    a change is a cancel and a re-route."""

    class CancelState(models.TextChoices):
        NONE = "", "—"
        REQUESTED = "requested", "Cancel requested"
        CANCELED = "canceled", "Canceled"
        TOO_LATE = "too_late", "Too late (already shipped)"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipping_requests")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.PROTECT, related_name="shipping_requests")
    location = models.ForeignKey("inventory.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="shipping_requests")
    reference = models.CharField(max_length=64, unique=True, help_text="Switchyard's reference, the idempotency key at the 3PL.")
    external_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=30, choices=ShippingRequestStatus.choices, default=ShippingRequestStatus.NEW, db_index=True)
    managed_routing = models.BooleanField(default=False, help_text="The 3PL picks its own warehouse.")
    shipping_method = models.CharField(max_length=100, blank=True)
    cancel_state = models.CharField(max_length=20, choices=CancelState.choices, blank=True, default="")
    remote_status = models.CharField(max_length=40, blank=True)
    restock_on_cancel = models.BooleanField(default=True, help_text="Release committed stock when the cancellation completes.")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], condition=~Q(external_id=""), name="uniq_sr_external"),
        ]
        indexes = [models.Index(fields=["integration", "status"], name="sr_integration_status_idx")]

    def __str__(self) -> str:
        return self.reference


class ShippingRequestLine(models.Model):
    shipping_request = models.ForeignKey(ShippingRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.SET_NULL)
    product = models.ForeignKey("catalog.Product", null=True, blank=True, on_delete=models.PROTECT)
    sku = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()
    shipped_quantity = models.PositiveIntegerField(default=0)
    # Units of the order line this request line covers (differs from quantity for expanded bundle components).
    units = models.PositiveIntegerField(default=0)


class Fulfillment(models.Model):
    """A shipment: immutable once recorded. Pushes to channels are tracked in OutboundPush."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fulfillments")
    shipping_request = models.ForeignKey(ShippingRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="fulfillments")
    integration = models.ForeignKey("integrations.Integration", null=True, blank=True, on_delete=models.PROTECT, related_name="fulfillments",
                                    help_text="Where the fulfillment came from (the 3PL, or the channel for platform-shipped orders).")
    external_id = models.CharField(max_length=64)
    carrier = models.CharField(max_length=100, blank=True)
    shipping_method = models.CharField(max_length=100, blank=True)
    tracking_numbers = models.JSONField(default=list, blank=True)
    tracking_url = models.URLField(blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="uniq_fulfillment")]

    def __str__(self) -> str:
        return f"{self.carrier} {', '.join(self.tracking_numbers)}"


class FulfillmentLine(models.Model):
    fulfillment = models.ForeignKey(Fulfillment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.SET_NULL)
    sku = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()


class Cancellation(models.Model):
    class Source(models.TextChoices):
        BUYER = "buyer", "Buyer"
        PLATFORM = "platform", "Platform"
        SELLER = "seller", "Seller"
        FULFILLMENT = "fulfillment", "Fulfillment provider"
        USER = "user", "User"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        COMPLETED = "completed", "Completed"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="cancellations")
    integration = models.ForeignKey("integrations.Integration", null=True, blank=True, on_delete=models.PROTECT)
    external_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETED)
    is_full = models.BooleanField(default=True)
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], condition=~Q(external_id=""), name="uniq_cancellation"),
        ]


class CancellationLine(models.Model):
    cancellation = models.ForeignKey(Cancellation, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.SET_NULL)
    sku = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()


class Return(models.Model):
    """A return (RMA)."""

    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="returns")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.PROTECT, related_name="returns")
    external_id = models.CharField(max_length=64)
    order_external_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=40, db_index=True)
    return_type = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    refund_total = models.DecimalField(default=0, **MONEY)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "return (RMA)"
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="uniq_return")]


class ReturnLine(models.Model):
    ret = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.SET_NULL)
    sku = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()
    external_line_id = models.CharField(max_length=64, blank=True)


class Refund(models.Model):
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="refunds")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.PROTECT, related_name="refunds")
    external_id = models.CharField(max_length=64, blank=True)
    ret = models.ForeignKey(Return, null=True, blank=True, on_delete=models.SET_NULL, related_name="refunds")
    refund_type = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=40, db_index=True)
    reason = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    amount = models.DecimalField(default=0, **MONEY)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], condition=~Q(external_id=""), name="uniq_refund"),
        ]


class RefundLine(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.SET_NULL)
    sku = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(default=0, **MONEY)


# --- rules ------------------------------------------------------------------------------------

class HoldRule(models.Model):
    """Which new orders wait, for how long, and what status follows (TikTok: 60 minutes, because the
    buyer may still edit the order during its first hour)."""

    class Clock(models.TextChoices):
        ORDER_TIME = "order_time", "Order time (when the buyer placed it)"
        SYNC_TIME = "sync_time", "Sync time (when Switchyard received it)"

    class NextStatus(models.TextChoices):
        READY = OrderStatus.READY_FOR_FULFILLMENT.value, OrderStatus.READY_FOR_FULFILLMENT.label
        REVIEW = OrderStatus.REVIEW_REQUIRED.value, "Review required (manual release)"

    name = models.CharField(max_length=120, unique=True, help_text="Stable name; the natural key in exports.")
    enabled = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first; the first matching rule applies.")
    integration = models.ForeignKey("integrations.Integration", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="hold_rules", help_text="Only orders from this integration (blank: any).")
    connector = models.CharField(max_length=40, blank=True, help_text="Only orders from integrations of this connector, e.g. tiktok (blank: any).")
    tags = models.JSONField(default=list, blank=True, help_text="Only orders with any of these tags (empty: any).")
    skus = models.JSONField(default=list, blank=True, help_text="Only orders containing any of these SKUs (empty: any).")
    order_types = models.JSONField(default=list, blank=True, help_text="Only orders of these order types (empty: any).")
    minutes = models.PositiveIntegerField(default=60)
    clock = models.CharField(max_length=20, choices=Clock.choices, default=Clock.ORDER_TIME)
    next_status = models.CharField(max_length=30, choices=NextStatus.choices, default=NextStatus.READY)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """Ordered: the first enabled rule whose filters match routes the order to its ranked locations."""

    name = models.CharField(max_length=120, unique=True, help_text="Stable name; the natural key in exports.")
    position = models.PositiveIntegerField(default=100, db_index=True, help_text="Rules are evaluated in this order.")
    enabled = models.BooleanField(default=True)
    integration = models.ForeignKey("integrations.Integration", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="routing_rules", help_text="Only orders from this source integration (blank: any).")
    skus = models.JSONField(default=list, blank=True, help_text="Only orders containing any of these SKUs (empty: any).")
    tags = models.JSONField(default=list, blank=True, help_text="Only orders with any of these tags (empty: any).")
    countries = models.JSONField(default=list, blank=True, help_text="Ship-to country codes, e.g. US (empty: any).")
    regions = models.JSONField(default=list, blank=True, help_text="Ship-to regions / states, e.g. CA, NY (empty: any).")
    check_inventory = models.BooleanField(default=True, help_text="Only route to a location with enough available stock.")
    allow_split = models.BooleanField(default=False, help_text="Split the order across locations when no single one has everything.")
    locations = models.ManyToManyField("inventory.Location", through="RoutingRuleLocation", related_name="routing_rules")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class RoutingRuleLocation(models.Model):
    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="candidates")
    location = models.ForeignKey("inventory.Location", on_delete=models.CASCADE, related_name="routing_candidates")
    rank = models.PositiveIntegerField(default=1, help_text="1 is tried first.")

    class Meta:
        ordering = ["rank", "id"]
        constraints = [models.UniqueConstraint(fields=["rule", "location"], name="uniq_routing_candidate")]

    def __str__(self) -> str:
        return f"{self.rank}. {self.location}"
