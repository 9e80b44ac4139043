"""Inventory push: Switchyard quantities → TikTok (Update Inventory, reference §6.3).

Reads inventory.selectors (per linked location, totals to the default TikTok warehouse, or one selected
location) and Channel Options (remote SKU ids, the SKU's warehouses, what was last sent). Sends one Update
Inventory call per TikTok product listing every warehouse of each SKU; only changed quantities go out.
Increases can be held back until 12:00-2:00 AM Pacific time. Pre-owned listings are deactivated when sold
out instead of being set to 0. Writes `ChannelOption.last_pushed_inventory` / `listing_status`.

Absolute quantities are idempotent on TikTok's side (setting 5 twice leaves 5), so inventory needs no
OutboundPush: `last_pushed_inventory` keeps re-runs from resending."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.utils import timezone

from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok.client import make_client
from integrations.exceptions import PermanentError
from integrations.flows import Flow, Page

INVENTORY_PAGE_SKUS = 100  # SKUs per page/transaction (one Update Inventory call per TikTok product, §6.3)
PACIFIC = ZoneInfo("America/Los_Angeles")
INCREASE_WINDOW = (time(0, 0), time(2, 0))  # "between 12:00AM PST - 2:00AM PST", local Pacific time
SELLER_DEACTIVATED = "SELLER_DEACTIVATED"


def force_setting_consumed(ctx, key: str) -> None:
    """A "Force ... resync" switch is a one-shot trigger: turn it off once the full run has been applied."""
    from integrations import services as integration_services
    from integrations.models import SettingsChange

    if ctx.dry_run or not ctx.setting(key):
        return
    integration_services.integration_update_settings(
        integration=ctx.integration, values={**ctx.integration.settings, key: False}, source=SettingsChange.Source.SYSTEM,
        summary=f"{ctx.integration.spec.setting(key).label}: done")


def in_increase_window(now: datetime) -> bool:
    local = now.astimezone(PACIFIC).time()
    return INCREASE_WINDOW[0] <= local < INCREASE_WINDOW[1]


def hold_increases(desired: dict[str, int], last: dict[str, int]) -> tuple[dict[str, int], bool]:
    """Outside the window: keep increases at the last pushed value; decreases go at once."""
    held = False
    out = {}
    for warehouse, quantity in desired.items():
        previous = last.get(warehouse)
        if previous is not None and quantity > previous:
            out[warehouse] = previous
            held = True
        elif previous is None and quantity > 0:
            out[warehouse] = quantity  # first push of a new listing is not an "increase"
        else:
            out[warehouse] = quantity
    return out, held


def channel_quantities_for(ctx) -> dict[str, dict[str, int]]:
    """{sku: {tiktok warehouse id: quantity}} per the Inventory settings ("Push inventory from a specific location
    only", else "Send total inventory to a default warehouse id", else per linked location). Inventory push and
    Create Product (the new listing's skus[].inventory[]) both use it."""
    return _Quantities(ctx).quantities()


def stock_source_ids(integration) -> set[int]:
    """The locations whose stock this shop's inventory push publishes, per the same settings as channel_quantities_for
    (integrations/inventory_chain.py asks the push to run when one of them moves)."""
    from inventory import selectors as inventory_selectors
    from inventory.models import Location

    code = integration.setting("inventory_location")
    if code:
        return set(Location.objects.filter(code=code).values_list("pk", flat=True))
    return inventory_selectors.channel_source_ids(
        integration=integration, total=bool(integration.setting("inventory_total_to_default_warehouse")))


class _Quantities:
    def __init__(self, ctx):
        self.ctx = ctx

    def quantities(self) -> dict[str, dict[str, int]]:
        from inventory import selectors as inventory_selectors
        from inventory.models import Location

        integration = self.ctx.integration
        default = Location.objects.filter(integration=integration, is_default=True).first()
        default_id = default.external_id if default else ""
        code = self.ctx.setting("inventory_location")
        if code:
            source = Location.objects.filter(code=code).first()
            if source is None:
                raise PermanentError(f"Push inventory from a specific location only: no location {code!r}")
            return self._from_location(source, default_id)
        if self.ctx.setting("inventory_total_to_default_warehouse"):
            return inventory_selectors.channel_quantities(integration=integration, total=True)
        return inventory_selectors.channel_quantities(integration=integration)

    def _from_location(self, source, default_id: str) -> dict[str, dict[str, int]]:
        from catalog.models import Product
        from inventory import selectors as inventory_selectors

        products = dict(Product.objects.filter(channel_options__integration=self.ctx.integration).values_list("pk", "sku"))
        avail = inventory_selectors.available_by_location(product_ids=list(products), location_ids=[source.pk])
        bundles = inventory_selectors.bundle_components(bundle_ids=list(products))
        component_ids = {cid for comps in bundles.values() for cid, _ in comps}
        avail.update(inventory_selectors.available_by_location(product_ids=list(component_ids), location_ids=[source.pk]))
        buffer = inventory_selectors.channel_buffer(integration=self.ctx.integration)
        out = {}
        for pk, sku in products.items():
            if pk in bundles:
                value = inventory_selectors.bundle_available(
                    components=bundles[pk], available={cid: avail.get((source.pk, cid), 0) for cid, _ in bundles[pk]})
            else:
                value = max(0, avail.get((source.pk, pk), 0))
            out[sku] = {default_id: max(0, value - buffer)}
        return out


class PushInventory(Flow):
    code = "push_inventory"
    # Injectable clock (tests); returns an aware datetime.
    clock = staticmethod(timezone.now)

    def _quantities(self) -> dict[str, dict[str, int]]:
        return channel_quantities_for(self.ctx)

    def pages(self, cursor):
        from catalog import selectors as catalog_selectors
        from inventory.models import Location

        integration = self.ctx.integration
        forced = bool(self.ctx.force_full or self.ctx.setting("force_inventory_resync"))
        window_rule = bool(self.ctx.setting("inventory_increase_window")) and not in_increase_window(self.clock())
        quantities = self._quantities()
        default = Location.objects.filter(integration=integration, is_default=True).first()
        default_id = default.external_id if default else ""
        client = make_client(self.ctx)
        # A run asked for by a stock change (integrations/inventory_chain.py) is targeted: it goes over every SKU, not
        # from where an interrupted scheduled run left its cursor.
        after = 0 if self.ctx.params else int(cursor.get("after_pk") or 0)
        options = catalog_selectors.channel_options_for_inventory(
            integration=integration, skus=self.ctx.setting("inventory_update_skus") or None).filter(pk__gt=after)
        total = options.count()
        done = 0
        while done < total:
            batch = list(options.filter(pk__gt=after)[:INVENTORY_PAGE_SKUS])
            if not batch:
                break
            done += len(batch)
            after = batch[-1].pk
            outcomes, by_product, deactivate = [], {}, []
            for option in batch:
                product = option.product
                per_wh = quantities.get(product.sku, {})
                warehouses = list(option.remote_warehouse_ids or []) or ([default_id] if default_id else [])
                if not warehouses:
                    outcomes.append({"option_id": option.pk, "error": f"{product.sku}: no TikTok warehouse to report to"})
                    continue
                last = {k: int(v) for k, v in (option.last_pushed_inventory or {}).items()}
                desired = {}
                for wh in warehouses:
                    if wh in per_wh:
                        value = per_wh[wh]
                    elif "" in per_wh and wh == (default_id or warehouses[0]):
                        value = per_wh[""]
                    else:
                        value = last.get(wh, 0)  # TikTok needs every warehouse listed: keep what it has
                    desired[wh] = min(ep.QUANTITY_MAX, max(0, int(value)))
                if product.is_pre_owned:
                    if option.listing_status == SELLER_DEACTIVATED:
                        outcomes.append({"option_id": option.pk, "skipped": "pre-owned listing already deactivated (sold)"})
                        continue
                    if sum(desired.values()) == 0:
                        deactivate.append(option)
                        continue
                    # Seed 002: live pre-owned listings always have inventory 1.
                    desired = {wh: min(1, q) for wh, q in desired.items()}
                held = False
                if window_rule:
                    desired, held = hold_increases(desired, last)
                if not forced and desired == last:
                    outcomes.append({"option_id": option.pk, "unchanged": True, "held": held})
                    continue
                by_product.setdefault(option.remote_product_id, []).append((option, desired, held))
            if self.ctx.dry_run:  # report what would be sent; send nothing
                outcomes += [{"option_id": o.pk, "pushed": d, "held": h} for rows in by_product.values() for o, d, h in rows]
                outcomes += [{"option_id": o.pk, "deactivated": True} for o in deactivate]
                by_product, deactivate = {}, []
            for product_id, rows in by_product.items():
                body = [{"id": o.remote_sku_id, "inventory": [{"warehouse_id": wh, "quantity": q} for wh, q in sorted(d.items())]}
                        for o, d, _ in rows]
                try:
                    data = client.inventory_update(product_id=product_id, skus=body)
                except PermanentError as exc:
                    outcomes += [{"option_id": o.pk, "error": f"{o.product.sku}: {exc}"} for o, _, _ in rows]
                    continue
                failed = {str((e.get("detail") or {}).get("sku_id")): e.get("message", "") for e in data.get("errors") or []}
                for option, desired, held in rows:
                    if option.remote_sku_id in failed:
                        outcomes.append({"option_id": option.pk, "error": f"{option.product.sku}: {failed[option.remote_sku_id]}"})
                    else:
                        outcomes.append({"option_id": option.pk, "pushed": desired, "held": held})
            for start_d in range(0, len(deactivate), ep.PRODUCT_STATUS_BATCH):  # <= 20 ids per call
                chunk = deactivate[start_d:start_d + ep.PRODUCT_STATUS_BATCH]
                ids = sorted({o.remote_product_id for o in chunk})
                data = client.products_deactivate(product_ids=ids)
                failed = {str(e.get("detail", {}).get("product_id", "")) for e in data.get("errors") or []}
                for option in chunk:
                    if option.remote_product_id in failed:
                        outcomes.append({"option_id": option.pk, "error": f"{option.product.sku}: deactivation failed"})
                    else:
                        outcomes.append({"option_id": option.pk, "deactivated": True})
            last_page = done >= total or len(batch) < INVENTORY_PAGE_SKUS
            yield Page(items=outcomes, next_cursor={} if last_page else {"after_pk": after})

    def apply(self, page, result):
        from catalog import services as catalog_services
        from catalog.models import ChannelOption

        options = ChannelOption.objects.in_bulk([o["option_id"] for o in page.items])
        changed = []
        for outcome in page.items:
            option = options[outcome["option_id"]]
            result.fetched += 1
            if "error" in outcome:
                result.record_error(external_id=option.product.sku, field="inventory", message=outcome["error"])
            elif outcome.get("deactivated"):
                option.listing_status = SELLER_DEACTIVATED
                changed.append(option)
                result.updated += 1
            elif "pushed" in outcome:
                option.last_pushed_inventory = outcome["pushed"]
                changed.append(option)
                result.updated += 1
            else:
                result.unchanged += 1
        catalog_services.channel_options_record_inventory(options=changed)
        if not page.next_cursor:
            force_setting_consumed(self.ctx, "force_inventory_resync")
