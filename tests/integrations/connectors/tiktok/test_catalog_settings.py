"""Catalog-half settings: every row of seed 001's Locations, Products, Inventory, Returns, Refunds and
Statements tables, with its label, type, options and default; flow switches; validation."""
import pytest

from integrations import registry, schema
from integrations.connectors.tiktok import SPEC
from integrations.exceptions import SettingsError

SEED_ROWS = [
    # (label, section, type, default)
    ("Create FBT locations to track TikTok fulfillable inventory quantities", "Locations", registry.BOOL, False),
    ("Consolidate FBT Inventory from all locations to a single default Location", "Locations", registry.BOOL, False),
    ("Force product catalog resync", "Products", registry.BOOL, False),
    ("Only apply product updates for specific SKUs", "Products", registry.TEXT_LIST, []),
    ("Prepare for Product Push to TikTok", "Products", registry.BOOL, False),
    ("Safe Update for TikTok Product Push", "Products", registry.BOOL, True),
    ("Update only specific product properties", "Products", registry.MULTI_CHOICE, ["price", "description"]),
    ("Attributes mapping", "Products", registry.TEXT, "color:colour"),
    ("Upload first child product image as variant image", "Products", registry.BOOL, False),
    ("Allow Switchyard to deactivate Products that are active in TikTok", "Products", registry.BOOL, False),
    ("Allow Switchyard to recover deleted Products by SKU or Product Id in TikTok instead of creating new one", "Products",
     registry.BOOL, True),
    ("Block update if variants inconsistent", "Products", registry.BOOL, False),
    ("Choose how Switchyard handles missing Product attributes", "Products", registry.CHOICE, "exception"),
    ("Pull values only for required attributes", "Products", registry.BOOL, True),
    ("Enter list of Product SKUs for which Switchyard will apply AI generated product attribute values", "Products",
     registry.TEXT_LIST, []),
    ("Enter black list of Product SKUs for which Switchyard will NOT apply AI generated product attribute values", "Products",
     registry.TEXT_LIST, []),
    ("Add a list of Product Attributes for which Switchyard will use AI generated values", "Products", registry.TEXT_LIST, []),
    ("Add a Black list of Product Attributes for which Switchyard will NOT use AI generated values", "Products",
     registry.TEXT_LIST, []),
    ("Use promotion feature in TikTok", "Products", registry.BOOL, False),
    ("Force inventory resync", "Inventory", registry.BOOL, False),
    ("Push inventory from a specific location only", "Inventory", registry.LOCATION, ""),
    ("Send total inventory to a default warehouse id", "Inventory", registry.BOOL, True),
    ("Only apply inventory updates for specific SKUs", "Inventory", registry.TEXT_LIST, []),
    ("Apply TikTok inventory increase only between 12:00AM PST - 2:00AM PST", "Inventory", registry.BOOL, False),
    ("Pull returns only when there is a matching order available in Switchyard", "Returns", registry.BOOL, False),
    ("Pull returns only with this statuses", "Returns", registry.MULTI_CHOICE, ["RETURN_OR_REFUND_REQUEST_COMPLETE"]),
    ("Reason by default for creating refund in TikTok for Delivered orders", "Refunds", registry.CHOICE,
     "ecom_order_delivered_refund_and_return_reason_damaged"),
    ("Reason by default for creating refund in TikTok for orders in Transit/Awaiting collection status", "Refunds",
     registry.CHOICE, "ecom_order_in_transit_refund_reason_missed_delivery_date"),
    ("Reason by default for creating cancelation in TikTok for not shipped orders (in Awaiting shipment status)", "Refunds",
     registry.CHOICE, "seller_cancel_reason_out_of_stock"),
    ("Pull refunds TikTok types", "Refunds", registry.MULTI_CHOICE, ["RETURN_AND_REFUND"]),
    ("Pull refunds only with this statuses", "Refunds", registry.MULTI_CHOICE, ["RETURN_OR_REFUND_REQUEST_COMPLETE"]),
    ("Reject Buyer Refund Requests for Seller-Initiated Cancellations", "Refunds", registry.BOOL, False),
    ("Exclude statements created before this date", "Statements", registry.DATETIME, None),
]


def by_label(label):
    matches = [s for s in SPEC.settings if s.label == label]
    assert len(matches) == 1, label
    return matches[0]


@pytest.mark.parametrize("label, section, type_, default", SEED_ROWS)
def test_every_seed_row_is_declared_verbatim(label, section, type_, default):
    spec = by_label(label)
    assert (spec.section, spec.type, spec.default) == (section, type_, default)
    assert "Pipe17" not in spec.label


def test_default_choice_labels_read_as_the_seed_says():
    choices = lambda label: dict(by_label(label).choices)  # noqa: E731
    assert choices("Choose how Switchyard handles missing Product attributes")["exception"] == "Raise an exception about missing attribute"
    assert choices("Pull returns only with this statuses")["RETURN_OR_REFUND_REQUEST_COMPLETE"] == \
        "Completed (The return processed successfully)"
    assert choices("Pull refunds TikTok types")["RETURN_AND_REFUND"] == "Return and Refund"
    assert choices("Update only specific product properties")["price"] == "Price"
    assert choices("Reason by default for creating refund in TikTok for Delivered orders")[
        "ecom_order_delivered_refund_and_return_reason_damaged"] == "Package or product is damaged"
    assert choices("Reason by default for creating refund in TikTok for orders in Transit/Awaiting collection status")[
        "ecom_order_in_transit_refund_reason_missed_delivery_date"] == "Missed estimated delivery date"
    assert choices("Reason by default for creating cancelation in TikTok for not shipped orders (in Awaiting shipment status)")[
        "seller_cancel_reason_out_of_stock"] == "Out of stock"


@pytest.mark.parametrize("flow, switch_label", [
    ("pull_products", "Push products from TikTok to Switchyard"),
    ("push_products", "Push products from Switchyard to TikTok"),
    ("prepare_products", "Prepare for Product Push to TikTok"),
    ("push_inventory", "Push inventory information from Switchyard to TikTok"),
    ("pull_locations", "Pull locations from TikTok"),
    ("pull_returns", "Pull returns from TikTok"),
    ("pull_refunds", "Pull refunds from TikTok"),
    ("push_refunds", "Push refunds from Switchyard to TikTok"),
    ("pull_statements", "Pull statements from TikTok"),
])
def test_each_flow_has_its_switch(flow, switch_label):
    assert SPEC.setting(SPEC.flow(flow).enable_setting).label == switch_label


def test_flow_switch_turns_the_flow_on(tiktok_integration):
    from integrations import services

    assert tiktok_integration.flow_states.get(flow="push_inventory").enabled is False
    services.integration_update_settings(integration=tiktok_integration, values={"push_inventory": True})
    assert tiktok_integration.flow_states.get(flow="push_inventory").enabled is True


@pytest.mark.parametrize("values", [
    {"missing_attributes_mode": "guess"},
    {"return_statuses": ["DONE"]},
    {"refund_types": "REFUND"},
    {"use_promotions": "yes"},
    {"statements_created_after": "yesterday"},
    {"inventory_location": "no-such-location"},
])
def test_invalid_values_are_rejected(values):
    with pytest.raises(SettingsError):
        schema.validate_settings(SPEC, values, location_ids={"osa-main"})


def test_shop_specific_values_are_not_portable():
    assert SPEC.setting("inventory_location").portable is False
    assert SPEC.setting("statements_created_after").portable is False
    assert SPEC.setting("attributes_mapping").portable is True
