"""TikTok connector state: received webhooks. OAuth states and the token-refresh lease are the generic
`integrations.OAuthState` / `integrations.TokenRefreshLease`."""
from __future__ import annotations

from django.db import models
from django.utils import timezone


class WebhookEvent(models.Model):
    """A TikTok webhook delivery, stored once per `tts_notification_id` (delivery is at-least-once)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        ENQUEUED = "enqueued", "Targeted run enqueued"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        UNROUTED = "unrouted", "No integration for this shop"

    tts_notification_id = models.CharField(max_length=64, unique=True)
    integration = models.ForeignKey("integrations.Integration", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="tiktok_webhook_events")
    shop_id = models.CharField(max_length=64, blank=True, db_index=True)
    type = models.PositiveIntegerField(db_index=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    note = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "TikTok webhook event"

    def __str__(self) -> str:
        return f"webhook {self.type} {self.tts_notification_id}"
