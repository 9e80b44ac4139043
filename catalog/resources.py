"""django-import-export resources for products and Channel Options."""
from import_export import resources

from catalog.models import ChannelOption, Product


class ProductResource(resources.ModelResource):
    class Meta:
        model = Product
        import_id_fields = ("sku",)
        fields = ("sku", "kind", "name", "price", "compare_at_price", "barcode", "status")


class ChannelOptionResource(resources.ModelResource):
    class Meta:
        model = ChannelOption
        fields = ("id", "product", "integration", "channel_sku", "sync_enabled")
