"""The Orders and Fulfillments settings of seed 001 (labels verbatim, "Switchyard" for "Pipe17"), defaults as written."""
import pytest

from integrations import registry
from integrations.exceptions import SettingsError
from integrations import schema

EXPECTED = [
    ("pull_orders", "Pull orders from TikTok", "Orders", registry.BOOL, True),
    ("orders_exclude_before", "Exclude orders created before this date", "Orders", registry.DATETIME, None),
    ("orders_statuses", "Pull orders only with these TikTok statuses", "Orders", registry.MULTI_CHOICE,
     ["AWAITING_SHIPMENT", "CANCELLED", "DELIVERED"]),
    ("orders_pull_platform_shipped", "Pull shipped by platform orders", "Orders", registry.BOOL, False),
    ("orders_pull_on_hold", "Pull Orders in On Hold status", "Orders", registry.BOOL, False),
    ("orders_only_ids", "Pull only the Orders with specific Order Ids", "Orders", registry.TEXT_LIST, []),
    ("cancel_push", "Cancel order in TikTok Shop when order is canceled in Switchyard", "Orders", registry.BOOL, False),
    ("cancel_reason_line_items", "Default cancel reason for line items", "Orders", registry.CHOICE, "seller_cancel_reason_out_of_stock"),
    ("cancel_reason_full_order", "Default cancel reason for full order", "Orders", registry.CHOICE, "seller_cancel_reason_out_of_stock"),
    ("virtual_bundles", "Support virtual bundles", "Orders", registry.BOOL, True),
    ("buyer_message_send", "Send a Message to the buyer once an Order is created", "Orders", registry.BOOL, False),
    ("buyer_message_template", "Message Template", "Orders", registry.TEXT, ""),
    ("order_card_send", "Send Order card to buyer once an Order is created", "Orders", registry.BOOL, False),
    ("buyer_message_ids", "Send messages to certain buyer ID's only", "Orders", registry.TEXT_LIST, []),
    ("push_fulfillments", "Push fulfillment information to TikTok", "Fulfillments", registry.BOOL, True),
    ("fallback_carrier_enabled", "Use fallback carrier if fulfilment carrier does not match supported carriers on TTS",
     "Fulfillments", registry.BOOL, False),
    ("fallback_carrier", "Fallback carrier", "Fulfillments", registry.CHOICE, ""),
]


@pytest.mark.parametrize("key,label,section,type_,default", EXPECTED)
def test_setting_declared_with_seed_label_and_default(key, label, section, type_, default):
    spec = registry.get_connector("tiktok").setting(key)
    assert (spec.label, spec.section, spec.type, spec.default) == (label, section, type_, default)


def test_status_options_and_cancel_reason_options():
    spec = registry.get_connector("tiktok")
    assert [c for c, _ in spec.setting("orders_statuses").choices] == [
        "UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED",
        "COMPLETED", "CANCELLED"]
    assert dict(spec.setting("orders_statuses").choices)["AWAITING_SHIPMENT"] == "Awaiting shipment"
    reasons = dict(spec.setting("cancel_reason_full_order").choices)
    assert reasons["seller_cancel_reason_out_of_stock"] == "Out of stock (seller_cancel_reason_out_of_stock)"
    assert "USPS" in dict(spec.setting("fallback_carrier").choices) and "Royal Mail" in dict(spec.setting("fallback_carrier").choices)


def test_invalid_values_are_rejected():
    spec = registry.get_connector("tiktok")
    for bad in ({"orders_statuses": ["SHIPPED"]}, {"cancel_reason_full_order": "because"}, {"buyer_message_template": "x" * 2001},
                {"orders_exclude_before": "yesterday"}, {"virtual_bundles": "yes"}):
        with pytest.raises(SettingsError):
            schema.validate_settings(spec, bad)


def test_shop_specific_settings_are_not_portable():
    spec = registry.get_connector("tiktok")
    assert spec.setting("orders_exclude_before").portable is False
    assert spec.setting("orders_only_ids").portable is False
    assert spec.setting("orders_statuses").portable is True
