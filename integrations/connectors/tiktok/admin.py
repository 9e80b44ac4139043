"""Read-only admin views of TikTok webhook deliveries (no secrets stored there)."""
from django.contrib import admin

from integrations.connectors.tiktok.models import WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "type", "shop_id", "integration", "status", "tts_notification_id", "note")
    list_filter = ("status", "type")
    search_fields = ("tts_notification_id", "shop_id")
    list_select_related = ("integration",)
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
