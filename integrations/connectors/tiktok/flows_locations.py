"""Locations: TikTok warehouses → Switchyard locations; FBT warehouses and their fulfillable inventory.

Reads: Get Warehouse List (§7), FBT warehouses and FBT inventory search (§7) when "Create FBT locations to
track TikTok fulfillable inventory quantities" is on. Writes: inventory Locations (warehouse / return / fbt /
consolidated) through inventory.services, FBT quantities (on_hand = fulfillable, inbound = in transit)."""
from __future__ import annotations

from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok.client import make_client
from integrations.connectors.tiktok import mappers_catalog as m
from integrations.exceptions import PayloadError
from integrations.flows import Flow, Page

FBT_REASON = "tiktok_fbt_sync"


class PullLocations(Flow):
    code = "pull_locations"

    def pages(self, cursor):
        client = make_client(self.ctx)
        warehouses = client.warehouses_list().get("warehouses") or []
        fbt = []
        if self.ctx.setting("create_fbt_locations"):
            fbt = client.fbt_warehouses_list().get("warehouses") or []
        yield Page(items=[{"kind": "warehouses", "warehouses": warehouses, "fbt_warehouses": fbt}], next_cursor={})
        if not fbt:
            return
        from catalog.models import ChannelOption

        fbt_ids = [str(w.get("fbt_warehouse_id")) for w in fbt if w.get("fbt_warehouse_id")]
        sku_rows = list(ChannelOption.objects.filter(integration=self.ctx.integration).exclude(remote_sku_id="")
                        .order_by("pk").values_list("remote_sku_id", "product__sku"))
        for start in range(0, len(sku_rows), ep.FBT_INVENTORY_MAX_SKU_IDS):
            batch = dict(sku_rows[start:start + ep.FBT_INVENTORY_MAX_SKU_IDS])
            records, token = [], ""
            while True:
                data = client.fbt_inventory_search(fbt_warehouse_ids=fbt_ids, sku_ids=list(batch), page_token=token)
                records.extend(data.get("inventory") or [])
                token = data.get("next_page_token") or ""
                if not token:
                    break
            yield Page(items=[{"kind": "fbt_inventory", "records": records, "skus": batch, "fbt_ids": fbt_ids}], next_cursor={})

    def apply(self, page, result):
        from inventory import services as inventory_services
        from inventory.models import Location

        integration = self.ctx.integration
        for item in page.items:
            if item["kind"] == "warehouses":
                rows = []
                for warehouse in item["warehouses"] + item["fbt_warehouses"]:
                    try:
                        rows.append(m.fbt_warehouse_to_location(warehouse) if "fbt_warehouse_id" in warehouse
                                    else m.warehouse_to_location(warehouse))
                    except PayloadError as exc:
                        result.record_payload_error(exc, payload=warehouse)
                if item["fbt_warehouses"] and self.ctx.setting("consolidate_fbt_inventory"):
                    rows.append({"external_id": m.FBT_CONSOLIDATED_EXTERNAL_ID, "name": f"{integration.name} FBT (consolidated)",
                                 "kind": m.KIND_CONSOLIDATED, "address": {}, "is_default": False})
                known = set(Location.objects.filter(integration=integration).values_list("external_id", flat=True))
                result.fetched += len(rows)
                inventory_services.locations_upsert_from_remote(integration=integration, locations=rows)
                result.created += sum(1 for r in rows if r["external_id"] not in known)
                result.unchanged += sum(1 for r in rows if r["external_id"] in known)
            else:
                per_location = m.fbt_inventory_quantities(item["records"], item["skus"])
                result.fetched += len(item["records"])
                locations = {loc.external_id: loc for loc in Location.objects.filter(
                    integration=integration, external_id__in=list(per_location) + [m.FBT_CONSOLIDATED_EXTERNAL_ID])}
                for external_id, quantities in per_location.items():
                    location = locations.get(external_id)
                    if location is not None:
                        result.updated += inventory_services.inventory_levels_set(
                            location=location, quantities=_levels(quantities), reason=FBT_REASON, run=self.ctx.run)
                consolidated = locations.get(m.FBT_CONSOLIDATED_EXTERNAL_ID)
                if consolidated is not None and self.ctx.setting("consolidate_fbt_inventory"):
                    result.updated += inventory_services.inventory_levels_set(
                        location=consolidated, quantities=_levels(m.consolidate(per_location)), reason=FBT_REASON,
                        run=self.ctx.run)


def _levels(quantities: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {sku: {"on_hand": q.get("fulfillable", 0), "fulfillable": q.get("fulfillable", 0), "inbound": q.get("inbound", 0)}
            for sku, q in quantities.items()}
