"""State of the OSA emulator (sandbox only): what a fake OSA account holds, so it survives across
requests and processes. Nothing here is used when talking to a real OSA."""

from django.db import models
from django.utils import timezone


class EmuAccount(models.Model):
    domain = models.CharField(max_length=120, unique=True)
    name = models.CharField(max_length=120, blank=True)
    api_key = models.CharField(max_length=120)
    api_secret = models.CharField(max_length=120)
    store_id = models.CharField(max_length=20, default="1042")
    # Seconds before an order moves Waiting → Success, and Success → Shipped (short in the demo).
    accept_delay_seconds = models.PositiveIntegerField(default=5)
    ship_delay_seconds = models.PositiveIntegerField(default=10)
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    window_started_at = models.DateTimeField(default=timezone.now)
    window_count = models.PositiveIntegerField(default=0)
    sequence = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "OSA emulator account"

    def __str__(self) -> str:
        return self.domain


class EmuLocation(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="locations")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=120)
    type = models.CharField(max_length=20, default="warehouse")
    address = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "code"], name="osa_emu_uniq_location")]


class EmuProduct(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "sku"], name="osa_emu_uniq_product")]


class EmuStock(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="stock")
    sku = models.CharField(max_length=100)
    location_code = models.CharField(max_length=64)
    on_hand = models.IntegerField(default=0)
    committed = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "sku", "location_code"], name="osa_emu_uniq_stock")]


class EmuOrder(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="orders")
    osa_id = models.CharField(max_length=40)
    reference = models.CharField(max_length=64)
    number = models.CharField(max_length=100)
    status = models.CharField(max_length=30, default="waiting")
    warehouse_code = models.CharField(max_length=64, blank=True)
    shipping_method = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(default=dict)
    cancel_reason = models.CharField(max_length=255, blank=True)
    # Emulator knobs: stay in Waiting forever; ship only this many units of each line first (partial).
    stuck_waiting = models.BooleanField(default=False)
    partial_first = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "reference"], name="osa_emu_uniq_order_ref")]


class EmuShipment(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="shipments")
    osa_id = models.CharField(max_length=40)
    order = models.ForeignKey(EmuOrder, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=60)
    service = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=60)
    lines = models.JSONField(default=list)
    shipped_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)


class EmuReturn(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="returns")
    osa_id = models.CharField(max_length=40)
    reference = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=30, default="awaiting_arrival")
    received = models.JSONField(default=dict, blank=True)  # {sku: qty}
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "reference"], name="osa_emu_uniq_return_ref")]


class EmuArrival(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="arrivals")
    osa_id = models.CharField(max_length=40)
    reference = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=30, default="awaiting")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "reference"], name="osa_emu_uniq_arrival_ref")]


class EmuReceipt(models.Model):
    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="receipts")
    osa_id = models.CharField(max_length=40)
    arrival = models.ForeignKey(EmuArrival, on_delete=models.CASCADE, related_name="receipts")
    lines = models.JSONField(default=list)
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
