"""Katana MRP settings, credentials and environments (labels verbatim from the Katana ↔ TikTok article, seed 003,
"Switchyard" where it says "Pipe17"; the settings a user needs to make them work are named plainly)."""

from integrations import registry as r

CONNECTION, ORDERS, FULFILLMENTS, PRODUCTS, INVENTORY, WEBHOOKS = (
    "Connection",
    "Orders",
    "Fulfillments",
    "Products",
    "Inventory",
    "Webhooks",
)
SECTIONS = (CONNECTION, ORDERS, FULFILLMENTS, PRODUCTS, INVENTORY, WEBHOOKS)

# Environments: Production is Katana's public API (reference §1.1); Sandbox is this project's emulator.
PRODUCTION, SANDBOX = "production", "sandbox"
API_BASE_URL = "https://api.katanamrp.com/v1"
AUTHORIZE_URL = "https://login.katanamrp.com/authorize"
TOKEN_URL = "https://login.katanamrp.com/oauth/token"
AUDIENCE = "https://api.katanamrp.com"
ENVIRONMENTS = ((PRODUCTION, "Katana Production"), (SANDBOX, "Sandbox (local Katana emulator)"))

# The seed: "Inventory reconciliation has a 1-hour buffer period before updates are reflected in TikTok."
DEFAULT_INVENTORY_BUFFER_MINUTES = 60

SETTINGS = (
    # Orders
    r.SettingSpec(
        "push_orders",
        "Push orders to Katana",
        ORDERS,
        r.BOOL,
        default=False,
        help="Sends each TikTok Shop order routed to a Katana location (Order Routing rules) to Katana as one "
        "Not shipped sales order, after the order hold (60 minutes recommended: TikTok allows edits for 60 minutes). "
        "Products are matched on SKU (the Katana row of a product's Channel Options may hold a different Katana SKU).",
    ),
    r.SettingSpec(
        "channel_integrations",
        "Push orders only from these channel integrations",
        ORDERS,
        r.TEXT_LIST,
        default=[],
        help="Names of the channel integrations (e.g. TikTok UK) whose orders go to Katana, one per line. Empty: "
        "every channel. An order routed to Katana from another channel is not sent (an exception says why).",
        portable=False,
    ),
    r.SettingSpec(
        "customer_id",
        "Katana customer for channel orders (customer ID)",
        ORDERS,
        r.TEXT,
        default="",
        max_length=12,
        help="Katana needs a customer on every sales order. Enter the ID of an existing Katana customer, or leave "
        "blank to let Switchyard create (or find, by its reference) one customer per channel integration.",
        portable=False,
    ),
    r.SettingSpec(
        "create_customers",
        "Create a Katana customer per channel integration when none is entered",
        ORDERS,
        r.BOOL,
        default=True,
        help="Off: orders wait with a “missing customer” exception until a customer ID is entered above.",
    ),
    r.SettingSpec(
        "default_location_id",
        "Katana location for new sales orders (location ID)",
        ORDERS,
        r.TEXT,
        default="",
        max_length=12,
        help="Used when the Switchyard location the order was routed to is not a pulled Katana location. Blank: "
        "Katana's default location.",
        portable=False,
    ),
    r.SettingSpec(
        "push_fbt_orders",
        "Push Fulfilled by TikTok orders to Katana as Done sales orders",
        ORDERS,
        r.BOOL,
        default=False,
        help="Off by default: orders fulfilled by TikTok are usually not pushed to Katana. On: they are created in "
        "Katana for reporting and marked Delivered at once (once each).",
    ),
    # Fulfillments
    r.SettingSpec(
        "pull_fulfillments",
        "Pull fulfillments from Katana",
        FULFILLMENTS,
        r.BOOL,
        default=False,
        help="When a Katana sales order is marked Delivered (or partially delivered) with tracking, Switchyard "
        "records the fulfillment and sends it to TikTok (enable Push fulfillment information to TikTok there).",
    ),
    # Products
    r.SettingSpec(
        "pull_products",
        "Pull products from Katana",
        PRODUCTS,
        r.BOOL,
        default=False,
        help="Katana products and variants become Switchyard products by SKU (name, price, barcode, variant "
        "attributes) and are bound to their Katana variant for orders.",
    ),
    r.SettingSpec(
        "force_product_resync",
        "Force product resync",
        PRODUCTS,
        r.BOOL,
        default=False,
        help="The next product pull re-reads every Katana variant; switches itself off afterwards.",
    ),
    # Inventory
    r.SettingSpec(
        "pull_inventory",
        "Pull inventory changes from Katana",
        INVENTORY,
        r.BOOL,
        default=False,
        help="Katana is the source of truth for stock: per Katana location, In stock − Committed becomes the "
        "available quantity of the linked Switchyard location, and reaches TikTok through Push inventory. Katana "
        "locations are pulled too: link each to the TikTok pickup/return warehouse(s) under Inventory → Locations.",
    ),
    r.SettingSpec(
        "inventory_buffer_minutes",
        "Inventory buffer (minutes)",
        INVENTORY,
        r.INT,
        default=DEFAULT_INVENTORY_BUFFER_MINUTES,
        help="Katana stock is taken at most this often before it is reflected in TikTok (the article's 1-hour "
        "buffer). Lower values are allowed (0: every run).",
    ),
    r.SettingSpec(
        "force_inventory_resync",
        "Force inventory resync",
        INVENTORY,
        r.BOOL,
        default=False,
        help="The next inventory pull runs now (ignoring the buffer) and rewrites every quantity; switches itself off "
        "afterwards.",
    ),
    # Webhooks
    r.SettingSpec(
        "webhooks_enabled",
        "Use Katana webhooks",
        WEBHOOKS,
        r.BOOL,
        default=False,
        help="Sales order webhooks (delivered, updated, deleted) trigger an immediate re-fetch of that sales order. "
        "Polling stays on and remains the source of truth. Enter the webhook token below.",
    ),
    r.SettingSpec(
        "webhook_signature_required",
        "Reject webhooks without a valid signature",
        WEBHOOKS,
        r.BOOL,
        default=True,
        help="Checks x-sha2-signature (HMAC-SHA256 of the body with the webhook token). Katana's signing is not "
        "officially documented: if deliveries are refused, turn this off — webhooks only trigger a re-fetch by id, "
        "so an unsigned one cannot inject data.",
    ),
)

CREDENTIALS = (
    r.CredentialSpec(
        "api_key",
        "API key",
        secret=True,
        required=False,
        help="Katana: Settings › API › API keys. Either an API key, or Connect with Katana (OAuth) below.",
    ),
    r.CredentialSpec("oauth_client_id", "OAuth client ID", secret=False, required=False,
                     help="From Katana's App Partners team; only for “Connect with Katana”."),
    r.CredentialSpec("oauth_client_secret", "OAuth client secret", secret=True, required=False),
    r.CredentialSpec("webhook_token", "Webhook token", secret=True, required=False,
                     help="The `token` Katana returned when the webhook was created (signature key)."),
)
