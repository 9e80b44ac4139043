"""TikTok connector state: OAuth `state` values, received webhooks, the token-refresh lease."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class OAuthState(models.Model):
    """One authorization attempt: single-use, bound to the user and the integration, expiring.
    Only a SHA-256 of the state travels back to the database lookup; the raw value is never stored."""

    state_hash = models.CharField(max_length=64, unique=True)
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="tiktok_oauth_states")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "TikTok OAuth state"

    def __str__(self) -> str:
        return f"OAuth state for {self.integration_id} ({'used' if self.used_at else 'open'})"


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


class TokenRefreshLease(models.Model):
    """The row a token refresh locks (`select_for_update`) for the length of the refresh call, so only one
    refresh per integration is ever in flight (tokens.token_refresh)."""

    integration = models.OneToOneField("integrations.Integration", on_delete=models.CASCADE, related_name="tiktok_refresh_lease")

    def __str__(self) -> str:
        return f"refresh lock {self.integration_id}"
