"""TikTok Shop connector. One shop = one integration.

The declaration is assembled from two halves owned by different modules:
- settings_core / flows_core: connection, locations, orders, cancellations, fulfillments;
- settings_catalog / flows_catalog: products, inventory, returns, refunds, statements."""
from integrations import registry
from integrations.connectors.tiktok import flows_catalog, flows_core, settings_catalog, settings_core

SECTIONS = ("Locations", "Orders", "Fulfillments", "Products", "Inventory", "Returns", "Refunds", "Statements")

SPEC = registry.ConnectorSpec(
    code="tiktok",
    label="TikTok Shop",
    role=registry.CHANNEL,
    sections=SECTIONS,
    settings=settings_core.SETTINGS + settings_catalog.SETTINGS,
    credentials=settings_core.CREDENTIALS,
    flows=flows_core.FLOWS + flows_catalog.FLOWS,
    supports_channel_sku=False,
    connection_tester=settings_core.CONNECTION_TESTER,
    mapping_kinds=("carrier", "shipping_method", "payment_method", "order_type", "attribute", "sku"),
    readme="integrations/connectors/tiktok/README.md",
    environments=(("production", "Production"), ("sandbox", "Switchyard sandbox")),
    extra={
        "admin_links": [("Connect to TikTok", "integrations:tiktok:connect")],
        "order_url": "integrations.connectors.tiktok.backoffice.order_url",
        "mapping_targets": "integrations.connectors.tiktok.backoffice.mapping_targets",
        "mapping_help": {"carrier": "Shipping providers are suggested once Push fulfillments has read the shop's list "
                                    "for a delivery option; until then type the provider's name as TikTok shows it."},
    },
)
