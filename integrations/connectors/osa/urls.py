"""OSA URLs: the emulator (sandbox) only; OSA has no webhooks in the assumed v1 contract."""

from django.urls import path

from integrations.connectors.osa import views
from integrations.sandbox.routing import sandbox_only

app_name = "osa"

_API = "sandbox/api/v1/"
urlpatterns = [
    sandbox_only([
        path(_API + "account", views.account, name="emu-account"),
        path(_API + "orders", views.orders, name="emu-orders"),
        path(_API + "orders/<str:order_id>/cancel", views.order_cancel, name="emu-order-cancel"),
        path(_API + "shipments", views.shipments, name="emu-shipments"),
        path(_API + "inventory", views.inventory, name="emu-inventory"),
        path(_API + "locations", views.locations, name="emu-locations"),
        path(_API + "products", views.products, name="emu-products"),
        path(_API + "products/<path:sku>", views.product, name="emu-product"),
        path(_API + "returns", views.returns, name="emu-returns"),
        path(_API + "arrivals", views.arrivals, name="emu-arrivals"),
        path(_API + "receipts", views.receipts, name="emu-receipts"),
    ]),
]
