"""Catalog admin: products with their Channel Options and bundle components, import/export, and
the "Export Incomplete Products" CSV."""
import csv

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.html import format_html
from import_export.admin import ImportExportMixin

from catalog.models import BundleComponent, ChannelOption, Product
from catalog.resources import ChannelOptionResource, ProductResource
from integrations.admin_config import ImportExportPermissionMixin
from integrations.spreadsheets import row_escape


class ChannelOptionInline(admin.TabularInline):
    model = ChannelOption
    extra = 0
    fields = ["integration", "channel_sku", "sync_enabled", "remote_product_id", "remote_sku_id", "listing_status",
              "readiness", "last_pushed_at"]
    readonly_fields = ["remote_product_id", "remote_sku_id", "listing_status", "readiness", "last_pushed_at"]
    raw_id_fields = ["integration"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("integration")

    @admin.display(description="readiness problems")
    def readiness(self, obj):
        if not obj.readiness_problems:
            return "Ready"
        return "; ".join(f"{p.get('field', '')}: {p.get('message', '')}" for p in obj.readiness_problems)


class BundleComponentInline(admin.TabularInline):
    model = BundleComponent
    fk_name = "bundle"
    extra = 0
    raw_id_fields = ["component"]


class _Echo:
    def write(self, value):
        return value


def incomplete_products_rows(queryset):
    """CSV rows: one per (product, integration) with readiness problems; memory flat."""
    yield ["sku", "name", "integration", "problems"]
    options = (ChannelOption.objects.filter(product__in=queryset).select_related("product", "integration")
               .only("readiness_problems", "product__sku", "product__name", "integration__name")
               .order_by("product__sku", "integration__name"))
    for option in options.iterator(chunk_size=500):
        if option.readiness_problems:
            problems = [f"{p.get('field', '')}: {p.get('message', '')}" for p in option.readiness_problems]
            yield [option.product.sku, option.product.name, option.integration.name, *problems]


@admin.register(Product)
class ProductAdmin(ImportExportPermissionMixin, ImportExportMixin, admin.ModelAdmin):
    resource_classes = [ProductResource]
    list_display = ["sku", "name", "kind", "status", "price", "currency", "barcode", "parent", "updated_at"]
    list_filter = ["kind", "status", "channel_options__integration"]
    list_select_related = ["parent"]
    search_fields = ["=sku", "=barcode", "name", "=channel_options__channel_sku"]
    raw_id_fields = ["parent"]
    readonly_fields = ["variants_link", "created_at", "updated_at"]
    inlines = [ChannelOptionInline, BundleComponentInline]
    show_full_result_count = False
    actions = ["export_incomplete_products"]

    @admin.display(description="variants")
    def variants_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:catalog_product_changelist") + f"?parent__id__exact={obj.pk}"
        return format_html('<a href="{}">{} variant(s)</a>', url, obj.variants.count())

    @admin.action(description="Export Incomplete Products (CSV)", permissions=["export"])
    def export_incomplete_products(self, request, queryset):
        """Needs the export permission (``catalog.export``) like every other export; cells escaped."""
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse((writer.writerow(row_escape(row)) for row in incomplete_products_rows(queryset)),
                                         content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="incomplete-products.csv"'
        return response


@admin.register(ChannelOption)
class ChannelOptionAdmin(ImportExportPermissionMixin, ImportExportMixin, admin.ModelAdmin):
    resource_classes = [ChannelOptionResource]
    list_display = ["product", "integration", "channel_sku", "sync_enabled", "remote_product_id", "remote_sku_id",
                    "listing_status", "last_pushed_at"]
    list_filter = ["integration", "sync_enabled", "listing_status"]
    list_select_related = ["product", "integration"]
    search_fields = ["=channel_sku", "=product__sku", "=remote_product_id", "=remote_sku_id"]
    raw_id_fields = ["product", "integration"]
    show_full_result_count = False


@admin.register(BundleComponent)
class BundleComponentAdmin(admin.ModelAdmin):
    list_display = ["bundle", "component", "quantity"]
    list_select_related = ["bundle", "component"]
    search_fields = ["=bundle__sku", "=component__sku"]
    raw_id_fields = ["bundle", "component"]
