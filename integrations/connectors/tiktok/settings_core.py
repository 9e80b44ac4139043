"""TikTok settings (labels verbatim from the seed, "Switchyard" for "Pipe17"): connection, orders,
cancellations and fulfillments. Keys are stable identifiers; labels are what the admin shows."""
from integrations import registry as r
from integrations.connectors.tiktok import constants as c

ORDERS, FULFILLMENTS = "Orders", "Fulfillments"

FALLBACK_CARRIER_CHOICES = tuple((name, f"{name} (US)") for name in c.US_CARRIERS) + tuple(
    (name, f"{name} (UK)") for name in c.UK_CARRIERS if name not in c.US_CARRIERS)

SETTINGS: tuple = (
    # Orders
    r.SettingSpec("pull_orders", "Pull orders from TikTok", ORDERS, r.BOOL, default=True,
                  help="Switches the order pull flow (new orders, updates and buyer/platform cancellations)."),
    r.SettingSpec("orders_exclude_before", "Exclude orders created before this date", ORDERS, r.DATETIME, default=None,
                  help="Cutoff date and time. Orders created before this point are not pulled into Switchyard. "
                       "If left empty, the default is the integration creation date.", portable=False),
    r.SettingSpec("orders_statuses", "Pull orders only with these TikTok statuses", ORDERS, r.MULTI_CHOICE,
                  default=list(c.DEFAULT_PULL_STATUSES), choices=c.ORDER_STATUSES,
                  help="TikTok order statuses whose orders and updates are pulled into Switchyard."),
    r.SettingSpec("orders_pull_platform_shipped", "Pull shipped by platform orders", ORDERS, r.BOOL, default=False,
                  help="When enabled, Switchyard pulls orders fulfilled by TTS. These orders are pulled in as already "
                       "Fulfilled - Switchyard does not create shipments or fulfillment (tracking) for them."),
    r.SettingSpec("orders_pull_on_hold", "Pull Orders in On Hold status", ORDERS, r.BOOL, default=False,
                  help="Pulls TikTok On Hold orders into Switchyard with status onHold. TikTok releases the order after "
                       "1 hour, after which Switchyard updates the status to New."),
    r.SettingSpec("orders_only_ids", "Pull only the Orders with specific Order Ids", ORDERS, r.TEXT_LIST, default=[],
                  help="When set, only orders whose IDs are in this list are ingested during normal polling.", portable=False),
    r.SettingSpec("cancel_push", "Cancel order in TikTok Shop when order is canceled in Switchyard", ORDERS, r.BOOL,
                  default=False, help="When enabled, an order canceled in Switchyard is also canceled in TikTok Shop."),
    r.SettingSpec("cancel_reason_line_items", "Default cancel reason for line items", ORDERS, r.CHOICE,
                  default=c.DEFAULT_CANCEL_REASON, choices=c.CANCEL_REASONS,
                  help="Default TikTok cancel reason code used when canceling line items in TikTok Shop if no reason is "
                       "provided from the 3PL."),
    r.SettingSpec("cancel_reason_full_order", "Default cancel reason for full order", ORDERS, r.CHOICE,
                  default=c.DEFAULT_CANCEL_REASON, choices=c.CANCEL_REASONS,
                  help="Default TikTok cancel reason code used when canceling a full order in TikTok Shop if no reason is "
                       "provided from the 3PL."),
    r.SettingSpec("virtual_bundles", "Support virtual bundles", ORDERS, r.BOOL, default=True,
                  help="Enables support for virtual bundles on TikTok orders: combined listing SKUs are expanded into "
                       "their component SKUs. When off, the combined listing's own SKU is ordered."),
    r.SettingSpec("buyer_message_send", "Send a Message to the buyer once an Order is created", ORDERS, r.BOOL,
                  default=False, help="When an order is created in Switchyard, the buyer receives a text message based on "
                                      "the template below."),
    r.SettingSpec("buyer_message_template", "Message Template", ORDERS, r.TEXT, default="", max_length=2000,
                  help="Template used for the buyer message. Maximum 2,000 characters. Example: \"Thank you for purchasing "
                       "from CompanyName, please contact us for any issues. We would love a review on the Product.\""),
    r.SettingSpec("order_card_send", "Send Order card to buyer once an Order is created", ORDERS, r.BOOL, default=False,
                  help="When an order is created in Switchyard, the buyer receives an Order Card from TikTok."),
    r.SettingSpec("buyer_message_ids", "Send messages to certain buyer ID's only", ORDERS, r.TEXT_LIST, default=[],
                  help="Restrict buyer messages and Order cards to specific buyer IDs."),
    # Fulfillments
    r.SettingSpec("push_fulfillments", "Push fulfillment information to TikTok", FULFILLMENTS, r.BOOL, default=True,
                  help="Posts shipment confirmations and tracking to TikTok after orders ship."),
    r.SettingSpec("fallback_carrier_enabled", "Use fallback carrier if fulfilment carrier does not match supported carriers on TTS",
                  FULFILLMENTS, r.BOOL, default=False,
                  help="When enabled, a fallback carrier is used when the fulfillment carrier does not match a TTS-supported "
                       "carrier. Tracking may not be available for the fallback carrier on TikTok Seller Center."),
    r.SettingSpec("fallback_carrier", "Fallback carrier", FULFILLMENTS, r.CHOICE, default="", choices=FALLBACK_CARRIER_CHOICES,
                  help="The TTS carrier used as fallback. Empty: the first shipping provider TikTok lists for the order's "
                       "delivery option."),
)

CREDENTIALS: tuple = (
    r.CredentialSpec("app_key", "App key", secret=False, help="Partner Center → App → App key."),
    r.CredentialSpec("app_secret", "App secret", secret=True, help="Partner Center → App → App secret."),
    r.CredentialSpec("service_id", "Service ID", secret=False, help="Used in the seller authorization link."),
)

CONNECTION_TESTER = "integrations.connectors.tiktok.auth.connection_test"
