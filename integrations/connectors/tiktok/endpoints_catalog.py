"""Client methods for products, inventory, warehouses, returns/refunds and finance.
TikTokClient (client.py) inherits this mixin; methods call `self.api(...)`."""


class CatalogEndpoints:
    pass
