"""Emulated TikTok Shop state (sandbox). Kept in the database so the web process and the worker share it.

Nothing here is a domain record of Switchyard: these rows stand in for TikTok's own servers."""
from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone


class EmuApp(models.Model):
    """A Partner Center app: the key/secret pair the integration signs with."""

    app_key = models.CharField(max_length=64, unique=True)
    app_secret = models.CharField(max_length=128)
    service_id = models.CharField(max_length=64, blank=True)
    redirect_url = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return self.app_key


class EmuShop(models.Model):
    app = models.ForeignKey(EmuApp, on_delete=models.CASCADE, related_name="shops")
    shop_id = models.CharField(max_length=32, unique=True)
    cipher = models.CharField(max_length=64, unique=True)
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=120)
    region = models.CharField(max_length=8, default="US")
    seller_type = models.CharField(max_length=20, default="LOCAL")
    currency = models.CharField(max_length=3, default="USD")
    open_id = models.CharField(max_length=64)
    # Buyer-remorse window (TikTok: 1 hour); the demo shortens it.
    remorse_seconds = models.PositiveIntegerField(default=3600)
    # Seconds after payment... and after shipping before the carrier moves the order on.
    pay_after_seconds = models.PositiveIntegerField(default=5)
    transit_after_seconds = models.PositiveIntegerField(default=60)
    deliver_after_seconds = models.PositiveIntegerField(default=300)
    qps = models.PositiveIntegerField(default=50, help_text="Requests per second before HTTP 429 (36009002).")
    access_token_ttl = models.PositiveIntegerField(default=7 * 24 * 3600)
    refresh_token_ttl = models.PositiveIntegerField(default=365 * 24 * 3600)
    # Empty: the project's own TikTok webhook endpoint.
    webhook_url = models.CharField(max_length=255, blank=True)
    webhooks_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} ({self.region})"


class EmuAuthCode(models.Model):
    code = models.CharField(max_length=64, unique=True)
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)


class EmuToken(models.Model):
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE, related_name="tokens")
    access_token = models.CharField(max_length=96, unique=True)
    refresh_token = models.CharField(max_length=96, unique=True)
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)


class EmuWarehouse(models.Model):
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE, related_name="warehouses")
    warehouse_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    is_default = models.BooleanField(default=False)
    type = models.CharField(max_length=30, default="SALES_WAREHOUSE")
    address = models.JSONField(default=dict, blank=True)


class EmuProduct(models.Model):
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE, related_name="products")
    product_id = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=255)
    status = models.CharField(max_length=30, default="ACTIVATE")
    create_time = models.PositiveBigIntegerField()
    update_time = models.PositiveBigIntegerField()
    # Create Product's other fields (category_id, description, main_images, product_attributes, package_weight, ...),
    # its idempotency_key and when it went to audit (pending_since).
    data = models.JSONField(default=dict, blank=True)


class EmuSku(models.Model):
    product = models.ForeignKey(EmuProduct, on_delete=models.CASCADE, related_name="skus")
    sku_id = models.CharField(max_length=32, unique=True)
    seller_sku = models.CharField(max_length=120)
    name = models.CharField(max_length=120, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("10.00"))
    # {warehouse_id: quantity}
    inventory = models.JSONField(default=dict, blank=True)
    # Relative weight in generated orders.
    weight = models.PositiveIntegerField(default=1)
    # Virtual bundle (combined listing): [{"sku_id", "sku_count", "product_id", "seller_sku"}] of its components.
    combined = models.JSONField(default=list, blank=True)


class EmuOrder(models.Model):
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE, related_name="orders")
    order_id = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=30, db_index=True)
    create_time = models.PositiveBigIntegerField(db_index=True)
    update_time = models.PositiveBigIntegerField(db_index=True)
    paid_time = models.PositiveBigIntegerField(null=True, blank=True)
    # The rest of TikTok's order object (line_items, payment, recipient_address, ...).
    data = models.JSONField(default=dict)
    # Scheduled buyer/carrier events [[unix_time, action], ...] applied when the shop is next read.
    events = models.JSONField(default=list, blank=True)
    next_event_at = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    is_buyer_request_cancel = models.BooleanField(default=False)
    statement = models.ForeignKey("EmuStatement", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")

    class Meta:
        indexes = [models.Index(fields=["shop", "update_time"], name="emuorder_shop_upd_idx")]


class EmuPackage(models.Model):
    order = models.ForeignKey(EmuOrder, on_delete=models.CASCADE, related_name="packages")
    package_id = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=30, default="PROCESSING")
    tracking_number = models.CharField(max_length=64, blank=True)
    shipping_provider_id = models.CharField(max_length=32, blank=True)
    line_item_ids = models.JSONField(default=list)
    tracking_updates = models.PositiveIntegerField(default=0)
    create_time = models.PositiveBigIntegerField()
    update_time = models.PositiveBigIntegerField()


class EmuCancellation(models.Model):
    order = models.ForeignKey(EmuOrder, on_delete=models.CASCADE, related_name="cancellations")
    cancel_id = models.CharField(max_length=32, unique=True)
    role = models.CharField(max_length=10)
    cancel_type = models.CharField(max_length=20, default="CANCEL")
    status = models.CharField(max_length=40)
    reason = models.CharField(max_length=120)
    create_time = models.PositiveBigIntegerField()
    update_time = models.PositiveBigIntegerField()


class EmuReturn(models.Model):
    order = models.ForeignKey(EmuOrder, on_delete=models.CASCADE, related_name="returns")
    return_id = models.CharField(max_length=32, unique=True)
    return_type = models.CharField(max_length=30, default="RETURN_AND_REFUND")
    status = models.CharField(max_length=50)
    reason = models.CharField(max_length=120, default="ecom_order_delivered_refund_and_return_reason_wrong_item")
    line_item_ids = models.JSONField(default=list)
    refund_total = models.DecimalField(max_digits=12, decimal_places=2)
    create_time = models.PositiveBigIntegerField()
    update_time = models.PositiveBigIntegerField()


class EmuStatement(models.Model):
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE, related_name="statements")
    statement_id = models.CharField(max_length=32, unique=True)
    statement_time = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "statement_time"], name="uniq_emu_statement_day")]


class EmuWebhookSubscription(models.Model):
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE, related_name="subscriptions")
    event_type = models.CharField(max_length=60)
    address = models.CharField(max_length=255)
    create_time = models.PositiveBigIntegerField()
    update_time = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "event_type"], name="uniq_emu_webhook_sub")]


class EmuRateWindow(models.Model):
    """Requests counted per shop per second (shared by all processes)."""

    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE)
    second = models.PositiveBigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "second"], name="uniq_emu_rate_window")]


class EmuWebhookDelivery(models.Model):
    shop = models.ForeignKey(EmuShop, on_delete=models.CASCADE, related_name="deliveries")
    type = models.PositiveIntegerField()
    body = models.TextField()
    url = models.CharField(max_length=255)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
