"""django-import-export resources for locations, links and inventory levels."""
from import_export import resources

from inventory.models import InventoryLevel, Location, LocationLink


class LocationResource(resources.ModelResource):
    class Meta:
        model = Location
        import_id_fields = ("code",)
        fields = ("code", "name", "kind", "exclude_from_totals", "quantities_locked", "preserve_bundles")


class LocationLinkResource(resources.ModelResource):
    class Meta:
        model = LocationLink
        fields = ("id", "source", "target")


class InventoryLevelResource(resources.ModelResource):
    class Meta:
        model = InventoryLevel
        fields = ("id", "product", "location", "on_hand")
