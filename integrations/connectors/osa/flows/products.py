"""OSA product push: catalog → OSA (create only unless updates are allowed)."""

from __future__ import annotations

from typing import Iterator

from integrations import services
from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.flows.base import (
    BATCH,
    HINTS,
    PRODUCT,
    OsaFlow,
    _note,
    _setting_switch_off,
    product_info,
    sku_matches,
)
from integrations.flows import FlowResult, Page, payload_hash


class PushProducts(OsaFlow):
    """Catalog → OSA. Create only unless "Allow updating products in OSA"; fingerprints skip unchanged."""

    code = "push_products"
    ref_kind = "product"

    def _candidates(self):
        """Active simple products and variants, annotated with their SKU at OSA (OSA row's Channel SKU, else master)."""
        from django.db.models import OuterRef, Subquery
        from django.db.models.functions import Coalesce

        from catalog.models import ChannelOption, Product

        channel_sku = (
            ChannelOption.objects.filter(product=OuterRef("pk"), integration=self.integration)
            .exclude(channel_sku="")
            .values("channel_sku")[:1]
        )
        return (
            Product.objects.filter(status=Product.Status.ACTIVE, kind__in=[Product.Kind.SIMPLE, Product.Kind.VARIANT])
            .annotate(osa_sku=Coalesce(Subquery(channel_sku), "sku"))
            .order_by("pk")
        )

    def pages(self, cursor: dict) -> Iterator[Page]:
        """Keyset pages of BATCH products: memory stays flat in the size of the catalog."""
        from django.db.models import Count

        force = bool(self.ctx.force_full or self.ctx.setting("force_product_resync"))
        allow_updates = bool(self.ctx.setting("allow_product_updates"))
        patterns = self.ctx.setting("product_sku_patterns") or []
        # The same OSA SKU on several products (the article's "silent mismatches"), found in the database.
        self.duplicates = set(
            self._candidates().order_by().values("osa_sku").annotate(n=Count("pk")).filter(n__gt=1).values_list("osa_sku", flat=True)
        )
        last = 0
        while True:
            chunk = list(self._candidates().filter(pk__gt=last)[:BATCH])
            if not chunk:
                break
            last = chunk[-1].pk
            # The patterns match the product's own SKU or its SKU at OSA (the OSA row's Channel SKU).
            chunk = [p for p in chunk if sku_matches(patterns, p.sku, p.osa_sku)]
            refs = services.external_refs_get(
                integration=self.integration, kind=self.ref_kind, external_ids=[p.osa_sku for p in chunk]
            )
            outcomes = [
                self._push(p, p.osa_sku, refs.get(p.osa_sku), force=force, allow_updates=allow_updates) for p in chunk
            ]
            if outcomes:
                yield Page(items=outcomes, next_cursor={})
        if self.ctx.setting("force_product_resync") and not self.ctx.dry_run:
            _setting_switch_off(integration=self.integration, key="force_product_resync")

    def _push(self, product, sku: str, ref, *, force: bool, allow_updates: bool) -> dict:
        outcome = {"product": product, "sku": sku}
        if sku in self.duplicates:
            return {**outcome, "kind": "duplicate"}
        info = product_info(product, sku=sku)
        if info.inventory_type not in osa.INVENTORY_TYPES:
            return {**outcome, "kind": "bad_inventory_type", "message": info.inventory_type}
        digest = payload_hash(osa.product_to_json(info))
        outcome["digest"] = digest
        if ref is not None and ref.payload_hash == digest and not force:
            return {**outcome, "kind": "unchanged"}
        try:
            if ref is None and self.adapter.product_create(product=info):
                return {**outcome, "kind": "created"}
            if not allow_updates:
                # Not sent: the binding keeps what was last really sent (or "" when OSA's copy was never ours),
                # so the change goes out once updates are allowed.
                return {**outcome, "kind": "update_blocked", "sent_digest": ref.payload_hash if ref is not None else ""}
            self.adapter.product_update(product=info)
        except osa.OsaRejected as exc:
            return {**outcome, "kind": "rejected", "message": f"{exc.message} {HINTS.get(str(exc.code), '')}".strip()}
        return {**outcome, "kind": "updated"}

    def apply(self, page: Page, result: FlowResult) -> None:
        integration = self.integration
        binds, blocked = [], 0
        for o in page.items:
            product, sku, kind = o["product"], o["sku"], o["kind"]
            result.fetched += 1
            self._asin_weight_check(product)
            if kind == "duplicate":
                others = ", ".join(sorted(p.sku for p in self._candidates().filter(osa_sku=sku)))
                services.exception_raise(
                    category=PRODUCT,
                    code="duplicate_sku",
                    integration=integration,
                    entity=product,
                    cause_key=f"sku:{sku}",
                    dedup_key=f"osa:duplicate_sku:{integration.pk}:{sku}",
                    message=f"SKU {sku} is used at OSA by several products ({others}); the same SKU on two products causes silent "
                    f"mismatches, so none of them is pushed. Make the SKUs (or OSA Channel SKUs) unique.",
                )
                result.record_error(external_id=sku, field="sku", message="duplicate SKU across products")
            elif kind == "bad_inventory_type":
                services.exception_raise(
                    category=PRODUCT,
                    code="invalid_inventory_type",
                    integration=integration,
                    entity=product,
                    dedup_key=f"osa:inventory_type:{integration.pk}:{product.pk}",
                    message=f"{product.sku}: inventory type {o['message']!r} is not accepted by OSA. {HINTS[osa.ERR_INVALID_INVENTORY_TYPE]}",
                )
                result.record_error(external_id=sku, field="inventory_type", message=f"custom inventory type {o['message']!r}")
            elif kind == "rejected":
                services.exception_raise(
                    category=PRODUCT,
                    code="osa_product_rejected",
                    integration=integration,
                    entity=product,
                    dedup_key=f"osa:product_rejected:{integration.pk}:{product.pk}",
                    message=o["message"],
                )
                result.record_error(external_id=sku, message=o["message"])
            elif kind == "unchanged":
                result.unchanged += 1
            elif kind == "update_blocked":
                blocked += 1
                result.unchanged += 1
                binds.append({"external_id": sku, "local": product, "payload_hash": o["sent_digest"]})
            else:
                setattr(result, kind, getattr(result, kind) + 1)
                binds.append({"external_id": sku, "local": product, "payload_hash": o["digest"]})
                services.exceptions_resolve(
                    dedup_keys=[
                        f"osa:product_rejected:{integration.pk}:{product.pk}",
                        f"osa:inventory_type:{integration.pk}:{product.pk}",
                    ],
                    note="pushed to OSA",
                )
        services.external_refs_bind(integration=integration, kind=self.ref_kind, rows=binds)
        if blocked:
            _note(self.ctx, f"{blocked} product change(s) not sent: “Allow updating products in OSA” is off (create only)")

    def _asin_weight_check(self, product) -> None:
        custom = product.custom_fields or {}
        default = custom.get("asin_default_weight")
        if not custom.get("asin") or default in (None, "") or product.weight is None:
            return
        if str(product.weight.normalize()) != str(type(product.weight)(str(default)).normalize()):
            services.exception_raise(
                category=PRODUCT,
                code="asin_weight_modified",
                integration=self.integration,
                entity=product,
                dedup_key=f"osa:asin_weight:{self.integration.pk}:{product.pk}",
                message=f"{product.sku} (ASIN {custom['asin']}): weight changed to {product.weight} from the default {default}. Weight is "
                f"not inherited for ASINs and OSA uses the default values only: {HINTS[osa.ERR_ASIN_WEIGHT]}",
            )
