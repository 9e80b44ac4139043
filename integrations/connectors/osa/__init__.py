"""OSA UC3 connector (3PL). The wire contract is ASSUMED (OSA publishes no API): see README.md and
adapter.py, the only module that knows OSA's wire format."""

from datetime import timedelta

from django.conf import settings as django_settings

from integrations import registry as r
from integrations.connectors.osa import settings as s

_F = "integrations.connectors.osa.flows."  # + "<entity module>.<FlowClass>"

FLOWS = (
    r.FlowSpec(
        "push_shipping_requests",
        "Push shipping requests to OSA",
        "push",
        "shipping_requests",
        _F + "shipping_requests.PushShippingRequests",
        default_interval=timedelta(minutes=5),
        enable_setting="push_shipping_requests",
    ),
    r.FlowSpec(
        "cancel_shipping_requests",
        "Cancel shipping requests in OSA",
        "push",
        "shipping_requests",
        _F + "shipping_requests.CancelShippingRequests",
        default_interval=timedelta(minutes=5),
        enable_setting="push_shipping_requests",
    ),
    r.FlowSpec(
        "pull_order_statuses",
        "Pull OSA order statuses (cancellations, Waiting)",
        "pull",
        "shipping_requests",
        _F + "shipping_requests.PullOrderStatuses",
        default_interval=timedelta(minutes=15),
        enable_setting="push_shipping_requests",
    ),
    r.FlowSpec(
        "pull_fulfillments",
        "Pull fulfillment information from OSA",
        "pull",
        "fulfillments",
        _F + "fulfillments.PullFulfillments",
        default_interval=timedelta(minutes=15),
        enable_setting="pull_fulfillments",
    ),
    r.FlowSpec(
        "pull_inventory",
        "Pull inventory information from OSA",
        "pull",
        "inventory",
        _F + "inventory.PullInventory",
        default_interval=timedelta(hours=24),
        enable_setting="pull_inventory",
    ),
    r.FlowSpec(
        "push_products",
        "Push product catalog information to OSA",
        "push",
        "products",
        _F + "products.PushProducts",
        default_interval=timedelta(hours=1),
        enable_setting="push_products",
    ),
    r.FlowSpec(
        "pull_locations",
        "Pull locations from OSA",
        "pull",
        "locations",
        _F + "inventory.PullLocations",
        default_interval=timedelta(hours=6),
        enable_setting="pull_locations",
    ),
    r.FlowSpec(
        "push_returns",
        "Push returns (RMAs) to OSA",
        "push",
        "returns",
        _F + "returns.PushReturns",
        default_interval=timedelta(minutes=15),
        enable_setting="push_returns",
    ),
    r.FlowSpec(
        "pull_returns",
        "Pull returns (RMAs) updates from OSA",
        "pull",
        "returns",
        _F + "returns.PullReturns",
        default_interval=timedelta(hours=1),
        enable_setting="pull_returns",
    ),
    r.FlowSpec(
        "push_arrivals",
        "Push arrivals to OSA",
        "push",
        "arrivals",
        _F + "arrivals.PushArrivals",
        default_interval=timedelta(minutes=15),
        enable_setting="push_arrivals",
    ),
    r.FlowSpec(
        "pull_receipts",
        "Pull receipts from OSA",
        "pull",
        "receipts",
        _F + "arrivals.PullReceipts",
        default_interval=timedelta(hours=1),
        enable_setting="pull_receipts",
    ),
)

SPEC = r.ConnectorSpec(
    code="osa",
    label="OSA UC3",
    role=r.FULFILLMENT,
    sections=s.SECTIONS,
    settings=s.SETTINGS,
    credentials=s.CREDENTIALS,
    flows=FLOWS,
    # Stage first: a new integration starts on Stage (test there, then switch to Production). The
    # emulator environment is offered only when the sandbox is enabled.
    environments=s.SPEC_ENVIRONMENTS if django_settings.SANDBOX_ENABLED else s.SPEC_ENVIRONMENTS[:3],
    supports_channel_sku=True,
    connection_tester="integrations.connectors.osa.connection.osa_connection_test",
    mapping_kinds=("shipping_method",),
    readme="integrations/connectors/osa/README.md",
    # "Select OSA environment" is shown as the integration's one Environment control (integrations/forms.py).
    extra={"managed_routing_setting": "force_osa_managed_routing", "environment_setting": "osa_environment"},
)
