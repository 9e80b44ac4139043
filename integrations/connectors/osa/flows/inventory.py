"""OSA locations and inventory pulls."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from django.utils import timezone

from integrations import services
from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa import settings as osa_settings
from integrations.connectors.osa.flows.base import INVENTORY, OsaFlow, _note, _setting_switch_off, _split_errors, sku_matches
from integrations.flows import FlowResult, Page, payload_hash


LOCATION_KINDS = {osa.LOC_WAREHOUSE: "warehouse", osa.LOC_MANAGED: "3pl_managed"}
ALLOWED_TYPES = {
    osa_settings.LOCATION_TYPE_WAREHOUSE: {osa.LOC_WAREHOUSE},
    osa_settings.LOCATION_TYPE_MANAGED: {osa.LOC_MANAGED},
    osa_settings.LOCATION_TYPE_BOTH: {osa.LOC_WAREHOUSE, osa.LOC_MANAGED},
}


class PullLocations(OsaFlow):
    code = "pull_locations"

    def pages(self, cursor: dict) -> Iterator[Page]:
        yield Page(items=[self.adapter.locations_list()], next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services

        listing = page.items[0]
        for error in listing.errors:
            result.record_payload_error(error)
        page = Page(items=listing.items, next_cursor={})
        result.fetched += len(page.items)
        before = set(self.integration.locations.values_list("external_id", flat=True))
        inventory_services.locations_upsert_from_remote(
            integration=self.integration,
            locations=[
                {
                    "external_id": loc.code,
                    "name": loc.name,
                    "kind": LOCATION_KINDS[loc.type],
                    "address": loc.address,
                    "is_default": loc.is_default,
                    # OSA reports Fulfillable (net of its own commitments): see inventory.services.
                    "reports_fulfillable": True,
                }
                for loc in page.items
            ],
        )
        created = sum(1 for loc in page.items if loc.code not in before)
        result.created += created
        result.updated += len(page.items) - created
        services.exceptions_resolve(
            dedup_keys=[f"osa:unknown_location:{self.integration.pk}:{loc.code}" for loc in page.items],
            note="location pulled from OSA",
        )


class PullInventory(OsaFlow):
    """Fulfillable quantities per OSA location → inventory_levels_set (see README: Fulfillable, not On-hand)."""

    code = "pull_inventory"
    ref_kind = "inventory"

    def pages(self, cursor: dict) -> Iterator[Page]:
        self.force = bool(self.ctx.force_full or self.ctx.setting("force_inventory_resync"))
        pages = osa.iterate(self.adapter.inventory_list)
        while True:
            # When OSA's figures were (at the latest) taken: before the request. A shipping request acknowledged
            # by OSA before this instant is in OSA's figure; one acknowledged later is not (inventory.services).
            self.as_of = timezone.now()
            listing = next(pages, None)
            if listing is None:
                break
            yield Page(items=listing.items + listing.errors, next_cursor={})
        if self.ctx.setting("force_inventory_resync") and not self.ctx.dry_run:
            _setting_switch_off(integration=self.integration, key="force_inventory_resync")

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services
        from inventory.models import Location

        integration = self.integration
        rows: list[osa.RemoteInventory] = _split_errors(page.items, result)
        result.fetched += len(rows)
        allowed = ALLOWED_TYPES.get(self.ctx.setting("inventory_location_types"), ALLOWED_TYPES[osa_settings.LOCATION_TYPE_BOTH])
        patterns = self.ctx.setting("inventory_sku_patterns") or []
        locations = {
            loc.external_id: loc for loc in Location.objects.filter(integration=integration).prefetch_related("links_out")
        }
        refs = services.external_refs_get(
            integration=integration, kind=self.ref_kind, external_ids=[f"{r.location_code}|{r.sku}" for r in rows]
        )
        from catalog.models import ChannelOption

        channel_to_master = dict(
            ChannelOption.objects.filter(integration=integration)
            .exclude(channel_sku="")
            .values_list("channel_sku", "product__sku")
        )
        remapped_masters = set(channel_to_master.values())
        from inventory.models import InventoryLevel

        awaiting = set(
            InventoryLevel.objects.filter(location__in=list(locations.values()), committed_unseen__gt=0).values_list(
                "location__external_id", "product__sku"
            )
        )
        by_location: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        binds, skipped_type, skipped_sku = [], 0, 0
        for row in rows:
            location = locations.get(row.location_code)
            if location is None:
                services.exception_raise(
                    category=INVENTORY,
                    code="osa_location_not_pulled",
                    integration=integration,
                    dedup_key=f"osa:unknown_location:{integration.pk}:{row.location_code}",
                    message=f"OSA reports inventory at location {row.location_code}, which is not under Inventory → Locations. "
                    f"Enable Pull locations from OSA (required) and run it.",
                )
                result.record_error(
                    external_id=f"{row.location_code}|{row.sku}", field="location_code", message="location not pulled from OSA",
                    exception=False,  # one osa_location_not_pulled exception per location, not one per row
                )
                continue
            location_type = row.location_type or (osa.LOC_MANAGED if location.kind == "3pl_managed" else osa.LOC_WAREHOUSE)
            if location_type not in allowed:
                skipped_type += 1
                continue
            if not sku_matches(patterns, row.sku, channel_to_master.get(row.sku, "")):
                skipped_sku += 1
                continue
            key = f"{row.location_code}|{row.sku}"
            master = channel_to_master.get(row.sku, row.sku)
            if row.sku not in channel_to_master and row.sku in remapped_masters:
                result.record_error(
                    external_id=key,
                    field="sku",
                    message=f"OSA SKU {row.sku} is the master SKU of a product whose OSA "
                    f"Channel SKU is different; ignored (check the OSA row of its Channel Options)",
                )
                continue
            digest = payload_hash({"fulfillable": row.fulfillable, "on_hand": row.on_hand})
            # An unchanged figure is still applied where hub commitments count against the stored one: it is newer,
            # so requests OSA acknowledged since then stop counting (skipping it kept a SKU low for as long as
            # OSA's figure did not change).
            if not self.force and refs.get(key) is not None and refs[key].payload_hash == digest:
                result.unchanged += 1
                if (row.location_code, master) not in awaiting:
                    continue
            else:
                result.updated += 1
            # Fulfillable feeds availability (minus the hub's commitments OSA has not counted yet); OSA's on hand is
            # kept for information only. See README "Which figure reaches TikTok".
            by_location[row.location_code][master] = {"fulfillable": row.fulfillable}
            if row.on_hand is not None and row.on_hand >= 0:
                by_location[row.location_code][master]["on_hand"] = row.on_hand
            binds.append({"external_id": key, "local": None, "payload_hash": digest})
        for code, quantities in by_location.items():
            location = locations[code]
            inventory_services.inventory_levels_set(
                location=location,
                quantities=quantities,
                reason="osa_inventory_pull",
                run=self.ctx.run,
                basis="fulfillable",
                as_of=self.as_of,
            )
            if not location.links_out.all():
                services.exception_raise(
                    category=INVENTORY,
                    code="location_not_linked",
                    integration=integration,
                    entity=location,
                    dedup_key=f"osa:unlinked:{location.pk}",
                    message=f"Inventory of OSA location {location.name} ({code}) is not reaching TikTok Shop: the location is not "
                    f"linked. Open it under Inventory → Locations and link it to the matching TikTok Shop location.",
                )
            else:
                services.exceptions_resolve(dedup_keys=[f"osa:unlinked:{location.pk}"], note="location linked")
        services.external_refs_bind(integration=integration, kind=self.ref_kind, rows=binds)
        if skipped_type:
            _note(self.ctx, f"{skipped_type} row(s) outside “Process inventory information only for these locations types”")
        if skipped_sku:
            _note(self.ctx, f"{skipped_sku} row(s) outside the inventory SKU patterns")
