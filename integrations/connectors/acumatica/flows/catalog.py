"""Products ← Acumatica (StockItem, incremental on LastModified), inventory in the chosen direction, locations
(warehouses) in the chosen direction."""
from __future__ import annotations

from typing import Iterator

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.sku import sku_key
from integrations.connectors.acumatica import mappers as m
from integrations.connectors.acumatica.client import AcumaticaConflict, AcumaticaRejected
from integrations.connectors.acumatica.flows.base import AcumaticaFlow, acumatica_skus, note, setting_switch_off
from integrations.connectors.acumatica.inventory_push import AdjustmentLine, InventoryPushAdapter
from integrations.exceptions import PayloadError
from integrations.flows import FlowResult, Page, payload_hash
from integrations.models import ExternalRef

REASON = "acumatica"


class PullProducts(AcumaticaFlow):
    """Stock items → catalog products by InventoryID (exact): the product whose master SKU or Acumatica Channel SKU is
    that InventoryID is updated, else one is created; bound through ExternalRef(kind="product")."""

    code = "pull_products"

    def pages(self, cursor: dict) -> Iterator[Page]:
        force = bool(self.ctx.setting("force_product_resync"))
        since, until = self.window(cursor, force=force)
        keep = {} if force else dict(cursor)
        for rows in self.client.stock_items_changed(since=since, until=until):
            items = []
            for row in rows:
                try:
                    items.append(m.stock_item_from_json(row))
                except PayloadError as exc:
                    items.append(exc)
            yield Page(items=items, next_cursor=keep)
        yield Page(items=[("done", force)], next_cursor={"since": until.isoformat()})

    def item_external_id(self, item) -> str:
        return getattr(item, "inventory_id", "") or ""

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog.models import Product
        from inventory.services import products_for_skus

        if page.items and isinstance(page.items[0], tuple):
            if page.items[0][1]:
                setting_switch_off(integration=self.integration, key="force_product_resync")
            return
        items = []
        for item in page.items:
            if isinstance(item, PayloadError):
                result.record_payload_error(item)
            else:
                items.append(item)
        found = products_for_skus(skus=[i.inventory_id for i in items], integration=self.integration)
        keys = {sku_key(i.inventory_id) for i in items if i.inventory_id not in found}
        by_key = {sku_key(p.sku): p for p in Product.objects.annotate(k=Lower("sku")).filter(k__in=keys)} if keys else {}
        refs = {r.external_id: r for r in ExternalRef.objects.filter(integration=self.integration, kind="product",
                                                                     external_id__in=[i.inventory_id for i in items])}
        ct = ContentType.objects.get_for_model(Product)
        for item in items:
            result.fetched += 1
            digest = payload_hash({"d": item.description, "p": str(item.price), "s": item.status})
            product = found.get(item.inventory_id)
            ref = refs.get(item.inventory_id)
            if ref is not None and ref.payload_hash == digest and product is not None:
                result.unchanged += 1
                continue
            status = Product.Status.ACTIVE if item.status.lower() in ("", "active") else Product.Status.INACTIVE
            if product is None:
                clash = by_key.get(sku_key(item.inventory_id))
                if clash is not None:  # exact matching only: a SKU differing by case or spacing is another item
                    result.record_error(external_id=item.inventory_id, field="InventoryID",
                                        message=f"Acumatica item {item.inventory_id!r} differs from product {clash.sku!r} only "
                                                "by case or spacing: enter the Acumatica SKU in the Acumatica row of the "
                                                "product's Channel Options (Channel SKU), or fix it in Acumatica.")
                    continue
                try:
                    with transaction.atomic():
                        product = Product.objects.create(sku=item.inventory_id, name=item.description or item.inventory_id,
                                                         price=item.price, status=status)
                except (IntegrityError, ValidationError) as exc:
                    result.record_error(external_id=item.inventory_id, field="InventoryID",
                                        message=f"product {item.inventory_id!r} not created: {exc}")
                    continue
                result.created += 1
            else:
                changed = {k: v for k, v in (("name", item.description or product.name), ("price", item.price),
                                             ("status", status)) if v is not None and getattr(product, k) != v}
                for k, v in changed.items():
                    setattr(product, k, v)
                if changed:
                    product.save(update_fields=[*changed, "updated_at"])
                    result.updated += 1
                else:
                    result.unchanged += 1
            ExternalRef.objects.update_or_create(
                integration=self.integration, kind="product", external_id=item.inventory_id,
                defaults={"content_type": ct, "object_id": product.pk, "payload_hash": digest,
                          "remote_updated_at": item.updated_at, "synced_at": timezone.now()})


def _excluded(entries) -> set[str]:
    return {e.strip() for e in entries or [] if e and e.strip()}


class PullInventory(AcumaticaFlow):
    """Per item, InventorySummaryInquiry over every warehouse → inventory levels of the linked Acumatica locations:
    QtyAvailableForShipment as the Fulfillable figure, QtyOnHand as on hand (then on to TikTok through its push)."""

    code = "pull_inventory"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from catalog.models import Product
        from inventory.models import Location
        from inventory.services import products_for_skus

        started = timezone.now()
        locations = {loc.external_id: loc for loc in Location.objects.filter(integration=self.integration, is_active=True)
                     .exclude(external_id="")}
        if not locations:
            note(self.ctx, "no Acumatica locations yet: enable Process locations information (pull) first")
        excluded = _excluded(self.ctx.setting("inventory_excluded_skus"))
        matched_only = bool(self.ctx.setting("inventory_matched_skus_only"))
        skipped = 0
        for ids in self.client.stock_item_ids():
            known = products_for_skus(skus=ids, integration=self.integration)
            figures = []
            for inventory_id in ids:
                product: Product | None = known.get(inventory_id)
                if inventory_id in excluded or (product is not None and product.sku in excluded):
                    skipped += 1
                    continue
                if matched_only and product is None:
                    skipped += 1
                    continue
                figures.extend(self.client.inventory_summary(inventory_id=inventory_id))
            yield Page(items=[("figures", figures, locations, started)], next_cursor={})
        yield Page(items=[("done", skipped)], next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services

        for item in page.items:
            if item[0] == "done":
                if item[1]:
                    note(self.ctx, f"{item[1]} item(s) skipped by SKU scoping")
                if self.ctx.setting("force_inventory_resync"):
                    setting_switch_off(integration=self.integration, key="force_inventory_resync")
                continue
            _, figures, locations, started = item
            by_location: dict[str, dict[str, dict[str, int]]] = {}
            unknown_wh = set()
            for f in figures:
                result.fetched += 1
                if f.warehouse_id not in locations:
                    unknown_wh.add(f.warehouse_id)
                    result.unchanged += 1
                    continue
                by_location.setdefault(f.warehouse_id, {})[f.inventory_id] = {"on_hand": f.on_hand, "fulfillable": f.available}
            for wid, quantities in by_location.items():
                applied = inventory_services.inventory_levels_set(location=locations[wid], quantities=quantities, reason=REASON,
                                                                  run=self.ctx.run, basis="fulfillable", as_of=started)
                result.updated += applied
            if unknown_wh:
                note(self.ctx, f"warehouses not linked to a location: {', '.join(sorted(unknown_wh))[:120]}")


class PushInventory(AcumaticaFlow):
    """The hub's on-hand quantities at each Acumatica location → one released InventoryAdjustment per warehouse
    holding the differences (assumed contract: inventory_push.py). Only changed quantities are sent, unless
    Force inventory resync."""

    code = "push_inventory"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from inventory.models import InventoryLevel, Location

        adapter = InventoryPushAdapter(self.client, integration_pk=self.integration.pk)
        released = 0 if self.ctx.dry_run else adapter.release_pending()
        if released:
            note(self.ctx, f"{released} pending adjustment(s) of an earlier run released first")
        force = bool(self.ctx.setting("force_inventory_resync"))
        excluded = _excluded(self.ctx.setting("inventory_excluded_skus"))
        matched_only = bool(self.ctx.setting("inventory_matched_skus_only"))
        bound = set(ExternalRef.objects.filter(integration=self.integration, kind="product").values_list("object_id", flat=True))
        for location in Location.objects.filter(integration=self.integration, is_active=True).exclude(external_id="").order_by("pk"):
            levels = list(InventoryLevel.objects.filter(location=location).select_related("product").order_by("pk"))
            skus = acumatica_skus(integration=self.integration, product_ids=[lv.product_id for lv in levels])
            from catalog.models import ChannelOption

            with_channel_sku = set(ChannelOption.objects.filter(integration=self.integration, product_id__in=list(skus))
                                   .exclude(channel_sku="").values_list("product_id", flat=True))
            lines, hashes = [], {}
            refs = {r.external_id: r for r in ExternalRef.objects.filter(integration=self.integration, kind="inventory",
                                                                          external_id__startswith=f"{location.external_id}:")}
            for level in levels:
                inventory_id = skus.get(level.product_id, level.product.sku)
                if level.product.sku in excluded or inventory_id in excluded:
                    continue
                if matched_only and level.product_id not in bound and level.product_id not in with_channel_sku:
                    continue
                key = f"{location.external_id}:{inventory_id}"
                digest = payload_hash({"on_hand": level.on_hand})
                if not force and key in refs and refs[key].payload_hash == digest:
                    continue
                current = adapter.on_hand(inventory_id=inventory_id).get(location.external_id, 0)
                hashes[key] = (digest, level.product_id)
                if level.on_hand != current:
                    lines.append(AdjustmentLine(inventory_id, location.external_id, level.on_hand - current))
            nbr = ""
            if lines and not self.ctx.dry_run:
                try:
                    nbr = adapter.adjust(reference=f"{self.ctx.run.pk}-{location.external_id}", lines=lines,
                                         description=f"Switchyard inventory sync ({len(lines)} item(s))")
                except AcumaticaRejected as exc:
                    yield Page(items=[("rejected", location, exc.message)], next_cursor={})
                    continue
            yield Page(items=[("sent", location, nbr, lines, hashes)], next_cursor={})
        yield Page(items=[("done",)], next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog.models import Product

        ct = ContentType.objects.get_for_model(Product)
        for item in page.items:
            if item[0] == "done":
                if self.ctx.setting("force_inventory_resync"):
                    setting_switch_off(integration=self.integration, key="force_inventory_resync")
                continue
            if item[0] == "rejected":
                result.record_error(external_id=item[1].external_id, field="InventoryAdjustment",
                                    message=f"inventory not pushed to warehouse {item[1].external_id}: {item[2]}")
                continue
            _, location, nbr, lines, hashes = item
            result.fetched += len(hashes)
            result.updated += len(lines)
            result.unchanged += len(hashes) - len(lines)
            for key, (digest, product_id) in hashes.items():
                ExternalRef.objects.update_or_create(integration=self.integration, kind="inventory", external_id=key,
                                                     defaults={"content_type": ct, "object_id": product_id,
                                                               "payload_hash": digest, "synced_at": timezone.now()})
            if nbr:
                note(self.ctx, f"adjustment {nbr} at {location.external_id}")


class PullLocations(AcumaticaFlow):
    """Warehouses → hub locations (upsert on the WarehouseID), linkable to TikTok warehouses in Inventory → Locations."""

    code = "pull_locations"

    def pages(self, cursor: dict) -> Iterator[Page]:
        yield Page(items=self.client.warehouses_list(), next_cursor={})

    def item_external_id(self, item) -> str:
        return getattr(item, "warehouse_id", "")

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services
        from inventory.models import Location

        before = set(Location.objects.filter(integration=self.integration).values_list("external_id", flat=True))
        inventory_services.locations_upsert_from_remote(integration=self.integration, locations=[
            {"external_id": w.warehouse_id, "name": f"Acumatica {w.description}"[:120], "kind": Location.Kind.WAREHOUSE}
            for w in page.items if w.active])
        for w in page.items:
            result.fetched += 1
            if not w.active:
                result.unchanged += 1
            elif w.warehouse_id in before:
                result.unchanged += 1
            else:
                result.created += 1


class PushLocations(AcumaticaFlow):
    """This integration's locations without a WarehouseID → Acumatica warehouses (insert only); the WarehouseID
    (the location code, upper case, 10 characters: Acumatica's key length) is stored as the location's external id."""

    code = "push_locations"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from inventory.models import Location

        out = []
        for location in Location.objects.filter(integration=self.integration, external_id="").order_by("pk")[:100]:
            wid = location.code.upper().replace("-", "")[:10]
            try:
                remote = self.client.warehouse_create(warehouse_id=wid, description=location.name)
            except AcumaticaConflict:  # 412: it exists; ours (an earlier answer lost) only when it carries our name
                existing = self.client.warehouse_get(warehouse_id=wid)
                if existing.description != location.name:
                    out.append((location, None, f"warehouse {wid} already exists in Acumatica as “{existing.description}”; "
                                                "rename this location's code or enter the WarehouseID to link as its external id"))
                    continue
                remote = existing
            except AcumaticaRejected as exc:
                out.append((location, None, exc.message))
                continue
            out.append((location, remote, ""))
        yield Page(items=out, next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory.models import Location

        for location, remote, message in page.items:
            result.fetched += 1
            if remote is None:
                result.record_error(external_id=location.code, field="WarehouseID", message=f"warehouse not created: {message}")
                continue
            Location.objects.filter(pk=location.pk, external_id="").update(external_id=remote.warehouse_id)
            result.created += 1

