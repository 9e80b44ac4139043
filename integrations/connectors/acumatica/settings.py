"""Acumatica settings and credentials (labels verbatim from the Acumatica article, "Switchyard" where it says
"Pipe17")."""

from integrations import registry as r

CONNECTION, ORDERS, REFUNDS, SHIPPING, FULFILLMENTS, PRODUCTS, INVENTORY, LOCATIONS = (
    "Connection",
    "Orders to Acumatica",
    "Refunds",
    "Shipping requests",
    "Fulfillments",
    "Products",
    "Inventory",
    "Locations",
)
SECTIONS = (CONNECTION, ORDERS, REFUNDS, SHIPPING, FULFILLMENTS, PRODUCTS, INVENTORY, LOCATIONS)

# The Default endpoint at a pinned version: this product ships no Acumatica customization project, so the
# article's "Pipe17/001" does not exist on a customer's instance. Reference §2.1: 23.200.001 and 24.200.001 carry
# the entities we use almost identically; 26.200.001 reportedly changes value types, so pin, never float.
DEFAULT_ENDPOINT = "Default/23.200.001"
DEFAULT_ORDER_TYPE = "SO"  # article Step 7
DEFAULT_REFUND_ORDER_TYPE = "RC"  # article "What syncs": refunds use a separate order type, default RC

GENERIC_CUSTOMER = "generic"
CUSTOMER_STRATEGIES = ((GENERIC_CUSTOMER, "Use a generic customer for all orders"),)

INVENTORY_PULL, INVENTORY_PUSH = "pull", "push"
INVENTORY_CHOICES = (
    (INVENTORY_PULL, "Pull inventory updates from Acumatica"),
    (INVENTORY_PUSH, "Push inventory updates to Acumatica"),
)
LOCATIONS_PULL, LOCATIONS_PUSH = "pull", "push"
LOCATIONS_CHOICES = (
    (LOCATIONS_PULL, "Pull locations from Acumatica"),
    (LOCATIONS_PUSH, "Push locations to Acumatica"),
)

SETTINGS = (
    # Orders
    r.SettingSpec(
        "push_orders",
        "Push orders to Acumatica",
        ORDERS,
        r.BOOL,
        default=False,
        help="Creates one Acumatica sales order per order routed to an Acumatica warehouse (after the order hold).",
    ),
    r.SettingSpec(
        "push_canceled_orders",
        "Push canceled orders to Acumatica",
        ORDERS,
        r.BOOL,
        default=False,
        help="Cancels the Acumatica sales order (CancelSalesOrder) when the order is canceled on TikTok Shop or here.",
    ),
    r.SettingSpec(
        "order_sources",
        "Push orders to Acumatica only for specific order sources",
        ORDERS,
        r.TEXT_LIST,
        default=[],
        help="Order sources, one per line: a channel integration's name or connector code (e.g. tiktok). Empty: every "
        "source. Orders from other sources are not sent (one exception per source).",
    ),
    r.SettingSpec(
        "mark_sent_to_fulfillment",
        'Mark orders as "Sent to Fulfillment" when pushing to Acumatica',
        ORDERS,
        r.BOOL,
        default=False,
        help="Moves the order to Sent to Fulfillment once Acumatica has created its sales order.",
    ),
    r.SettingSpec(
        "order_types",
        "Use order type defined below when pushing sales orders to Acumatica",
        ORDERS,
        r.TEXT_LIST,
        default=[],
        help="Entries channel:orderType, one per line (e.g. tiktok:TT). The channel is the order source's connector "
        f"code or integration name. Without a matching entry orders use {DEFAULT_ORDER_TYPE}.",
    ),
    r.SettingSpec(
        "customer_strategy",
        "Customer matching strategy",
        ORDERS,
        r.CHOICE,
        default=GENERIC_CUSTOMER,
        choices=CUSTOMER_STRATEGIES,
        help="TikTok Shop doesn't share buyer information, so all TikTok orders use a single generic Acumatica customer.",
    ),
    r.SettingSpec(
        "generic_customer_id",
        "Generic Customer Id",
        ORDERS,
        r.TEXT,
        default="",
        help="The CustomerID of the Acumatica customer used for all orders. Orders wait (one exception) until it is set.",
        portable=False,
    ),
    # Refunds
    r.SettingSpec(
        "push_refunds",
        "Allow push refund orders to Acumatica",
        REFUNDS,
        r.BOOL,
        default=False,
        help="Off by default. Each refund becomes one Acumatica return order of the refund order type.",
    ),
    r.SettingSpec(
        "refund_order_type",
        "Refund order type",
        REFUNDS,
        r.TEXT,
        default=DEFAULT_REFUND_ORDER_TYPE,
        help=f"The Acumatica order type for refunds (default {DEFAULT_REFUND_ORDER_TYPE}, return for credit).",
    ),
    # Shipping requests / fulfillments
    r.SettingSpec(
        "pull_shipping_requests",
        "Pull shipping requests from Acumatica",
        SHIPPING,
        r.BOOL,
        default=False,
        help="Acumatica drives the flow: shipments it creates for our sales orders show on the order with their status.",
    ),
    r.SettingSpec(
        "pull_fulfillments",
        "Pull fulfillments from Acumatica",
        FULFILLMENTS,
        r.BOOL,
        default=False,
        help="Confirmed shipments with tracking become fulfillments. Enable Push fulfillments on the TikTok Shop connector too.",
    ),
    # Products
    r.SettingSpec(
        "pull_products",
        "Pull product catalog information from Acumatica",
        PRODUCTS,
        r.BOOL,
        default=False,
        help="Creates and updates products from Acumatica's item master (stock items) by InventoryID.",
    ),
    r.SettingSpec(
        "force_product_resync",
        "Force product catalog resync",
        PRODUCTS,
        r.BOOL,
        default=False,
        help="The next product pull reads the whole item master again; switches itself off afterwards.",
    ),
    # Inventory
    r.SettingSpec(
        "inventory_direction",
        "Process inventory information",
        INVENTORY,
        r.CHOICE,
        default="",
        choices=INVENTORY_CHOICES,
        help="One direction only. Blank: off.",
    ),
    r.SettingSpec(
        "inventory_matched_skus_only",
        "Process only inventory items with matched SKUs",
        INVENTORY,
        r.BOOL,
        default=False,
        help="Only items whose SKU matches a Switchyard product (exactly, or through the Acumatica Channel SKU).",
    ),
    r.SettingSpec(
        "inventory_excluded_skus",
        "Exclude inventory items with specific SKUs",
        INVENTORY,
        r.TEXT_LIST,
        default=[],
        help="SKUs (Switchyard or Acumatica), one per line, never processed.",
    ),
    r.SettingSpec(
        "force_inventory_resync",
        "Force inventory resync",
        INVENTORY,
        r.BOOL,
        default=False,
        help="The next inventory run rewrites (or re-sends) every quantity; switches itself off afterwards.",
    ),
    # Locations
    r.SettingSpec(
        "locations_direction",
        "Process locations information",
        LOCATIONS,
        r.CHOICE,
        default="",
        choices=LOCATIONS_CHOICES,
        help="Pull: Acumatica warehouses appear under Inventory → Locations (link each to its TikTok Shop warehouse). "
        "Push: this integration's locations are created as Acumatica warehouses. Blank: off.",
    ),
)

CREDENTIALS = (
    r.CredentialSpec("api_url", "API URL", secret=False,
                     help="Your Acumatica instance URL, e.g. https://server_name/instance_name."),
    r.CredentialSpec("api_endpoint", "API EndPoint", secret=False, required=False,
                     help=f"Endpoint name/version. Blank: {DEFAULT_ENDPOINT} (the Default endpoint, pinned). Any "
                     "custom endpoint extending Default can be entered, e.g. MyEndpoint/1.0."),
    r.CredentialSpec("client_id", "API Client ID", secret=False,
                     help="From the Connected Application (OAuth 2.0 Authorization Code), including the @Tenant suffix."),
    r.CredentialSpec("client_secret", "API Client Secret", secret=True),
)
