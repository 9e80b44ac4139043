"""TikTok settings of the catalog half: Locations, Products, Inventory, Returns, Refunds, Statements.

Labels, options and defaults verbatim from seed 001 ("Switchyard" for "Pipe17"); flow switches worded as
seed 003 words them."""
from integrations import registry as r

LOCATIONS, PRODUCTS, INVENTORY, RETURNS, REFUNDS, STATEMENTS = (
    "Locations", "Products", "Inventory", "Returns", "Refunds", "Statements",
)

# "Update only specific product properties"
PROP_PRICE, PROP_DESCRIPTION, PROP_IMAGES, PROP_TITLE, PROP_ATTRIBUTES, PROP_PACKAGE = (
    "price", "description", "images", "title", "attributes", "package",
)
PRODUCT_PROPERTIES = (
    (PROP_PRICE, "Price"),
    (PROP_DESCRIPTION, "Description"),
    (PROP_IMAGES, "Images"),
    (PROP_TITLE, "Title"),
    (PROP_ATTRIBUTES, "Attributes"),
    (PROP_PACKAGE, "Package weight and dimensions"),
)

# "Choose how Switchyard handles missing Product attributes"
MISSING_ATTRIBUTES_EXCEPTION, MISSING_ATTRIBUTES_DERIVE = "exception", "ai"
MISSING_ATTRIBUTE_MODES = (
    (MISSING_ATTRIBUTES_EXCEPTION, "Raise an exception about missing attribute"),
    (MISSING_ATTRIBUTES_DERIVE, "Use AI to fill missing attributes"),
)

# Return statuses (reference §8.3), labelled as the seed labels the default.
RETURN_STATUSES = (
    ("RETURN_OR_REFUND_REQUEST_PENDING", "Pending (return or refund requested)"),
    ("REFUND_OR_RETURN_REQUEST_REJECT", "Rejected (request rejected)"),
    ("AWAITING_BUYER_SHIP", "Awaiting buyer shipment"),
    ("BUYER_SHIPPED_ITEM", "Buyer shipped item"),
    ("REJECT_RECEIVE_PACKAGE", "Package receipt rejected"),
    ("RETURN_OR_REFUND_REQUEST_SUCCESS", "Approved (request succeeded)"),
    ("RETURN_OR_REFUND_REQUEST_CANCEL", "Cancelled (request cancelled)"),
    ("RETURN_OR_REFUND_REQUEST_COMPLETE", "Completed (The return processed successfully)"),
    ("AWAITING_BUYER_RESPONSE", "Awaiting buyer response (partial refund offered)"),
    ("REPLACEMENT_REQUEST_PENDING", "Replacement pending"),
    ("REPLACEMENT_REQUEST_REJECT", "Replacement rejected"),
    ("REPLACEMENT_REQUEST_REFUND_SUCCESS", "Replacement refunded"),
    ("REPLACEMENT_REQUEST_CANCEL", "Replacement cancelled"),
    ("REPLACEMENT_REQUEST_COMPLETE", "Replacement completed"),
)
STATUS_COMPLETE = "RETURN_OR_REFUND_REQUEST_COMPLETE"

# Refund types = TikTok `return_type` (reference §8.2).
REFUND_TYPES = (
    ("RETURN_AND_REFUND", "Return and Refund"),
    ("REFUND", "Refund only"),
    ("REPLACEMENT", "Replacement"),
)

# Default reasons for refunds/cancellations created from Switchyard (TikTok reason names, reference §5.4/§8).
REFUND_REASONS_DELIVERED = (
    ("ecom_order_delivered_refund_and_return_reason_damaged", "Package or product is damaged"),
    ("ecom_order_delivered_refund_and_return_reason_wrong_item", "Wrong item was sent"),
    ("ecom_order_delivered_refund_and_return_reason_missing_item", "Missing item or accessories"),
    ("ecom_order_delivered_refund_and_return_reason_not_as_described", "Product does not match description"),
)
REFUND_REASONS_IN_TRANSIT = (
    ("ecom_order_in_transit_refund_reason_missed_delivery_date", "Missed estimated delivery date"),
    ("ecom_order_in_transit_refund_reason_package_lost", "Package lost"),
    ("ecom_order_in_transit_refund_reason_buyer_no_longer_needed", "No longer needed"),
)
CANCEL_REASONS_NOT_SHIPPED = (
    ("seller_cancel_reason_out_of_stock", "Out of stock"),
    ("seller_cancel_reason_wrong_price", "Pricing error"),
    ("seller_cancel_paid_reason_address_not_deliver", "Unable to deliver to buyer address"),
    ("seller_cancel_paid_reason_buyer_requested_cancellation", "Buyer requested cancellation"),
)

SETTINGS = (
    # --- Locations ---
    r.SettingSpec("pull_locations", "Pull locations from TikTok", LOCATIONS, r.BOOL, default=True,
                  help="TikTok warehouses (pickup and return) become Switchyard locations."),
    r.SettingSpec("create_fbt_locations", "Create FBT locations to track TikTok fulfillable inventory quantities", LOCATIONS,
                  r.BOOL, default=False, help="Enable to allow collecting FBT inventory."),
    r.SettingSpec("consolidate_fbt_inventory", "Consolidate FBT Inventory from all locations to a single default Location",
                  LOCATIONS, r.BOOL, default=False,
                  help="A new default location is created where inventory from all FBT locations is consolidated. "
                       "Useful to push consolidated FBT inventory to an ERP."),
    # --- Products ---
    r.SettingSpec("pull_products", "Push products from TikTok to Switchyard", PRODUCTS, r.BOOL, default=False,
                  help="Match TikTok SKUs to master SKUs and record TikTok product and SKU ids on the Channel Options."),
    r.SettingSpec("push_products", "Push products from Switchyard to TikTok", PRODUCTS, r.BOOL, default=False,
                  help="Create and update TikTok listings from the Switchyard catalog (US and UK shops only)."),
    r.SettingSpec("force_product_resync", "Force product catalog resync", PRODUCTS, r.BOOL, default=False,
                  help="Triggers a full resync of the product catalog."),
    r.SettingSpec("product_update_skus", "Only apply product updates for specific SKUs", PRODUCTS, r.TEXT_LIST, default=[],
                  help="Limits product updates to the listed SKUs."),
    r.SettingSpec("prepare_product_push", "Prepare for Product Push to TikTok", PRODUCTS, r.BOOL, default=False,
                  help="Helps surface errors and missing attributes on products before enabling Push Products to TTS. "
                       "Issues are saved on the product and accessible via \"Export Incomplete Products\" on the Products "
                       "listing page. Once resolved, Product Push can be enabled."),
    r.SettingSpec("safe_product_update", "Safe Update for TikTok Product Push", PRODUCTS, r.BOOL, default=True,
                  help="When enabled, price updates are handled separately if Hazmat info is missing - only price is updated "
                       "to avoid delisting. If Hazmat info is available, full product details (including Hazmat) are updated. "
                       "When off, full updates are pushed but missing Hazmat data could lead to review or delisting. "
                       "Applies to updates of existing listings only."),
    r.SettingSpec("product_update_properties", "Update only specific product properties", PRODUCTS, r.MULTI_CHOICE,
                  default=[PROP_PRICE, PROP_DESCRIPTION], choices=PRODUCT_PROPERTIES,
                  help="When updates are restricted, update only certain properties such as Price, Description, or Images."),
    r.SettingSpec("attributes_mapping", "Attributes mapping", PRODUCTS, r.TEXT, default="color:colour",
                  help="Mapping between Switchyard variant options / custom fields and TikTok sale attributes "
                       "(for example, color:colour). Comma-separated pairs."),
    r.SettingSpec("first_child_image_as_variant_image", "Upload first child product image as variant image", PRODUCTS,
                  r.BOOL, default=False,
                  help="Uploads the first image of a child product as the variant image to TikTok. Works only if Images is "
                       "an allowed property to update."),
    r.SettingSpec("allow_deactivate_products", "Allow Switchyard to deactivate Products that are active in TikTok", PRODUCTS,
                  r.BOOL, default=False,
                  help="Switchyard product status determines whether a product in TikTok is activated or deactivated."),
    r.SettingSpec("allow_recover_deleted_products",
                  "Allow Switchyard to recover deleted Products by SKU or Product Id in TikTok instead of creating new one",
                  PRODUCTS, r.BOOL, default=True,
                  help="When enabled, Switchyard recovers deleted products in TikTok rather than creating a new listing."),
    r.SettingSpec("block_update_if_variants_inconsistent", "Block update if variants inconsistent", PRODUCTS, r.BOOL,
                  default=False,
                  help="When enabled, Switchyard will not update product variants on TTS if variants are inconsistent with "
                       "Switchyard. When disabled, Switchyard pushes updates and brings TTS variants to parity with "
                       "Switchyard - variants not in Switchyard will be deleted."),
    r.SettingSpec("missing_attributes_mode", "Choose how Switchyard handles missing Product attributes", PRODUCTS, r.CHOICE,
                  default=MISSING_ATTRIBUTES_EXCEPTION, choices=MISSING_ATTRIBUTE_MODES,
                  help="With the exception option, an exception is created and the product is created as DRAFT in TTS. "
                       "With the AI option, Switchyard derives missing values from product properties (rules over the "
                       "category's allowed values, or the LLM provider configured by environment)."),
    r.SettingSpec("required_attributes_only", "Pull values only for required attributes", PRODUCTS, r.BOOL, default=True,
                  help="When enabled, only required attribute values are pulled."),
    r.SettingSpec("ai_attribute_skus", "Enter list of Product SKUs for which Switchyard will apply AI generated product "
                  "attribute values", PRODUCTS, r.TEXT_LIST, default=[],
                  help="Allow list of SKUs for AI-generated attributes. Works only when the AI option is selected."),
    r.SettingSpec("ai_attribute_skus_blocked", "Enter black list of Product SKUs for which Switchyard will NOT apply AI "
                  "generated product attribute values", PRODUCTS, r.TEXT_LIST, default=[],
                  help="Block list of SKUs for AI-generated attributes. Works only when the AI option is selected."),
    r.SettingSpec("ai_attributes", "Add a list of Product Attributes for which Switchyard will use AI generated values",
                  PRODUCTS, r.TEXT_LIST, default=[],
                  help="Attribute names that AI should fill. Works only when the AI option is selected."),
    r.SettingSpec("ai_attributes_blocked", "Add a Black list of Product Attributes for which Switchyard will NOT use AI "
                  "generated values", PRODUCTS, r.TEXT_LIST, default=[],
                  help="Attribute names that AI should not fill. Works only when the AI option is selected."),
    r.SettingSpec("use_promotions", "Use promotion feature in TikTok", PRODUCTS, r.BOOL, default=False,
                  help="Products whose compare_at_price is 5-95% above the price are shown with a strike-through price "
                       "(TikTok list price); removed when compare_at_price is removed or equals the price."),
    # --- Inventory ---
    r.SettingSpec("push_inventory", "Push inventory information from Switchyard to TikTok", INVENTORY, r.BOOL, default=False),
    r.SettingSpec("force_inventory_resync", "Force inventory resync", INVENTORY, r.BOOL, default=False,
                  help="Triggers a full resync of inventory."),
    r.SettingSpec("inventory_location", "Push inventory from a specific location only", INVENTORY, r.LOCATION, default="",
                  help="When a location is selected, inventory from that location is reported to the default TikTok "
                       "location. Overrides Send total inventory to a default warehouse id.", portable=False),
    r.SettingSpec("inventory_total_to_default_warehouse", "Send total inventory to a default warehouse id", INVENTORY, r.BOOL,
                  default=True,
                  help="Works only when no location is selected in Push inventory from a specific location only. When on, "
                       "inventory totals from all locations are reported to the default TikTok location. When off, "
                       "inventory is reported per the mapped locations."),
    r.SettingSpec("inventory_update_skus", "Only apply inventory updates for specific SKUs", INVENTORY, r.TEXT_LIST, default=[],
                  help="Limits inventory updates to the listed SKUs."),
    r.SettingSpec("inventory_increase_window", "Apply TikTok inventory increase only between 12:00AM PST - 2:00AM PST",
                  INVENTORY, r.BOOL, default=False,
                  help="When enabled, Switchyard will not post inventory level increases to TikTok until the configured "
                       "safe time window (America/Los_Angeles). Decreases are posted at once."),
    # --- Returns ---
    r.SettingSpec("pull_returns", "Pull returns from TikTok", RETURNS, r.BOOL, default=False),
    r.SettingSpec("returns_require_order", "Pull returns only when there is a matching order available in Switchyard", RETURNS,
                  r.BOOL, default=False, help="When enabled, returns are pulled only if a matching order exists."),
    r.SettingSpec("return_statuses", "Pull returns only with this statuses", RETURNS, r.MULTI_CHOICE, default=[STATUS_COMPLETE],
                  choices=RETURN_STATUSES, help="TikTok return statuses whose returns are pulled."),
    # --- Refunds ---
    r.SettingSpec("pull_refunds", "Pull refunds from TikTok", REFUNDS, r.BOOL, default=False),
    r.SettingSpec("push_refunds", "Push refunds from Switchyard to TikTok", REFUNDS, r.BOOL, default=False,
                  help="Refunds created in Switchyard for TikTok orders are sent to TikTok with the default reasons below."),
    r.SettingSpec("refund_reason_delivered", "Reason by default for creating refund in TikTok for Delivered orders", REFUNDS,
                  r.CHOICE, default=REFUND_REASONS_DELIVERED[0][0], choices=REFUND_REASONS_DELIVERED),
    r.SettingSpec("refund_reason_in_transit", "Reason by default for creating refund in TikTok for orders in "
                  "Transit/Awaiting collection status", REFUNDS, r.CHOICE, default=REFUND_REASONS_IN_TRANSIT[0][0],
                  choices=REFUND_REASONS_IN_TRANSIT),
    r.SettingSpec("cancel_reason_not_shipped", "Reason by default for creating cancelation in TikTok for not shipped orders "
                  "(in Awaiting shipment status)", REFUNDS, r.CHOICE, default=CANCEL_REASONS_NOT_SHIPPED[0][0],
                  choices=CANCEL_REASONS_NOT_SHIPPED),
    r.SettingSpec("refund_types", "Pull refunds TikTok types", REFUNDS, r.MULTI_CHOICE, default=["RETURN_AND_REFUND"],
                  choices=REFUND_TYPES, help="TikTok refund types pulled."),
    r.SettingSpec("refund_statuses", "Pull refunds only with this statuses", REFUNDS, r.MULTI_CHOICE, default=[STATUS_COMPLETE],
                  choices=RETURN_STATUSES, help="TikTok refund statuses whose refunds are pulled."),
    r.SettingSpec("reject_buyer_refund_on_seller_cancel", "Reject Buyer Refund Requests for Seller-Initiated Cancellations",
                  REFUNDS, r.BOOL, default=False,
                  help="When enabled, Switchyard cancels the buyer's refund request and processes the cancellation from "
                       "the seller's side."),
    # --- Statements ---
    r.SettingSpec("pull_statements", "Pull statements from TikTok", STATEMENTS, r.BOOL, default=False,
                  help="Statements and their statement transactions."),
    r.SettingSpec("statements_created_after", "Exclude statements created before this date", STATEMENTS, r.DATETIME,
                  default=None,
                  help="If specified, only statements created after this date are ingested. If left empty, the integration "
                       "creation date is used as default.", portable=False),
)
