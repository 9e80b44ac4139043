"""Inventory back office: locations and links, levels (manual edits ledgered, lock toggle), ledger, buffers.

Bulk import/export of locations, links and levels needs the declared ``integrations.import`` /
``integrations.export`` permissions ("Can import/export configurations and data"); inventory models declare none."""
from django.contrib import admin, messages
from import_export.admin import ImportExportMixin

from integrations.admin_config import ImportExportPermissionMixin
from inventory import services
from inventory.models import (
    Arrival, ArrivalLine, ChannelInventoryPolicy, InventoryLedgerEntry, InventoryLevel, Location, LocationLink,
)
from inventory.resources import InventoryLevelResource, LocationLinkResource, LocationResource


class InventoryImportExportPermissionMixin(ImportExportPermissionMixin):
    import_permission = "integrations.import"
    export_permission = "integrations.export"


class LinkOutInline(admin.TabularInline):
    model = LocationLink
    fk_name = "source"
    extra = 0
    raw_id_fields = ("target",)
    verbose_name_plural = "feeds these locations"


@admin.register(Location)
class LocationAdmin(InventoryImportExportPermissionMixin, ImportExportMixin, admin.ModelAdmin):
    resource_classes = [LocationResource]
    list_display = ("name", "code", "integration", "kind", "external_id", "is_default", "exclude_from_totals", "quantities_locked",
                    "reports_fulfillable", "preserve_bundles", "is_active")
    list_filter = ("integration", "kind", "quantities_locked", "exclude_from_totals", "is_active")
    search_fields = ("name", "code", "=external_id")
    list_select_related = ("integration",)
    raw_id_fields = ("integration",)
    inlines = (LinkOutInline,)
    actions = ("lock", "unlock")

    @admin.action(description="Lock quantities (stop automatic overwrites)", permissions=["change"])
    def lock(self, request, queryset):
        for loc in queryset:
            services.location_set_lock(location=loc, locked=True)
        messages.success(request, f"{queryset.count()} location(s) locked.")

    @admin.action(description="Unlock quantities", permissions=["change"])
    def unlock(self, request, queryset):
        for loc in queryset:
            services.location_set_lock(location=loc, locked=False)
        messages.success(request, f"{queryset.count()} location(s) unlocked.")


@admin.register(LocationLink)
class LocationLinkAdmin(InventoryImportExportPermissionMixin, ImportExportMixin, admin.ModelAdmin):
    resource_classes = [LocationLinkResource]
    list_display = ("source", "target", "created_at")
    list_select_related = ("source", "target")
    raw_id_fields = ("source", "target")
    search_fields = ("source__name", "target__name")


@admin.register(InventoryLevel)
class InventoryLevelAdmin(InventoryImportExportPermissionMixin, ImportExportMixin, admin.ModelAdmin):
    """on_hand is the only editable quantity; a save is a ledgered manual adjustment (allowed on locked locations)."""

    resource_classes = [InventoryLevelResource]
    list_display = ("product", "location", "on_hand", "committed", "available", "fulfillable", "inbound", "location_locked", "updated_at")
    list_filter = ("location", "location__quantities_locked")
    search_fields = ("=product__sku", "product__name")
    list_select_related = ("product", "location")
    show_full_result_count = False
    raw_id_fields = ("product", "location")
    readonly_fields = ("committed", "available", "fulfillable", "fulfillable_at", "committed_unseen", "inbound", "unavailable",
                       "updated_at")
    actions = ("lock_locations", "unlock_locations")

    @admin.display(boolean=True, description="locked")
    def location_locked(self, obj):
        return obj.location.quantities_locked

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("product", "location") if obj else ())

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            if obj.on_hand:
                on_hand, obj.on_hand = obj.on_hand, 0
                InventoryLevel.objects.filter(pk=obj.pk).update(on_hand=0, available=0)
                services.inventory_level_set_manual(level=obj, on_hand=on_hand, user=request.user)
            return
        services.inventory_level_set_manual(level=obj, on_hand=form.cleaned_data["on_hand"], user=request.user)

    @admin.action(description="Lock the locations of the selected levels", permissions=["change"])
    def lock_locations(self, request, queryset):
        for loc in Location.objects.filter(inventory_levels__in=queryset).distinct():
            services.location_set_lock(location=loc, locked=True)

    @admin.action(description="Unlock the locations of the selected levels", permissions=["change"])
    def unlock_locations(self, request, queryset):
        for loc in Location.objects.filter(inventory_levels__in=queryset).distinct():
            services.location_set_lock(location=loc, locked=False)


@admin.register(InventoryLedgerEntry)
class InventoryLedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "product", "location", "field", "delta", "quantity_after", "reason", "reference", "sync_run")
    list_filter = ("reason", "field", "location")
    search_fields = ("=product__sku", "=reference")
    list_select_related = ("product", "location", "sync_run")
    show_full_result_count = False
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChannelInventoryPolicy)
class ChannelInventoryPolicyAdmin(admin.ModelAdmin):
    list_display = ("integration", "buffer_units", "updated_at")
    list_select_related = ("integration",)
    raw_id_fields = ("integration",)


class ArrivalLineInline(admin.TabularInline):
    model = ArrivalLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Arrival)
class ArrivalAdmin(admin.ModelAdmin):
    list_display = ("reference", "kind", "location", "integration", "status", "expected_at")
    list_filter = ("status", "kind", "integration")
    search_fields = ("=reference", "=external_id")
    list_select_related = ("location", "integration")
    raw_id_fields = ("location", "integration")
    inlines = (ArrivalLineInline,)
