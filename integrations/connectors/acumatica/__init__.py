"""Acumatica ERP connector (fulfillment mode) on the contract-based REST API: see README.md."""

from datetime import timedelta

from integrations import registry as r
from integrations.connectors.acumatica import settings as s

_F = "integrations.connectors.acumatica.flows."

FLOWS = (
    r.FlowSpec("push_orders", "Push orders to Acumatica", "push", "orders", _F + "orders.PushSalesOrders",
               default_interval=timedelta(minutes=5), enable_setting="push_orders"),
    r.FlowSpec("cancel_orders", "Push canceled orders to Acumatica", "push", "orders", _F + "orders.CancelSalesOrders",
               default_interval=timedelta(minutes=5), enable_setting="push_canceled_orders"),
    r.FlowSpec("push_refunds", "Allow push refund orders to Acumatica", "push", "refunds", _F + "orders.PushRefunds",
               default_interval=timedelta(minutes=30), enable_setting="push_refunds"),
    r.FlowSpec("pull_shipping_requests", "Pull shipping requests from Acumatica", "pull", "shipping_requests",
               _F + "shipments.PullShippingRequests", default_interval=timedelta(minutes=10),
               enable_setting="pull_shipping_requests"),
    r.FlowSpec("pull_fulfillments", "Pull fulfillments from Acumatica", "pull", "fulfillments",
               _F + "shipments.PullFulfillments", default_interval=timedelta(minutes=10), enable_setting="pull_fulfillments"),
    r.FlowSpec("pull_products", "Pull product catalog information from Acumatica", "pull", "products",
               _F + "catalog.PullProducts", default_interval=timedelta(hours=1), enable_setting="pull_products"),
    r.FlowSpec("pull_inventory", "Pull inventory updates from Acumatica", "pull", "inventory", _F + "catalog.PullInventory",
               default_interval=timedelta(hours=1), enable_setting="inventory_direction", enable_value=s.INVENTORY_PULL),
    r.FlowSpec("push_inventory", "Push inventory updates to Acumatica", "push", "inventory", _F + "catalog.PushInventory",
               default_interval=timedelta(hours=1), enable_setting="inventory_direction", enable_value=s.INVENTORY_PUSH),
    r.FlowSpec("pull_locations", "Pull locations from Acumatica", "pull", "locations", _F + "catalog.PullLocations",
               default_interval=timedelta(hours=6), enable_setting="locations_direction", enable_value=s.LOCATIONS_PULL),
    r.FlowSpec("push_locations", "Push locations to Acumatica", "push", "locations", _F + "catalog.PushLocations",
               default_interval=timedelta(hours=6), enable_setting="locations_direction", enable_value=s.LOCATIONS_PUSH),
)

SPEC = r.ConnectorSpec(
    code="acumatica",
    label="Acumatica",
    role=r.FULFILLMENT,
    sections=s.SECTIONS,
    settings=s.SETTINGS,
    credentials=s.CREDENTIALS,
    flows=FLOWS,
    supports_channel_sku=True,
    connection_tester="integrations.connectors.acumatica.connection.connection_test",
    mapping_kinds=("shipping_method", "payment_method"),
    readme="integrations/connectors/acumatica/README.md",
    extra={
        "admin_links": (("Connect to Acumatica", "integrations:acumatica:connect"),),
        "mapping_targets": "integrations.connectors.acumatica.backoffice.mapping_targets",
        "mapping_help": {
            "shipping_method": "Target: an Acumatica Ship Via code exactly as in Ship Via Codes (CS207500), e.g. UPSGROUND; "
                               "codes seen on this tenant's shipments and already mapped are suggested.",
            "payment_method": "Target: an Acumatica payment method ID (e.g. TTS); those already mapped are suggested.",
        },
    },
)
