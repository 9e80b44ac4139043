"""Products ← Katana: variants (with their product) become catalog products by SKU, bound to the Katana variant id
(the binding orders use to fill `variant_id`). Incremental by `updated_at_min`; force resync re-reads all."""

from __future__ import annotations

from typing import Iterator

from integrations import services
from integrations.connectors.katana import mappers as m
from integrations.connectors.katana.flows.base import VARIANT_REF, KatanaFlow, setting_switch_off
from integrations.exceptions import PayloadError
from integrations.flows import FlowResult, Page, payload_hash


class PullProducts(KatanaFlow):
    code = "pull_products"

    def pages(self, cursor: dict) -> Iterator[Page]:
        force = bool(self.ctx.force_full or self.ctx.setting("force_product_resync"))
        for listing, next_cursor in self.pages_updated_since({} if force else cursor, self.client.variants_list,
                                                             extend="product_or_material"):
            yield Page(items=[v for v in listing.items if not isinstance(v, dict) or v.get("type", "product") == "product"],
                       next_cursor=next_cursor)
        if self.ctx.setting("force_product_resync") and not self.ctx.dry_run:
            setting_switch_off(integration=self.integration, key="force_product_resync")

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog import services as catalog_services
        from catalog.models import ChannelOption

        variants = []
        for raw in page.items:
            try:
                variants.append((m.variant_from_json(raw), raw))
            except PayloadError as exc:
                result.record_payload_error(exc, payload=raw)
        result.fetched += len(variants)
        refs = services.external_refs_get(integration=self.integration, kind=VARIANT_REF,
                                          external_ids=[str(v.id) for v, _ in variants])
        # A Katana SKU that differs from the master SKU is kept in the Katana row of the product's Channel Options.
        to_master = dict(ChannelOption.objects.filter(integration=self.integration,
                                                      channel_sku__in=[v.sku for v, _ in variants])
                         .values_list("channel_sku", "product__sku"))
        from catalog.sku import sku_normalize

        master = {v.id: sku_normalize(to_master.get(v.sku, v.sku)) for v, _ in variants}
        changed, hashes = [], {}
        for v, raw in variants:
            digest = payload_hash(raw)
            hashes[v.id] = digest
            if refs.get(str(v.id)) is not None and refs[str(v.id)].payload_hash == digest and refs[str(v.id)].object_id:
                result.unchanged += 1
                continue
            changed.append(v)
        if not changed:
            return
        products, created = catalog_services.products_upsert_from_remote(products=[
            # Katana's empty values never blank what the catalog has (a barcode, variant options set here).
            {"sku": master[v.id], "name": v.name, "price": v.price, "barcode": v.barcode or None,
             "variant_options": v.attributes or None} for v in changed])
        result.created += created
        result.updated += len(changed) - created
        services.external_refs_bind(integration=self.integration, kind=VARIANT_REF, rows=[
            {"external_id": str(v.id), "local": products[master[v.id]], "remote_updated_at": v.updated_at,
             "payload_hash": hashes[v.id]} for v in changed])
