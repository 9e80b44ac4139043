"""OSA flows, one module per entity: glue between the adapter (remote I/O in `pages()`) and the domain
services (writes in `apply()`). `base` holds the shared OsaFlow; the registry (../__init__.py) names each flow
by its module. The names below stay importable from `integrations.connectors.osa.flows`."""

from integrations.connectors.osa.flows.arrivals import ARRIVALS_REASON, PullReceipts, PushArrivals
from integrations.connectors.osa.flows.base import DryRunAdapter, OsaFlow, osa_skus, product_info, sku_matches
from integrations.connectors.osa.flows.fulfillments import PullFulfillments
from integrations.connectors.osa.flows.inventory import PullInventory, PullLocations
from integrations.connectors.osa.flows.products import PushProducts
from integrations.connectors.osa.flows.returns import PullReturns, PushReturns, rma_reference
from integrations.connectors.osa.flows.shipping_requests import (
    CancelShippingRequests,
    PullOrderStatuses,
    PushShippingRequests,
    SendOutcome,
)

__all__ = [
    "ARRIVALS_REASON",
    "CancelShippingRequests",
    "DryRunAdapter",
    "OsaFlow",
    "PullFulfillments",
    "PullInventory",
    "PullLocations",
    "PullOrderStatuses",
    "PullReceipts",
    "PullReturns",
    "PushArrivals",
    "PushProducts",
    "PushReturns",
    "PushShippingRequests",
    "SendOutcome",
    "osa_skus",
    "product_info",
    "rma_reference",
    "sku_matches",
]
