"""Katana MRP connector (Katana Cloud Inventory public API, reference downstream_apis.md §1): TikTok orders become
Katana sales orders, deliveries come back as fulfillments, Katana products and stock flow into the catalog and to
TikTok. See README.md."""

from datetime import timedelta

from django.conf import settings as django_settings

from integrations import registry as r
from integrations.connectors.katana import settings as s

_F = "integrations.connectors.katana.flows."

FLOWS = (
    r.FlowSpec("push_orders", "Push orders to Katana", "push", "orders", _F + "orders.PushSalesOrders",
               default_interval=timedelta(minutes=5), enable_setting="push_orders"),
    r.FlowSpec("cancel_orders", "Cancel sales orders in Katana", "push", "orders", _F + "orders.CancelSalesOrders",
               default_interval=timedelta(minutes=5), enable_setting="push_orders"),
    r.FlowSpec("pull_fulfillments", "Pull fulfillments from Katana", "pull", "fulfillments",
               _F + "fulfillments.PullFulfillments", default_interval=timedelta(minutes=15),
               enable_setting="pull_fulfillments", target_param="sales_order_ids"),
    r.FlowSpec("pull_products", "Pull products from Katana", "pull", "products", _F + "catalog.PullProducts",
               default_interval=timedelta(hours=1), enable_setting="pull_products"),
    r.FlowSpec("pull_locations", "Pull locations from Katana", "pull", "locations", _F + "inventory.PullLocations",
               default_interval=timedelta(hours=6), enable_setting="pull_inventory"),
    r.FlowSpec("pull_inventory", "Pull inventory changes from Katana", "pull", "inventory", _F + "inventory.PullInventory",
               default_interval=timedelta(minutes=15), enable_setting="pull_inventory", target_param="variant_ids"),
    r.FlowSpec("push_fbt_orders", "Push Fulfilled by TikTok orders to Katana as Done sales orders", "push", "orders",
               _F + "orders.PushFbtOrders", default_interval=timedelta(minutes=15), enable_setting="push_fbt_orders"),
)

SPEC = r.ConnectorSpec(
    code="katana",
    label="Katana MRP",
    role=r.FULFILLMENT,
    sections=s.SECTIONS,
    settings=s.SETTINGS,
    credentials=s.CREDENTIALS,
    flows=FLOWS,
    environments=s.ENVIRONMENTS if django_settings.SANDBOX_ENABLED else s.ENVIRONMENTS[:1],
    supports_channel_sku=True,
    connection_tester="integrations.connectors.katana.connection.katana_connection_test",
    readme="integrations/connectors/katana/README.md",
    extra={"admin_links": (("Connect with Katana (OAuth)", "integrations:katana:connect"),)},
)
