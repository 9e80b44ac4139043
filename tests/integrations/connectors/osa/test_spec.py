"""The declaration: every setting of the article, labels verbatim, defaults, and the flows they switch."""

import pytest

from integrations import registry
from integrations.models import FlowState

from .conftest import settings_set

ARTICLE_LABELS = [
    "Select OSA environment",
    "Push shipping requests to OSA",
    "Force OSA managed routing",
    "When shipping request is canceled in OSA, apply the following status to Switchyard",
    "Pull fulfillment information from OSA",
    "Pull inventory information from OSA",
    "Force inventory resync",
    "Process inventory information only for products with specific SKU patterns",
    "Process inventory information only for these locations types",
    "Push product catalog information to OSA",
    "Allow updating products in OSA",
    "Force product catalog resync",
    "Process only products with specific product SKUs patterns",
    "Pull locations from OSA",
    "Push returns (RMAs) to OSA",
    "Pull returns (RMAs) updates from OSA",
    "Push arrivals to OSA",
    "Process only arrivals for specific order IDs",
    "Pull receipts from OSA",
    "Process only shipping requests with specific order IDs",
]


def test_every_article_setting_is_declared_verbatim():
    spec = registry.get_connector("osa")
    labels = {s.label for s in spec.settings}
    assert set(ARTICLE_LABELS) <= labels
    assert spec.role == registry.FULFILLMENT and "shipping_method" in spec.mapping_kinds
    assert [c.label for c in spec.credentials] == ["API Key", "API Secret", "OSA Domain"]
    assert [c.secret for c in spec.credentials] == [False, True, False]


def test_switches_default_off_and_choices_match_article():
    spec = registry.get_connector("osa")
    assert all(s.default is False for s in spec.settings if s.type == registry.BOOL)
    assert [label for _, label in spec.setting("osa_cancel_status").choices] == [
        "Review required",
        "Canceled",
        "Canceled Restock",
        "Failed",
    ]
    assert [v for v, _ in spec.setting("osa_cancel_status").choices] == [
        "reviewRequired",
        "canceled",
        "canceledRestock",
        "failed",
    ]
    assert [label for _, label in spec.setting("inventory_location_types").choices] == [
        "OSA warehouse locations",
        "OSA managed location only",
        "OSA managed location & warehouse locations",
    ]
    assert [label for _, label in spec.setting("osa_environment").choices] == ["OSA Production", "OSA Stage", "OSA UAT"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "setting, flows",
    [
        ("push_shipping_requests", {"push_shipping_requests", "cancel_shipping_requests", "pull_order_statuses"}),
        ("pull_fulfillments", {"pull_fulfillments"}),
        ("pull_inventory", {"pull_inventory"}),
        ("push_products", {"push_products"}),
        ("pull_locations", {"pull_locations"}),
        ("push_returns", {"push_returns"}),
        ("pull_returns", {"pull_returns"}),
        ("push_arrivals", {"push_arrivals"}),
        ("pull_receipts", {"pull_receipts"}),
    ],
)
def test_each_sync_switch_enables_exactly_its_flows(osa_integration, setting, flows):
    # given: everything off
    assert FlowState.objects.filter(integration=osa_integration, enabled=True).exists() is False
    # when
    settings_set(osa_integration, **{setting: True})
    # then
    assert set(FlowState.objects.filter(integration=osa_integration, enabled=True).values_list("flow", flat=True)) == flows
