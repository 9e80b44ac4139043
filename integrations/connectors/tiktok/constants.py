"""TikTok Shop wire constants: hosts, paths (one per endpoint), enums and error codes (reference §1-§5, §10, §11)."""

API_BASE_URL = "https://open-api.tiktokglobalshop.com"
AUTH_BASE_URL = "https://auth.tiktok-shops.com"
# Seller authorization link (service_id style, ROW host; US sellers may use the link copied from Partner Center).
AUTHORIZE_URL = "https://services.tiktokshop.com/open/authorize"
SANDBOX_PATH = "/integrations/sandbox/tiktok"

# --- auth host (no signature; app_secret travels in the query, never log it) ---
PATH_TOKEN_GET = "/api/v2/token/get"
PATH_TOKEN_REFRESH = "/api/v2/token/refresh"

# --- business host ---
PATH_AUTHORIZED_SHOPS = "/authorization/202309/shops"  # no shop_cipher
PATH_ORDERS_SEARCH = "/order/202309/orders/search"
PATH_ORDERS_DETAIL = "/order/202309/orders"
PATH_MARK_PACKAGE_SHIPPED = "/fulfillment/202309/orders/{order_id}/packages"
PATH_PACKAGE_SHIPPING_INFO_UPDATE = "/fulfillment/202309/packages/{package_id}/shipping_info/update"
PATH_ORDER_SHIPPING_INFO_UPDATE = "/fulfillment/202309/orders/{order_id}/shipping_info/update"
PATH_SHIPPING_PROVIDERS = "/logistics/202309/delivery_options/{delivery_option_id}/shipping_providers"
PATH_CANCEL_ORDER = "/return_refund/202309/cancellations"
PATH_CS_CONVERSATIONS = "/customer_service/202309/conversations"
PATH_CS_SEND_MESSAGE = "/customer_service/202309/conversations/{conversation_id}/messages"

ORDER_SEARCH_PAGE_SIZE = 100  # the maximum (1-100 allowed, §4.1): the answer holds full orders, no detail call
ORDER_DETAIL_MAX_IDS = 50

# Per-shop request rate, shared across workers (reference §3.3: 50 QPS per API per app+shop; later docs describe a
# dynamic per app x shop QPS and suggest starting at 3-10 rps for reads). settings.TIKTOK_QPS overrides it.
DEFAULT_QPS = 5.0
# Refresh the access token this long before `access_token_expire_in`.
REFRESH_AHEAD_SECONDS = 24 * 3600

# --- order statuses (§4.2) ---
ORDER_STATUSES = (
    ("UNPAID", "Unpaid"),
    ("ON_HOLD", "On hold"),
    ("AWAITING_SHIPMENT", "Awaiting shipment"),
    ("PARTIALLY_SHIPPING", "Partially shipping"),
    ("AWAITING_COLLECTION", "Awaiting collection"),
    ("IN_TRANSIT", "In transit"),
    ("DELIVERED", "Delivered"),
    ("COMPLETED", "Completed"),
    ("CANCELLED", "Cancelled"),
)
DEFAULT_PULL_STATUSES = ["AWAITING_SHIPMENT", "CANCELLED", "DELIVERED"]
# The statuses before an order is released to the seller (unpaid; then the buyer's remorse hour).
PRE_RELEASE_STATUSES = ("UNPAID", "ON_HOLD")

FULFILLMENT_BY_TIKTOK = "FULFILLMENT_BY_TIKTOK"

# --- seller cancel reasons (§5.4; status dependent; UK uses the _uk suffix) ---
CANCEL_REASONS = (
    ("seller_cancel_reason_out_of_stock", "Out of stock (seller_cancel_reason_out_of_stock)"),
    ("seller_cancel_reason_wrong_price", "Wrong price (seller_cancel_reason_wrong_price)"),
    ("seller_cancel_paid_reason_address_not_deliver", "Unable to deliver to address (seller_cancel_paid_reason_address_not_deliver)"),
    ("seller_cancel_paid_reason_buyer_requested_cancellation",
     "Buyer requested cancellation (seller_cancel_paid_reason_buyer_requested_cancellation)"),
    ("seller_cancel_reason_out_of_stock_uk", "Out of stock, UK (seller_cancel_reason_out_of_stock_uk)"),
    ("seller_cancel_reason_wrong_price_uk", "Wrong price, UK (seller_cancel_reason_wrong_price_uk)"),
)
DEFAULT_CANCEL_REASON = "seller_cancel_reason_out_of_stock"
# Seller reasons for UNPAID orders, by the paid reason they replace.
UNPAID_CANCEL_REASONS = {
    "seller_cancel_reason_out_of_stock": "seller_cancel_unpaid_reason_out_of_stock",
    "seller_cancel_reason_wrong_price": "seller_cancel_unpaid_reason_wrong_price",
    "seller_cancel_paid_reason_buyer_requested_cancellation": "seller_cancel_unpaid_reason_buyer_requested_cancellation",
}
UK_REGIONS = ("GB", "UK")
# Item-level (partial) Cancel Order: US/UK only, out-of-stock reason only (§5.4).
LINE_CANCEL_REGIONS = ("US", "GB", "UK")
# Order statuses in which a seller cancellation can meet a pending buyer refund request (§4.2, §5.4, §8.3).
SELLER_CANCEL_WITH_REFUND_REQUEST_STATUSES = ("AWAITING_COLLECTION",)
LINE_CANCEL_REASONS = ("seller_cancel_reason_out_of_stock", "seller_cancel_unpaid_reason_out_of_stock")
# Free-text reasons (a 3PL's "Canceled in OSA: out of stock") → the seller reason they name; first match wins.
CANCEL_REASON_KEYWORDS = (
    (("out of stock", "outofstock", "oos", "no stock", "stockout", "insufficient stock", "inventory"), "seller_cancel_reason_out_of_stock"),
    (("wrong price", "price"), "seller_cancel_reason_wrong_price"),
    (("address", "undeliverable", "cannot deliver", "can't deliver", "not deliver"), "seller_cancel_paid_reason_address_not_deliver"),
    (("buyer request", "customer request", "buyer asked", "customer asked", "requested by buyer", "requested by customer"),
     "seller_cancel_paid_reason_buyer_requested_cancellation"),
)

# Carriers supported on TTS (seed 002), offered as the fallback carrier.
US_CARRIERS = ("Asendia US", "USPS", "UPS", "FedEx", "LaserShip", "OnTrac", "Better Trucks", "TForce", "DHL eCommerce",
               "Amazon Logistics", "AxleHire", "Lone Star Overnight", "Deliver-it", "GLS US", "Spee-Dee Delivery", "Wizmo",
               "First Mile")
UK_CARRIERS = ("EVRi", "DHL UK", "Yodel UK", "UK Mail", "DPD UK", "DX Delivery", "Royal Mail", "Parcel Force", "Panther UK",
               "Amazon Shipping UK")

# --- error codes (§3.2) ---
CODE_OK = 0
# Mark Package As Shipped answers for items that are already in a package: the push may be ours (an earlier
# attempt whose answer was lost), so it is read back (flows_orders.py), not rejected.
CODES_ALREADY_SHIPPED = (21011003, 21011006)
# Cancel Order on an order that can no longer be cancelled (e.g. already cancelled): read back the same way.
CODES_NOT_CANCELLABLE = (25001002,)
CODE_RATE_LIMITED = 36009002
TRANSIENT_CODES = {36009003, 36009007, 12001000}
CODE_TOKEN_EXPIRED = 105002
CODE_OVERLOADED_CREDENTIAL = 36009004
AUTH_CODES = {101000, 105005, 106001, 36009033, 36004004}

# --- webhook topics (§10.2) ---
WEBHOOK_ORDER_STATUS = 1
WEBHOOK_REVERSE_STATUS = 2
WEBHOOK_ADDRESS_UPDATE = 3
WEBHOOK_PACKAGE_UPDATE = 4
WEBHOOK_PRODUCT_STATUS = 5
WEBHOOK_DEAUTHORIZATION = 6
WEBHOOK_UPCOMING_EXPIRATION = 7
WEBHOOK_CANCELLATION_STATUS = 11
WEBHOOK_RETURN_STATUS = 12
WEBHOOK_PRODUCT_INFORMATION = 15
WEBHOOK_PRODUCT_CREATION = 16
WEBHOOK_INVENTORY_STATUS = 27
