"""django-import-export resources for locations, location links and inventory levels.

Natural keys: Location by ``code``, links by (source code, target code), levels by (product sku, location
code). Remote ids (``external_id``) are never exported or imported. Inventory levels are written through
``inventory.services.inventory_levels_set`` so every change has its ledger entry (reason "import")."""
from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import ValidationError
from import_export import fields, widgets

from catalog.models import Product
from catalog.sku import sku_normalize
from integrations.resources import BulkModelResource, CachedForeignKeyWidget, _chunks, integration_widget
from inventory.models import InventoryLevel, Location, LocationLink

LEVEL_FIELDS = ("on_hand", "fulfillable", "inbound", "unavailable")


def location_widget() -> CachedForeignKeyWidget:
    return CachedForeignKeyWidget(Location, "code", "location with code")


class LocationResource(BulkModelResource):
    integration = fields.Field(attribute="integration", column_name="integration", widget=integration_widget())

    class Meta(BulkModelResource.Meta):
        model = Location
        import_id_fields = ("code",)
        fields = ("code", "name", "kind", "integration", "is_default", "exclude_from_totals", "quantities_locked",
                  "preserve_bundles", "is_active")

    def export_queryset(self, queryset):
        return queryset.select_related("integration").order_by("code")

    def row_key(self, row) -> tuple:
        return (str(row.get("code") or "").strip(),)

    def load_existing(self, dataset) -> dict:
        codes = sorted({str(v).strip() for v in dataset["code"] if v not in (None, "")}) if "code" in dataset.headers else []
        existing = {}
        for chunk in _chunks(codes):
            for location in Location.objects.filter(code__in=chunk):
                existing[(location.code,)] = location
        return existing


class LocationLinkResource(BulkModelResource):
    source = fields.Field(attribute="source", column_name="source", widget=location_widget())
    target = fields.Field(attribute="target", column_name="target", widget=location_widget())

    class Meta(BulkModelResource.Meta):
        model = LocationLink
        import_id_fields = ("source", "target")
        fields = ("source", "target")

    def export_queryset(self, queryset):
        return queryset.select_related("source", "target").order_by("source__code", "target__code")

    def load_existing(self, dataset) -> dict:
        ids = [loc.pk for loc in (self.fields["source"].widget.cache or {}).values()]
        return {(link.source_id, link.target_id): link
                for chunk in _chunks(ids) for link in LocationLink.objects.filter(source_id__in=chunk)}

    def check_unique(self, instance) -> None:
        if instance.source_id == instance.target_id:
            raise ValidationError({"target": "a location cannot be linked to itself"})
        super().check_unique(instance)

    def get_bulk_update_fields(self):
        return []

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        self.update_instances.clear()  # a link has nothing to update


class InventoryLevelResource(BulkModelResource):
    product = fields.Field(attribute="product", column_name="product",
                           widget=CachedForeignKeyWidget(Product, "sku", "product with SKU"))
    location = fields.Field(attribute="location", column_name="location", widget=location_widget())
    committed = fields.Field(attribute="committed", column_name="committed", readonly=True, widget=widgets.IntegerWidget())
    available = fields.Field(attribute="available", column_name="available", readonly=True, widget=widgets.IntegerWidget())

    column_cleaners = {"product": sku_normalize}

    class Meta(BulkModelResource.Meta):
        model = InventoryLevel
        import_id_fields = ("product", "location")
        fields = ("product", "location", *LEVEL_FIELDS, "committed", "available")

    def export_queryset(self, queryset):
        return queryset.select_related("product", "location").order_by("location__code", "product__sku")

    def load_existing(self, dataset) -> dict:
        products = [p.pk for p in (self.fields["product"].widget.cache or {}).values()]
        locations = [loc.pk for loc in (self.fields["location"].widget.cache or {}).values()]
        return {(lv.product_id, lv.location_id): lv for chunk in _chunks(products)
                for lv in InventoryLevel.objects.filter(product_id__in=chunk, location_id__in=locations)}

    def check_unique(self, instance) -> None:
        bad = [f for f in LEVEL_FIELDS if getattr(instance, f) is None or getattr(instance, f) < 0]
        if bad:
            raise ValidationError({f: "must be a whole number ≥ 0" for f in bad})
        if instance.location.quantities_locked:
            raise ValidationError({"location": f"{instance.location.code} has its quantities locked"})
        super().check_unique(instance)

    def _write(self, instances) -> None:
        from inventory.services import inventory_levels_lock, inventory_levels_set

        by_location: dict = defaultdict(dict)
        locations = {}
        for level in instances:
            locations[level.location_id] = level.location
            by_location[level.location_id][level.product.sku] = {f: getattr(level, f) for f in self._present}
        # Several locations in one import transaction: lock all their levels first, in the global (level id) order.
        inventory_levels_lock(pairs=[(level.location_id, level.product_id) for level in instances])
        for location_id, quantities in by_location.items():
            inventory_levels_set(location=locations[location_id], quantities=quantities, reason="import")

    def before_import(self, dataset, **kwargs):
        self._present = [f for f in LEVEL_FIELDS if f in (dataset.headers or [])]
        super().before_import(dataset, **kwargs)

    def write_creates(self, instances) -> None:
        self._write(instances)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if batch_size is not None:
            return
        if not self._failed(result) and self.update_instances and (using_transactions or not dry_run):
            try:
                self._write(self.update_instances)
            except Exception as exc:  # noqa: BLE001
                self.handle_import_error(result, exc, raise_errors)
        self.update_instances.clear()
