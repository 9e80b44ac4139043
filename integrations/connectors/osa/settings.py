"""OSA UC3 settings, credentials and environments (labels verbatim from the article, "Switchyard"
where it says "Pipe17")."""

from integrations import registry as r

CONNECTION, SHIPPING, FULFILLMENTS, INVENTORY, PRODUCTS, LOCATIONS, RETURNS, INBOUND = (
    "Connection",
    "Shipping requests",
    "Fulfillments",
    "Inventory",
    "Products",
    "Locations",
    "Returns",
    "Arrivals and receipts",
)
SECTIONS = (CONNECTION, SHIPPING, FULFILLMENTS, INVENTORY, PRODUCTS, LOCATIONS, RETURNS, INBOUND)

# Environments: code → (label, default base URL). The base URLs are ASSUMED (OSA publishes none);
# "OSA base URL override" replaces them. "sandbox" is the local emulator (SANDBOX_ENABLED only).
PRODUCTION, STAGE, UAT, SANDBOX = "production", "stage", "uat", "sandbox"
BASE_URLS = {
    PRODUCTION: "https://uc3.osacommerce.com/api/v1",
    STAGE: "https://uc3-stage.osacommerce.com/api/v1",
    UAT: "https://uc3-uat.osacommerce.com/api/v1",
}
ENVIRONMENTS = ((PRODUCTION, "OSA Production"), (STAGE, "OSA Stage"), (UAT, "OSA UAT"), (SANDBOX, "Sandbox (local OSA emulator)"))
SPEC_ENVIRONMENTS = ((STAGE, "OSA Stage"), (UAT, "OSA UAT"), (PRODUCTION, "OSA Production"), (SANDBOX, "Sandbox (local OSA emulator)"))

# Values applied to the shipping request when OSA cancels it (orders core statuses).
CANCEL_STATUS_CHOICES = (
    ("reviewRequired", "Review required"),
    ("canceled", "Canceled"),
    ("canceledRestock", "Canceled Restock"),
    ("failed", "Failed"),
)
LOCATION_TYPE_WAREHOUSE, LOCATION_TYPE_MANAGED, LOCATION_TYPE_BOTH = "warehouse", "managed", "managed_and_warehouse"
LOCATION_TYPE_CHOICES = (
    (LOCATION_TYPE_WAREHOUSE, "OSA warehouse locations"),
    (LOCATION_TYPE_MANAGED, "OSA managed location only"),
    (LOCATION_TYPE_BOTH, "OSA managed location & warehouse locations"),
)

SETTINGS = (
    r.SettingSpec(
        "osa_environment",
        "Select OSA environment",
        CONNECTION,
        r.CHOICE,
        default="",
        choices=ENVIRONMENTS[:3],
        help="Connect to OSA Stage or OSA UAT first to test, then switch to OSA Production. Blank: the integration's "
        "Environment field (OSA Stage for a new integration); Sandbox there points at the local emulator.",
        portable=False,
    ),
    r.SettingSpec(
        "osa_base_url",
        "OSA base URL override",
        CONNECTION,
        r.URL,
        default="",
        help="Leave blank to use the selected environment's base URL.",
        portable=False,
    ),
    # Shipping requests
    r.SettingSpec(
        "push_shipping_requests",
        "Push shipping requests to OSA",
        SHIPPING,
        r.BOOL,
        default=False,
        help="Sends TikTok Shop orders routed to OSA for fulfillment. Warning: as soon as this is on, live orders "
        "are processed using your routing rules.",
    ),
    r.SettingSpec(
        "force_osa_managed_routing",
        "Force OSA managed routing",
        SHIPPING,
        r.BOOL,
        default=False,
        help="When on, OSA determines the fulfillment warehouse instead of Switchyard's Order Routing Engine.",
    ),
    r.SettingSpec(
        "osa_cancel_status",
        "When shipping request is canceled in OSA, apply the following status to Switchyard",
        SHIPPING,
        r.CHOICE,
        default="reviewRequired",
        choices=CANCEL_STATUS_CHOICES,
    ),
    r.SettingSpec(
        "shipping_request_order_ids",
        "Process only shipping requests with specific order IDs",
        SHIPPING,
        r.TEXT_LIST,
        default=[],
        help="Order IDs (channel order numbers), one per line. Empty: every shipping request routed to OSA.",
    ),
    # Fulfillments
    r.SettingSpec(
        "pull_fulfillments",
        "Pull fulfillment information from OSA",
        FULFILLMENTS,
        r.BOOL,
        default=False,
        help="Pulls fulfillment data after OSA ships. Enable Push fulfillments on the TikTok Shop connector too.",
    ),
    # Inventory
    r.SettingSpec(
        "pull_inventory",
        "Pull inventory information from OSA",
        INVENTORY,
        r.BOOL,
        default=False,
        help="Once per day. OSA reports Fulfillable quantities, not On-hand.",
    ),
    r.SettingSpec(
        "force_inventory_resync",
        "Force inventory resync",
        INVENTORY,
        r.BOOL,
        default=False,
        help="The next inventory pull runs now and rewrites every quantity; switches itself off afterwards.",
    ),
    r.SettingSpec(
        "inventory_sku_patterns",
        "Process inventory information only for products with specific SKU patterns",
        INVENTORY,
        r.TEXT_LIST,
        default=[],
        help="Shell-style patterns (e.g. ABC-*), one per line. Empty: all SKUs.",
    ),
    r.SettingSpec(
        "inventory_location_types",
        "Process inventory information only for these locations types",
        INVENTORY,
        r.CHOICE,
        default=LOCATION_TYPE_BOTH,
        choices=LOCATION_TYPE_CHOICES,
    ),
    # Products
    r.SettingSpec(
        "push_products",
        "Push product catalog information to OSA",
        PRODUCTS,
        r.BOOL,
        default=False,
        help="Push the catalog when OSA doesn't already have your products.",
    ),
    r.SettingSpec(
        "allow_product_updates",
        "Allow updating products in OSA",
        PRODUCTS,
        r.BOOL,
        default=False,
        help="Without it, the connector only creates new products, never updates existing ones.",
    ),
    r.SettingSpec(
        "force_product_resync",
        "Force product catalog resync",
        PRODUCTS,
        r.BOOL,
        default=False,
        help="The next product push re-sends every product; switches itself off afterwards.",
    ),
    r.SettingSpec(
        "product_sku_patterns",
        "Process only products with specific product SKUs patterns",
        PRODUCTS,
        r.TEXT_LIST,
        default=[],
        help="Shell-style patterns (e.g. ABC-*), one per line, matched against the product's own SKU and its OSA Channel SKU "
        "(a product is pushed when either matches). Empty: all products.",
    ),
    # Locations
    r.SettingSpec(
        "pull_locations",
        "Pull locations from OSA",
        LOCATIONS,
        r.BOOL,
        default=False,
        help="Required: OSA locations appear under Inventory → Locations; link each to its TikTok Shop location.",
    ),
    # Returns
    r.SettingSpec("push_returns", "Push returns (RMAs) to OSA", RETURNS, r.BOOL, default=False),
    r.SettingSpec("pull_returns", "Pull returns (RMAs) updates from OSA", RETURNS, r.BOOL, default=False),
    # Arrivals and receipts
    r.SettingSpec(
        "push_arrivals", "Push arrivals to OSA", INBOUND, r.BOOL, default=False, help="Pushes inbound shipment or PO data to OSA."
    ),
    r.SettingSpec(
        "arrival_order_ids",
        "Process only arrivals for specific order IDs",
        INBOUND,
        r.TEXT_LIST,
        default=[],
        help="Arrival references (PO / inbound shipment numbers), one per line. Empty: every arrival.",
    ),
    r.SettingSpec(
        "pull_receipts",
        "Pull receipts from OSA",
        INBOUND,
        r.BOOL,
        default=False,
        help="Pulls what OSA physically received, updating arrivals and inbound quantities.",
    ),
)

CREDENTIALS = (
    r.CredentialSpec("api_key", "API Key", secret=False),
    r.CredentialSpec("api_secret", "API Secret", secret=True),
    r.CredentialSpec("osa_domain", "OSA Domain", secret=False, help="The OSA domain identifier provided by OSA support."),
)
