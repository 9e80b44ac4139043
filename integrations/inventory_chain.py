"""Stock reaches the channels at once: when a remote-reported figure moves a location's available quantity
(inventory.services.inventory_levels_set, after commit), every channel the location is linked to gets its inventory
push asked for now, through the push flow's outbox, instead of waiting for that flow's next scheduled poll.

Why the outbox (flow_targeted_request) and not a plain run: requests made while the push is running are merged and
drained right after it (no lost change, no second full wait for the dispatcher), a burst of pull pages collapses
into one or two push runs, and a broker outage leaves the request pending for the dispatcher's safety net. The push
still only sends what changed (TikTok: `last_pushed_inventory`), so the chain adds no remote calls the scheduled
push would not make: it makes them sooner. The scheduled poll stays on as the reconciliation."""
from __future__ import annotations

import logging
from typing import Iterable

logger = logging.getLogger(__name__)

# The params of the requested run: the source location ids (recorded on the run; the push recomputes every SKU).
SOURCE_LOCATIONS_PARAM = "source_location_ids"


def inventory_push_request(*, location_id: int, product_ids: Iterable[int]) -> int:
    """Ask the push flow of every integration fed by this location (LocationLink) to run now. Returns how many
    flows were asked. Only enabled flows declaring FlowSpec.runs_on_stock_change, of active integrations."""
    from inventory.models import LocationLink

    from integrations import services
    from integrations.models import FlowState

    if not list(product_ids):
        return 0
    targets = set(LocationLink.objects.filter(source_id=location_id, target__integration__is_active=True)
                  .values_list("target__integration_id", flat=True))
    asked = 0
    for state in FlowState.objects.filter(integration_id__in=targets, enabled=True).select_related("integration"):
        try:
            spec = state.integration.spec.flow(state.flow)
        except KeyError:  # a flow state left by a flow the connector no longer has
            continue
        if not spec.runs_on_stock_change:
            continue
        services.flow_targeted_request(flow_state=state, params={SOURCE_LOCATIONS_PARAM: [location_id]})
        asked += 1
    if asked:
        logger.info("inventory.push_requested", extra={"location": location_id, "flows": asked})
    return asked
