"""Acumatica emulator's state (sandbox only: a fake Acumatica instance, nothing here is used when talking to a real
one). OAuth states and the token-refresh lease are the generic `integrations.OAuthState` /
`integrations.TokenRefreshLease`."""
from __future__ import annotations

from django.db import models
from django.utils import timezone


class EmuInstance(models.Model):
    """A fake Acumatica tenant: its connected application and its progression speed."""

    name = models.CharField(max_length=60, unique=True)
    client_id = models.CharField(max_length=120, unique=True)
    client_secret = models.CharField(max_length=120)
    # Seconds after creation before the emulator creates a shipment for an open sales order, then confirms it.
    ship_delay_seconds = models.PositiveIntegerField(default=10)
    # CancelSalesOrder answers 202 this many times before it completes.
    action_polls = models.PositiveIntegerField(default=1)
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    window_started_at = models.DateTimeField(default=timezone.now)
    window_count = models.PositiveIntegerField(default=0)
    sequence = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "Acumatica emulator instance"

    def __str__(self) -> str:
        return self.name


class EmuGrant(models.Model):
    """Authorization codes and tokens issued by the emulator's identity server."""

    instance = models.ForeignKey(EmuInstance, on_delete=models.CASCADE, related_name="grants")
    kind = models.CharField(max_length=10)  # code | access | refresh
    value = models.CharField(max_length=80, unique=True)
    redirect_uri = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)


class EmuRecord(models.Model):
    """One entity record (SalesOrder, Shipment, StockItem, Warehouse, Customer, ShipVia, PaymentMethod, Action)
    as the contract-based API shows it, unwrapped (plain values; the views wrap them in {"value": …})."""

    instance = models.ForeignKey(EmuInstance, on_delete=models.CASCADE, related_name="records")
    entity = models.CharField(max_length=40)
    key = models.CharField(max_length=120)
    guid = models.CharField(max_length=36, unique=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "entity", "key"], name="acu_emu_uniq_record")]
