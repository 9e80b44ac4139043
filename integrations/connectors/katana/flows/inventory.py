"""Locations and inventory ← Katana. Katana is the source of truth for stock: per Katana location, In stock −
Committed (Katana documents no "available") becomes the Fulfillable figure of the linked Switchyard location
(inventory.services, basis "fulfillable": net of Katana's commitments, which include our sales orders once
created). At most once per "Inventory buffer (minutes)" (the article's 1-hour buffer)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Iterator

from django.utils import timezone

from integrations import services
from integrations.connectors.katana import mappers as m
from integrations.connectors.katana.flows.base import VARIANT_REF, KatanaFlow, note, setting_switch_off
from integrations.exceptions import PayloadError
from integrations.flows import FlowResult, Page
from integrations.models import OpsException


class PullLocations(KatanaFlow):
    code = "pull_locations"

    def pages(self, cursor: dict) -> Iterator[Page]:
        items = []
        for listing in self.client.iterate("/locations"):
            items.extend(listing.items)
        yield Page(items=items, next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services

        good = []
        for raw in page.items:
            try:
                good.append(m.location_from_json(raw))
            except PayloadError as exc:
                result.record_payload_error(exc, payload=raw)
        before = set(self.integration.locations.values_list("external_id", flat=True))
        inventory_services.locations_upsert_from_remote(integration=self.integration, locations=good)
        result.fetched += len(good)
        created = sum(1 for loc in good if loc["external_id"] not in before)
        result.created += created
        result.updated += len(good) - created
        services.exceptions_resolve(
            dedup_keys=[f"katana:unknown_location:{self.integration.pk}:{loc['external_id']}" for loc in good],
            note="location pulled from Katana")


class PullInventory(KatanaFlow):
    code = "pull_inventory"

    def pages(self, cursor: dict) -> Iterator[Page]:
        variant_ids = [int(v) for v in self.ctx.params.get("variant_ids", []) if str(v).isdigit()]
        if variant_ids:
            yield from self._variant_pages(variant_ids)
            return
        force = bool(self.ctx.force_full or self.ctx.setting("force_inventory_resync"))
        buffer = timedelta(minutes=max(0, int(self.ctx.setting("inventory_buffer_minutes") or 0)))
        taken = datetime.fromisoformat(cursor["taken_at"]) if cursor.get("taken_at") else None
        # A scheduled run comes at the dispatcher tick nearest its due time: the buffer ends at the tick nearest it too.
        if not force and taken is not None and timezone.now() - taken < buffer - services.DISPATCH_TICK / 2:
            note(self.ctx, f"inventory buffer: last taken {taken:%H:%M:%S} UTC, next after {(taken + buffer):%H:%M:%S}")
            return
        self.as_of = timezone.now()
        pages = self.client.iterate("/inventory", extend="variant")
        while True:
            # Katana's figures were taken (at the latest) before this request: a sales order Katana accepted before
            # this instant is in its Committed figure (inventory.services.inventory_commitments_acknowledged).
            self.as_of = timezone.now()
            listing = next(pages, None)
            if listing is None:
                break
            yield Page(items=listing.items, next_cursor=dict(cursor))
        yield Page(items=[], next_cursor={"taken_at": self.as_of.isoformat()})
        if self.ctx.setting("force_inventory_resync") and not self.ctx.dry_run:
            setting_switch_off(integration=self.integration, key="force_inventory_resync")

    def _variant_pages(self, variant_ids: list[int]) -> Iterator[Page]:
        """A webhook's targeted read (the stock of these variants moved): outside the buffer, which exists to space
        full reads; one call per PAGE_LIMIT variants; the cursor (taken_at) is left alone (targeted runs never move it)."""
        pages = self.client.iterate("/inventory", variant_id=variant_ids, extend="variant")
        while True:
            self.as_of = timezone.now()  # before the request, as in the full read
            listing = next(pages, None)
            if listing is None:
                return
            yield Page(items=listing.items, next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog.models import ChannelOption
        from inventory import services as inventory_services
        from inventory.models import Location

        rows = []
        for raw in page.items:
            try:
                rows.append(m.stock_from_json(raw))
            except PayloadError as exc:
                result.record_payload_error(exc, payload=raw)
        if not rows:
            return
        result.fetched += len(rows)
        locations = {loc.external_id: loc for loc in Location.objects.filter(integration=self.integration)
                     .prefetch_related("links_out")}
        # SKU for each row: Katana's (extend=variant), else the product bound to that variant id.
        bound = dict(services.external_refs_get(integration=self.integration, kind=VARIANT_REF,
                                                external_ids=[str(r.variant_id) for r in rows if not r.sku]).items())
        from catalog.models import Product

        bound_skus = dict(Product.objects.filter(pk__in=[ref.object_id for ref in bound.values() if ref.object_id])
                          .values_list("pk", "sku"))
        to_master = dict(ChannelOption.objects.filter(integration=self.integration, channel_sku__in=[r.sku for r in rows if r.sku])
                         .values_list("channel_sku", "product__sku"))
        by_location: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        for row in rows:
            code = str(row.location_id)
            if code not in locations:
                services.exception_raise(
                    category=OpsException.Category.INVENTORY, code="katana_location_not_pulled", integration=self.integration,
                    dedup_key=f"katana:unknown_location:{self.integration.pk}:{code}",
                    message=f"Katana reports stock at location {code}, which is not under Inventory → Locations: run "
                            f"“Pull locations from Katana”.")
                result.record_error(external_id=f"{code}|{row.variant_id}", field="location_id",
                                    message="location not pulled from Katana", exception=False)
                continue
            ref = bound.get(str(row.variant_id))
            sku = to_master.get(row.sku, row.sku) if row.sku else bound_skus.get(ref.object_id if ref else None, "")
            if not sku:
                result.record_error(external_id=f"{code}|{row.variant_id}", field="variant_id",
                                    message=f"Katana variant {row.variant_id} has no SKU Switchyard knows: pull products")
                continue
            by_location[code][sku] = {"fulfillable": row.available, "on_hand": max(0, row.in_stock)}
            result.updated += 1
        for code, quantities in by_location.items():
            location = locations[code]
            inventory_services.inventory_levels_set(location=location, quantities=quantities, reason="katana_inventory_pull",
                                                    run=self.ctx.run, basis="fulfillable", as_of=self.as_of)
            if not location.links_out.all():
                services.exception_raise(
                    category=OpsException.Category.INVENTORY, code="location_not_linked", integration=self.integration,
                    entity=location, dedup_key=f"katana:unlinked:{location.pk}",
                    message=f"Stock of Katana location {location.name} ({code}) is not reaching TikTok Shop: link it to the "
                            f"TikTok pickup/return warehouse(s) under Inventory → Locations.")
            else:
                services.exceptions_resolve(dedup_keys=[f"katana:unlinked:{location.pk}"], note="location linked")
