"""Locations, links between locations of different integrations, inventory levels and ledger,
arrivals (inbound shipments, POs) and receipts."""
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Location(models.Model):
    class Kind(models.TextChoices):
        WAREHOUSE = "warehouse", "Warehouse"
        MANAGED_3PL = "3pl_managed", "3PL-managed location"
        FBT = "fbt", "FBT (Fulfilled by TikTok)"
        CONSOLIDATED = "consolidated", "Consolidated default"
        RETURN = "return", "Return warehouse"

    integration = models.ForeignKey("integrations.Integration", null=True, blank=True, on_delete=models.CASCADE, related_name="locations")
    code = models.SlugField(max_length=80, unique=True, help_text="Stable identifier used in settings and exports.")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WAREHOUSE)
    external_id = models.CharField(max_length=64, blank=True)
    address = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    exclude_from_totals = models.BooleanField(default=False, help_text="Leave this location out of inventory totals.")
    quantities_locked = models.BooleanField(default=False, help_text="Stop automatic overwrites of this location's quantities.")
    reports_fulfillable = models.BooleanField(
        default=False,
        help_text="The remote (e.g. OSA) reports Fulfillable stock, already net of its own commitments: available = the "
        "remote's figure − the hub's commitments the remote has not counted yet. Set by the connector.")
    preserve_bundles = models.BooleanField(default=False, help_text="Ship bundles as one SKU instead of expanding to components.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], condition=~Q(external_id=""), name="uniq_location_external"),
        ]

    def __str__(self) -> str:
        return self.name


class LocationLink(models.Model):
    """Links a location of one integration to one of another (an OSA location to a TikTok warehouse)."""

    source = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="links_out",
                               help_text="The location that holds stock (e.g. the OSA warehouse).")
    target = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="links_in",
                               help_text="The location it feeds (e.g. the TikTok warehouse).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "target"], name="uniq_location_link")]

    def __str__(self) -> str:
        return f"{self.source} → {self.target}"


class InventoryLevel(models.Model):
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="inventory_levels")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="inventory_levels")
    on_hand = models.IntegerField(default=0)
    committed = models.IntegerField(default=0)
    available = models.IntegerField(default=0)
    fulfillable = models.IntegerField(default=0)
    inbound = models.IntegerField(default=0)
    unavailable = models.IntegerField(default=0)
    # Locations that report Fulfillable: when the remote's figure was taken (hub clock at the start of the read),
    # and the hub's commitments that figure does not include (not yet acknowledged by the remote at that time).
    fulfillable_at = models.DateTimeField(null=True, blank=True)
    committed_unseen = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "location"], name="uniq_inventory_level")]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.location}: {self.available}"


class InventoryCommitment(models.Model):
    """Units the hub committed at a location for one reference (a shipping request), and when the remote
    acknowledged it (null: not yet). A commitment acknowledged after the remote's last figure was taken is not in
    that figure, so it still counts against it (InventoryLevel.committed_unseen). Rows already counted in the
    latest figure are deleted when the figure arrives."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="commitments")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="inventory_commitments")
    reference = models.CharField(max_length=120, blank=True)
    quantity = models.IntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["location", "product", "reference"], name="uniq_inventory_commitment")]
        indexes = [models.Index(fields=["reference"], name="inventory_commitment_ref_idx")]

    def __str__(self) -> str:
        return f"{self.reference} {self.product_id} @ {self.location_id}: {self.quantity}"


class InventoryLedgerEntry(models.Model):
    """Every change of a quantity, with its reason."""

    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="ledger_entries")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="ledger_entries")
    field = models.CharField(max_length=20)
    delta = models.IntegerField()
    quantity_after = models.IntegerField()
    reason = models.CharField(max_length=60)
    reference = models.CharField(max_length=120, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    sync_run = models.ForeignKey("integrations.SyncRun", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name_plural = "inventory ledger entries"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["product", "location", "-at"], name="ledger_product_idx")]


class Arrival(models.Model):
    """An inbound shipment or purchase order expected at a location."""

    class Kind(models.TextChoices):
        INBOUND = "inbound", "Inbound shipment"
        PURCHASE_ORDER = "po", "Purchase order"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        EXPECTED = "expected", "Expected"
        SENT = "sent", "Sent to 3PL"
        PARTIAL = "partial", "Partially received"
        RECEIVED = "received", "Received"
        CANCELED = "canceled", "Canceled"

    integration = models.ForeignKey("integrations.Integration", null=True, blank=True, on_delete=models.PROTECT, related_name="arrivals")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="arrivals")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INBOUND)
    reference = models.CharField(max_length=64, unique=True)
    external_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.EXPECTED, db_index=True)
    expected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.reference


class ArrivalLine(models.Model):
    arrival = models.ForeignKey(Arrival, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT)
    quantity_expected = models.PositiveIntegerField()
    quantity_received = models.PositiveIntegerField(default=0)


class Receipt(models.Model):
    """What a 3PL physically received."""

    integration = models.ForeignKey("integrations.Integration", on_delete=models.PROTECT, related_name="receipts")
    arrival = models.ForeignKey(Arrival, null=True, blank=True, on_delete=models.SET_NULL, related_name="receipts")
    external_id = models.CharField(max_length=64)
    received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="uniq_receipt")]


class ReceiptLine(models.Model):
    receipt = models.ForeignKey(Receipt, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", null=True, blank=True, on_delete=models.SET_NULL)
    sku = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField()


class ChannelInventoryPolicy(models.Model):
    """Per selling channel: units held back from what is published (safety buffer)."""

    integration = models.OneToOneField("integrations.Integration", on_delete=models.CASCADE, related_name="inventory_policy")
    buffer_units = models.PositiveIntegerField(default=0, help_text="Publish available minus this many units per SKU (never below 0).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "channel inventory policy"
        verbose_name_plural = "channel inventory policies"

    def __str__(self) -> str:
        return f"{self.integration}: buffer {self.buffer_units}"
