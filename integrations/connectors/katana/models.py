"""Katana emulator's store (sandbox only). OAuth states and the token-refresh lease are the generic
`integrations.OAuthState` / `integrations.TokenRefreshLease`."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class EmuAccount(models.Model):
    """An emulated Katana account (sandbox)."""

    name = models.CharField(max_length=120, unique=True)
    api_key = models.CharField(max_length=120, unique=True)
    oauth_client_id = models.CharField(max_length=120, blank=True)
    oauth_client_secret = models.CharField(max_length=120, blank=True)
    rate_limit = models.PositiveIntegerField(default=60)
    window_started_at = models.DateTimeField(default=timezone.now)
    window_count = models.PositiveIntegerField(default=0)
    # Seconds after creation when a NOT_SHIPPED sales order is packed and delivered with tracking (0: never).
    deliver_after_seconds = models.PositiveIntegerField(default=0)
    webhook_url = models.CharField(max_length=300, blank=True)
    webhook_token = models.CharField(max_length=120, blank=True)
    sequence = models.PositiveIntegerField(default=1000)

    class Meta:
        verbose_name = "Katana emulator account"

    def __str__(self) -> str:
        return self.name


class EmuObject(models.Model):
    """One Katana object of the emulator, as Katana's API shows it (`data`), keyed by kind and id."""

    account = models.ForeignKey(EmuAccount, on_delete=models.CASCADE, related_name="emu_objects")
    kind = models.CharField(max_length=40)  # sales_order, fulfillment, customer, product, variant, location, inventory, token
    key = models.CharField(max_length=120)
    data = models.JSONField(default=dict)
    deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "kind", "key"], name="katana_emu_uniq_object")]
        verbose_name = "Katana emulator object"

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
