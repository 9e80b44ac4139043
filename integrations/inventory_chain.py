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
    """Ask every enabled push flow that publishes this location's stock (FlowSpec.stock_sources: by link, total or
    one chosen location, as the channel's settings say) to run now. Returns how many flows were asked."""
    from django.db.models import Q

    from integrations import registry, services
    from integrations.models import FlowState

    if not list(product_ids):
        return 0
    chained = {(connector.code, flow.code): flow.stock_sources for connector in registry.CONNECTORS.values()
               for flow in connector.flows if flow.stock_sources}
    if not chained:
        return 0
    wanted = Q()
    for connector, flow in chained:
        wanted |= Q(integration__connector=connector, flow=flow)
    asked = 0
    for state in FlowState.objects.filter(wanted, enabled=True, integration__is_active=True).select_related("integration"):
        sources = registry.import_string(chained[(state.integration.connector, state.flow)])
        if location_id not in sources(state.integration):
            continue
        services.flow_targeted_request(flow_state=state, params={SOURCE_LOCATIONS_PARAM: [location_id]})
        asked += 1
    if asked:
        logger.info("inventory.push_requested", extra={"location": location_id, "flows": asked})
    return asked
