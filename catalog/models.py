"""Products with a master SKU, variants, bundles, and per-integration Channel Options."""
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.sku import sku_normalize


class Product(models.Model):
    class Kind(models.TextChoices):
        SIMPLE = "simple", "Simple"
        PARENT = "parent", "Parent (has variants)"
        VARIANT = "variant", "Variant"
        BUNDLE = "bundle", "Bundle"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        DRAFT = "draft", "Draft"
        ARCHIVED = "archived", "Archived"

    sku = models.CharField("master SKU", max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SIMPLE, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=255)
    description_html = models.TextField("description (HTML)", blank=True)
    brand = models.CharField(max_length=120, blank=True)
    category = models.CharField(max_length=120, blank=True, help_text="Channel category id or path, e.g. a TikTok category id.")
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    compare_at_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    weight = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    weight_unit = models.CharField(max_length=10, default="lb", choices=[("lb", "lb"), ("oz", "oz"), ("kg", "kg"), ("g", "g")])
    length = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    width = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    height = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    dimension_unit = models.CharField(max_length=10, default="in", choices=[("in", "in"), ("cm", "cm")])
    images = models.JSONField(default=list, blank=True, help_text="Image URLs, first is the main image.")
    barcode = models.CharField(max_length=64, blank=True, db_index=True)
    # {"is_hazmat": bool, "un_number": str, "hazard_class": str, "packing_group": str}
    hazmat = models.JSONField(default=dict, blank=True)
    variant_options = models.JSONField(default=dict, blank=True, help_text='e.g. {"color": "Red", "size": "M"}')
    custom_fields = models.JSONField(default=dict, blank=True)
    is_pre_owned = models.BooleanField(default=False, help_text="Pre-owned listings are deactivated when sold instead of set to 0.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["sku"]
        permissions = [("import", "Can import products"), ("export", "Can export products")]
        # Look-alike SKUs: the normalised SKU is unique whatever its letter case (catalog/sku.py).
        constraints = [models.UniqueConstraint(Lower("sku"), name="uniq_product_sku_ci")]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"

    def save(self, *args, **kwargs):
        self.sku = sku_normalize(self.sku)
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None):
        self.sku = sku_normalize(self.sku)
        super().clean_fields(exclude=exclude)

    def validate_unique(self, exclude=None):
        super().validate_unique(exclude=exclude)
        if exclude and "sku" in exclude:
            return
        same = Product.objects.filter(sku__iexact=self.sku).exclude(pk=self.pk).exclude(sku=self.sku).first()
        if same is not None:
            raise ValidationError({"sku": f"SKU {self.sku!r} differs only by letter case from existing SKU {same.sku!r}."})
        # The reverse of ChannelOption.validate_unique: this master SKU reaches every integration where the product
        # has no channel SKU, so it must not equal (whatever the letter case) another product's channel SKU there.
        own = ChannelOption.objects.filter(product_id=self.pk, integration_id=models.OuterRef("integration_id")).exclude(channel_sku="")
        taken = (ChannelOption.objects.filter(channel_sku__iexact=self.sku).exclude(product_id=self.pk)
                 .exclude(models.Exists(own)).select_related("product", "integration").first())
        if taken is not None:
            raise ValidationError({"sku": master_sku_channel_message(self.sku, taken.channel_sku, taken.product.sku, taken.integration)})

    def validate_constraints(self, exclude=None):
        # uniq_product_sku_ci is checked by validate_unique (a message naming the existing SKU) and, for
        # imports, against the prefetched rows; the database enforces it in every case.
        super().validate_constraints(exclude=set(exclude or ()) | {"sku"})

    def clean(self):
        if not self.sku:
            raise ValidationError({"sku": "The SKU is empty (once invisible and control characters are removed)."})
        if self.parent_id and self.parent_id == self.pk:
            raise ValidationError({"parent": "A product cannot be its own parent."})
        if self.kind == self.Kind.VARIANT and not self.parent_id:
            raise ValidationError({"parent": "A variant needs a parent product."})
        if self.price is not None and self.compare_at_price is not None and self.compare_at_price < 0:
            raise ValidationError({"compare_at_price": "Must not be negative."})


class BundleComponent(models.Model):
    bundle = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="components")
    component = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="in_bundles")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bundle", "component"], name="uniq_bundle_component")]

    def __str__(self) -> str:
        return f"{self.bundle.sku} ⊃ {self.quantity} × {self.component.sku}"

    def clean(self):
        if self.bundle_id and self.bundle_id == self.component_id:
            raise ValidationError("A bundle cannot contain itself.")


def channel_sku_taken_message(wanted: str, existing: str, product_sku: str, integration) -> str:
    if wanted == existing:
        return f"Channel SKU {wanted!r} is already used by product {product_sku} on {integration}."
    return (f"Channel SKU {wanted!r} differs only by letter case from channel SKU {existing!r} (product {product_sku}) "
            f"on {integration}; channel SKUs are matched exactly, so look-alikes are refused.")


def master_sku_channel_message(wanted: str, channel_sku: str, product_sku: str, integration) -> str:
    same = "is" if wanted == channel_sku else "differs only by letter case from"
    return (f"SKU {wanted!r} {same} the channel SKU {channel_sku!r} of product {product_sku} on {integration}: both would "
            f"reach it as look-alike SKUs. Choose another SKU, or give this product a channel SKU on {integration} first.")


def channel_sku_master_message(wanted: str, master_sku: str, integration) -> str:
    same = "is" if wanted == master_sku else "differs only by letter case from"
    return (f"Channel SKU {wanted!r} {same} the master SKU of product {master_sku}, which has no channel SKU on "
            f"{integration}: both would reach it as look-alike SKUs. Give that product a channel SKU first, or choose another.")


class ChannelOption(models.Model):
    """The "Channel Options" row of a product for one integration."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="channel_options")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="channel_options")
    channel_sku = models.CharField("Channel SKU", max_length=100, blank=True)
    sync_enabled = models.BooleanField("channel sync enabled", default=True, help_text="Enable/disable channel sync for this item.")
    remote_product_id = models.CharField(max_length=64, blank=True, db_index=True)
    remote_sku_id = models.CharField(max_length=64, blank=True, db_index=True)
    listing_status = models.CharField(max_length=40, blank=True)
    last_pushed_fingerprint = models.CharField(max_length=64, blank=True)
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    # [{"field": "images", "message": "at least one image is required"}]
    readiness_problems = models.JSONField(default=list, blank=True)
    # Remote warehouses the SKU is stocked in (TikTok requires every one on an inventory update).
    remote_warehouse_ids = models.JSONField(default=list, blank=True)
    # {warehouse_id: quantity} last sent, so only changes go out and increases can wait for a window.
    last_pushed_inventory = models.JSONField(default=dict, blank=True)
    # Derived attribute values: {attribute name: {"value": str, "value_id": str, "source": "rules" | "llm"}}.
    derived_attributes = models.JSONField(default=dict, blank=True)
    attributes_source = models.CharField(max_length=20, blank=True,
                                         help_text="Which deriver filled missing attributes: rules or llm.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "channel option"
        constraints = [
            models.UniqueConstraint(fields=["product", "integration"], name="uniq_channel_option"),
            models.UniqueConstraint(fields=["integration", "channel_sku"], condition=~Q(channel_sku=""), name="uniq_channel_sku"),
            # Look-alike channel SKUs: unique on an integration whatever their letter case (catalog/sku.py).
            models.UniqueConstraint(models.F("integration"), Lower("channel_sku"), condition=~Q(channel_sku=""),
                                    name="uniq_channel_sku_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.integration}"

    @property
    def effective_sku(self) -> str:
        return self.channel_sku or self.product.sku

    def clean_fields(self, exclude=None):
        self.channel_sku = sku_normalize(self.channel_sku)
        super().clean_fields(exclude=exclude)

    def save(self, *args, **kwargs):
        self.channel_sku = sku_normalize(self.channel_sku)
        super().save(*args, **kwargs)

    def validate_unique(self, exclude=None):
        super().validate_unique(exclude=exclude)
        if (exclude and "channel_sku" in exclude) or not self.channel_sku or not self.integration_id:
            return
        same = (ChannelOption.objects.filter(integration_id=self.integration_id, channel_sku__iexact=self.channel_sku)
                .exclude(pk=self.pk).select_related("product").first())
        if same is not None:
            message = channel_sku_taken_message(self.channel_sku, same.channel_sku, same.product.sku, self.integration)
            raise ValidationError({"channel_sku": message})
        # Another product sent to this integration under its master SKU (no channel SKU there) would collide.
        overridden = ChannelOption.objects.filter(product=models.OuterRef("pk"), integration_id=self.integration_id).exclude(channel_sku="")
        master = (Product.objects.filter(sku__iexact=self.channel_sku).exclude(pk=self.product_id)
                  .exclude(models.Exists(overridden)).first())
        if master is not None:
            raise ValidationError({"channel_sku": channel_sku_master_message(self.channel_sku, master.sku, self.integration)})

    def validate_constraints(self, exclude=None):
        # uniq_channel_sku(_ci) are checked by validate_unique (a message naming the product holding the SKU)
        # and, for paths that skip validation (connectors, bulk writes), by the database.
        super().validate_constraints(exclude=set(exclude or ()) | {"channel_sku"})

    def clean(self):
        if not self.channel_sku:
            return
        if self.integration_id and not self.integration.spec.supports_channel_sku:
            raise ValidationError({"channel_sku": f"{self.integration.spec.label} has no Channel SKU: its SKUs must equal the master SKU."})
        if self.product_id and self.product.kind == Product.Kind.PARENT:
            has_child_skus = ChannelOption.objects.filter(product__parent=self.product, integration=self.integration).exclude(channel_sku="").exists()
            if not has_child_skus:
                raise ValidationError({"channel_sku": "Set channel SKUs on the variants, not on a parent product."})
