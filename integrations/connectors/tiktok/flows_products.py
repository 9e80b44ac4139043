"""Products: pull (match TikTok SKUs to master SKUs) and push (create / update listings).

Pull reads Search Products (§6.1) incrementally by update time (a fixed window, read until a pass is proven
complete: paging.py; cursor {"since": epoch} = every product updated before it has been read) and writes Channel Options (remote product
and SKU ids, listing status, warehouses). Push reads the catalog, category attributes (§6.1), checks seed
002's listing rules, and creates or updates listings (Create Product, Partial Edit, Update Price, Activate /
Deactivate / Recover); each remote write goes through an OutboundPush keyed by the listing fingerprint, so a
change is never sent twice. The readiness-only variant ("Prepare for Product Push to TikTok") only stores
problems."""
from __future__ import annotations

from decimal import Decimal

from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations import services as integration_services
from integrations.connectors.tiktok import attributes as attrs
from integrations.connectors.tiktok.client import make_client
from integrations.connectors.tiktok import images as img
from integrations.connectors.tiktok import listing_rules as rules
from integrations.connectors.tiktok import mappers_catalog as m
from integrations.connectors.tiktok import paging
from integrations.connectors.tiktok import settings_catalog as s
from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok.flows_inventory import channel_quantities_for, force_setting_consumed
from integrations.exceptions import ConnectorError, PermanentError
from integrations.flows import Flow, Page, payload_hash
from integrations.models import Mapping, OpsException, OutboundPush

PUSH_REGIONS = ("US", "GB", "UK")  # Product push is US/UK only
PUSH_BATCH = 20  # listings per page (one transaction); also TikTok's activate/deactivate batch limit
KIND_PRODUCT_PUSH = "tiktok_product"
DELETED, ACTIVE, SELLER_DEACTIVATED, FROZEN, PENDING = "DELETED", "ACTIVATE", "SELLER_DEACTIVATED", "FREEZE", "PENDING"


def sku_inventory(per_warehouse: dict[str, int], *, default_id: str, pre_owned: bool = False) -> list[dict]:
    """A new listing's skus[].inventory[] (§6.2/§6.3) from {tiktok warehouse id: quantity} ("" = the default
    warehouse); warehouse_id left out only when no TikTok warehouse is known (a seller with one warehouse).
    Quantities clamped to [0, 99 999]; a pre-owned product is listed with at most 1."""
    rows: dict[str, int] = {}
    for warehouse, quantity in per_warehouse.items():
        key = warehouse or default_id
        rows[key] = rows.get(key, 0) + int(quantity)
    if not rows:
        rows = {default_id: 0}
    out = []
    for warehouse, quantity in sorted(rows.items()):
        quantity = min(ep.QUANTITY_MAX, max(0, quantity))
        if pre_owned:
            quantity = min(1, quantity)
        out.append({"warehouse_id": warehouse, "quantity": quantity} if warehouse else {"quantity": quantity})
    return out


# --- pull --------------------------------------------------------------------------------------

class PullProducts(Flow):
    code = "pull_products"

    def pages(self, cursor):
        client = make_client(self.ctx)
        targeted = [str(i) for i in self.ctx.params.get("product_ids") or []]
        if targeted:  # webhook: read just these products (Get Product); the cursor stays where it is
            yield Page(items=[client.product_get(product_id=pid) for pid in targeted], next_cursor=dict(cursor))
            return
        done = int(cursor.get("since") or 0)
        start = paging.window_start(cursor_value=cursor.get("since"), overlap=self.overlap, first_start=0)
        end = paging.window_end(self.ctx.started_at)

        def search(ge: int, lt: int, token: str) -> dict:  # Search Products bounds with update_time_le (inclusive)
            return client.products_search(page_token=token, update_time_ge=ge or None, update_time_le=lt - 1)

        # Search Products has no sort: the window is read until one pass is proven complete (paging.stable_pages).
        for page in paging.stable_pages(search, start=start, end=end, items_key="products"):
            yield Page(items=page.records, next_cursor={"since": max(done, page.complete_before)})

    def apply(self, page, result):
        from catalog import services as catalog_services

        skus = [row for product in page.items for row in m.product_skus(product)]
        result.fetched += len(skus)
        created, updated, unchanged, unknown = catalog_services.channel_options_bind_remote(
            integration=self.ctx.integration, remote_skus=skus)
        result.created += created
        result.updated += updated
        result.unchanged += unchanged
        known = {str(row.get("seller_sku") or "") for row in skus} - set(unknown) - {""}
        if known:  # SKUs that now match a master SKU: their unknown_sku exceptions are resolved
            integration_services.exceptions_resolve(
                dedup_keys=[f"tiktok:unknown_sku:{self.ctx.integration.pk}:{sku}" for sku in known], note="SKU now matches")
        for sku in unknown:
            result.record_error(external_id=sku, field="seller_sku", message=f"TikTok SKU {sku!r} has no master SKU in Switchyard",
                                exception=False)  # its own unknown_sku exception below
            integration_services.exception_raise(
                category=OpsException.Category.PRODUCT, code="unknown_sku", integration=self.ctx.integration,
                message=f"TikTok SKU {sku!r} does not match any master SKU", dedup_key=f"tiktok:unknown_sku:{self.ctx.integration.pk}:{sku}")


# --- push --------------------------------------------------------------------------------------

def _hazmat_present(product) -> bool:
    return "is_hazmat" in (product.hazmat or {})


class PushProducts(Flow):
    code = "push_products"
    prepare_only = False

    # -- remote phase --
    def pages(self, cursor):
        integration = self.ctx.integration
        state = integration.remote_state or {}
        region = str(state.get("shop_region") or state.get("region") or "").upper()
        if region not in PUSH_REGIONS:
            yield Page(items=[{"blocked": f"Product push is available for US and UK shops only (shop region {region or 'unknown'})"}],
                       next_cursor={})
            return
        from catalog import selectors as catalog_selectors

        self.client = make_client(self.ctx)
        self.region = region
        self.llm = attrs.llm_client_from_env()
        self.category_cache: dict[str, list[dict]] = {}
        self.rules_cache: dict[str, dict] = {}
        self.brand_cache: dict = {}
        # "Attributes mapping" setting, overridden by the integration's attribute Mappings (admin → Mappings).
        self.attribute_mapping = {**attrs.parse_attributes_mapping(self.ctx.setting("attributes_mapping")),
                                  **{src.strip().lower(): dst.strip().lower() for src, dst in Mapping.objects.filter(
                                      integration=integration, kind=Mapping.Kind.ATTRIBUTE).values_list("source", "target")}}
        self.forced = bool(self.ctx.force_full or self.ctx.setting("force_product_resync"))
        self.stock: dict | None = None  # {sku: {warehouse: qty}} for new listings, read once per run when needed
        skus = self.ctx.setting("product_update_skus") or None
        after = int(cursor.get("after_group") or 0)
        # Variants of one parent are contiguous (ordered by listing key), read in chunks: memory stays flat.
        products = (catalog_selectors.products_for_channel_push(integration=integration, skus=skus)
                    .annotate(listing_key=Coalesce("parent_id", "id")).filter(listing_key__gt=after)
                    .order_by("listing_key", "pk"))
        batch: list[list] = []
        for product in products.iterator(chunk_size=PUSH_BATCH * 10):
            if batch and batch[-1][0].listing_key == product.listing_key:
                batch[-1].append(product)
                continue
            if len(batch) == PUSH_BATCH:
                yield self._page(batch, last=False)
                batch = []
            batch.append([product])
        yield self._page(batch, last=True)

    def _page(self, batch: list[list], *, last: bool) -> Page:
        from catalog import services as catalog_services
        from catalog.models import ChannelOption

        products = [p for g in batch for p in g]
        if self.ctx.dry_run:
            # pages() runs outside the engine's rolled-back transaction: a dry run writes nothing here, so missing
            # Channel Options are only built in memory (with their defaults) for this report.
            options = {o.product_id: o for o in ChannelOption.objects.filter(integration=self.ctx.integration, product__in=products)}
            options.update({p.pk: ChannelOption(product=p, integration=self.ctx.integration) for p in products if p.pk not in options})
        else:
            options = catalog_services.channel_options_ensure(integration=self.ctx.integration, products=products)
        outcomes = [self._push_listing(group, options) for group in batch]
        return Page(items=outcomes, next_cursor={} if last else {"after_group": batch[-1][0].listing_key})

    def _category_attributes(self, category_id: str) -> list[dict]:
        if category_id not in self.category_cache:
            version = "v2" if self.region == "US" else ""
            self.category_cache[category_id] = self.client.category_attributes(
                category_id=category_id, category_version=version).get("attributes") or []
        return self.category_cache[category_id]

    def _category_rules(self, category_id: str) -> dict:
        if category_id not in self.rules_cache:
            self.rules_cache[category_id] = self.client.category_rules(category_id=category_id) or {}
        return self.rules_cache[category_id]

    def _derive_allowed(self, sku: str) -> bool:
        if self.ctx.setting("missing_attributes_mode") != s.MISSING_ATTRIBUTES_DERIVE:
            return False
        allow = self.ctx.setting("ai_attribute_skus") or []
        block = self.ctx.setting("ai_attribute_skus_blocked") or []
        return (not allow or sku in allow) and sku not in block

    def _build(self, group, options) -> dict:
        """The listing payload, its problems and its attribute plan (no remote writes)."""
        head = group[0].parent if group[0].parent_id else group[0]
        mapping = self.attribute_mapping
        category_id = head.category or ""
        attribute_list = self._category_attributes(category_id) if category_id else []
        facts = attrs.ProductFacts(sku=head.sku, name=head.name, description_html=head.description_html, brand=head.brand,
                                   variant_options={k: v for p in group for k, v in (p.variant_options or {}).items()},
                                   custom_fields={**(head.custom_fields or {}), **(group[0].custom_fields or {})})
        plan = attrs.plan_attributes(
            attributes=[a for a in attribute_list if a.get("type") != "SALES_PROPERTY"], facts=facts, mapping=mapping,
            required_only=bool(self.ctx.setting("required_attributes_only")), derive=self._derive_allowed(head.sku),
            allowed_names=self.ctx.setting("ai_attributes") or [], blocked_names=self.ctx.setting("ai_attributes_blocked") or [],
            llm=self.llm)
        images = list(head.images or [])
        weight_source = next((p for p in group if p.weight), head)
        problems = (rules.check_title(head.name) + rules.check_description(head.description_html) + rules.check_images(images)
                    + rules.check_weight(weight_source.weight) + rules.check_category(category_id))
        if category_id:
            problems += rules.check_category_rules(self._category_rules(category_id),
                                                   has_dimensions=bool(head.length and head.width and head.height))
        for product in group:
            price = product.price if product.price is not None else head.price
            problems += [dict(p, field=f"{p['field']}:{product.sku}") if len(group) > 1 else p for p in rules.check_price(price)]
        attribute_problems = [{"field": f"attribute:{name}", "message": f"Required attribute {name!r} has no value"}
                              for name in plan.missing]
        use_images_for_variants = (self.ctx.setting("first_child_image_as_variant_image")
                                   and s.PROP_IMAGES in (self.ctx.setting("product_update_properties") or []))
        skus = []
        for product in group:
            price = product.price if product.price is not None else head.price
            if price is None or Decimal(price) <= 0:
                continue
            list_price = None
            if self.ctx.setting("use_promotions"):
                list_price, _ = rules.promotion_list_price(price=price, compare_at_price=product.compare_at_price)
            sku = {"seller_sku": product.sku, **m.price_payload(price, product.currency, list_price=list_price)}
            sales = []
            for option_name, value in sorted((product.variant_options or {}).items()):
                sale = {"name": mapping.get(option_name.lower(), option_name.lower()), "value_name": str(value)}
                if use_images_for_variants and product.images and not sales:
                    sale["sku_img"] = {"uri": product.images[0]}
                sales.append(sale)
            if sales:
                sku["sales_attributes"] = sales
            skus.append(sku)
        payload = {"title": head.name, "description": head.description_html, "category_id": category_id,
                   "main_images": [{"uri": u} for u in images], "product_attributes": m.attributes_payload(plan.values),
                   "skus": skus}
        brand_id, brand_notes = img.brand_resolve(client=self.client, name=head.brand, category_id=category_id,
                                                  cache=self.brand_cache)
        if brand_id:
            payload["brand_id"] = brand_id
        if weight_source.weight:
            payload["package_weight"] = m.weight_payload(weight_source.weight, weight_source.weight_unit)
        dims = m.dimensions_payload(length=head.length, width=head.width, height=head.height, unit=head.dimension_unit)
        if dims:
            payload["package_dimensions"] = dims
        return {"head": head, "payload": payload, "problems": problems, "attribute_problems": attribute_problems, "plan": plan,
                "notes": brand_notes}

    def _push_listing(self, group, options) -> dict:
        outcome = {"product_ids": [p.pk for p in group], "skus": [p.sku for p in group], "problems": [], "action": "unchanged"}
        try:
            built = self._build(group, options)
        except ConnectorError as exc:
            outcome.update(action="failed", error=str(exc))
            return outcome
        plan: attrs.AttributePlan = built["plan"]
        outcome["derived"] = {k: v for k, v in plan.values.items() if v["source"] in (attrs.SOURCE_RULES, attrs.SOURCE_LLM)}
        outcome["derived_source"] = plan.derived_source
        outcome["problems"] = built["problems"] + built["attribute_problems"] + built["notes"]
        if built["problems"] or self.prepare_only:
            outcome["action"] = "blocked" if built["problems"] else "ready"
            return outcome
        payload = built["payload"]
        fingerprint = payload_hash({"payload": payload, "props": sorted(self.ctx.setting("product_update_properties") or []),
                                    "status": built["head"].status})
        outcome["fingerprint"] = fingerprint
        lead = options[group[0].pk]
        if not self.forced and all(options[p.pk].last_pushed_fingerprint == fingerprint for p in group):
            return outcome
        if self.ctx.dry_run:  # report what would be sent; send nothing
            outcome.update(action="dry_run", would_send=payload)
            return outcome
        # Image URLs → TikTok-hosted uris (uploaded once, cached); the fingerprint stays on the source URLs.
        built["payload"], image_problems = img.payload_images_upload(client=self.client, integration=self.ctx.integration,
                                                                     payload=payload)
        if image_problems:
            outcome["problems"] += image_problems
            outcome["action"] = "blocked"
            return outcome
        try:
            if lead.remote_product_id and not (lead.listing_status == DELETED and not self.ctx.setting("allow_recover_deleted_products")):
                self._update(group, options, built, outcome, fingerprint)
            else:
                self._create(group, built, outcome, fingerprint)
        except PermanentError as exc:
            outcome.update(action="failed", error=str(exc))
        return outcome

    def _once(self, *, kind: str, key: str, payload: dict, send) -> dict:
        """Send through the outbox: one SENT OutboundPush per key, never twice."""
        push, _ = OutboundPush.objects.get_or_create(integration=self.ctx.integration, kind=kind, idempotency_key=key[:191],
                                                     defaults={"payload": payload})
        if push.status == OutboundPush.Status.SENT:
            return push.response or {}
        push.attempts += 1
        try:
            response = send() or {}
        except ConnectorError as exc:
            OutboundPush.objects.filter(pk=push.pk).update(status=OutboundPush.Status.FAILED, attempts=push.attempts,
                                                           last_error=str(exc)[:2000])
            raise
        OutboundPush.objects.filter(pk=push.pk).update(status=OutboundPush.Status.SENT, attempts=push.attempts, response=response,
                                                       remote_id=str(response.get("product_id") or ""), sent_at=timezone.now())
        return response

    def _key(self, action: str, head, fingerprint: str) -> str:
        nonce = f":{self.ctx.run.pk}" if self.forced else ""
        return f"{action}:{head.sku}:{fingerprint}{nonce}"

    def _new_listing_stock(self, group) -> dict[str, list[dict]]:
        """{seller sku: skus[].inventory[]} for a new listing, per the Inventory settings (issue 16: a new listing
        is not created out of stock until the next inventory run). Not part of the fingerprint: stock changes
        alone never re-push a listing (push_inventory carries them)."""
        from inventory.models import Location

        if self.stock is None:
            integration = self.ctx.integration
            self.stock = channel_quantities_for(self.ctx)
            default = Location.objects.filter(integration=integration, is_default=True).first()
            self.default_warehouse = default.external_id if default else ""
            per_linked = not self.ctx.setting("inventory_location") and not self.ctx.setting("inventory_total_to_default_warehouse")
            # Per linked location: every linked TikTok warehouse is listed (0 where nothing is in stock), so later
            # inventory pushes can report to each of them.
            self.linked_warehouses = set(Location.objects.filter(integration=integration, is_active=True, links_in__isnull=False)
                                         .values_list("external_id", flat=True)) if per_linked else set()
        return {p.sku: sku_inventory({**{wh: 0 for wh in self.linked_warehouses}, **self.stock.get(p.sku, {})},
                                     default_id=self.default_warehouse, pre_owned=p.is_pre_owned)
                for p in group}

    def _create(self, group, built, outcome, fingerprint):
        head = built["head"]
        draft = bool(built["attribute_problems"])
        key = self._key("create", head, fingerprint)
        stock = self._new_listing_stock(group)
        payload = dict(built["payload"], skus=[dict(sku, inventory=stock.get(sku["seller_sku"], []))
                                               for sku in built["payload"]["skus"]])
        body = {**payload, "save_mode": "AS_DRAFT" if draft else "LISTING", "idempotency_key": payload_hash(key)[:64]}
        response = self._once(kind=KIND_PRODUCT_PUSH, key=key, payload=body,
                              send=lambda: self.client.product_create(product=body))
        # What TikTok now holds, so push_inventory sends only later changes (the outbox row's body if it was sent before).
        sent_body = OutboundPush.objects.filter(integration=self.ctx.integration, kind=KIND_PRODUCT_PUSH,
                                                idempotency_key=key[:191]).values_list("payload", flat=True).first() or body
        outcome.update(action="created", remote_product_id=str(response.get("product_id") or ""),
                       sku_ids={row.get("seller_sku"): str(row.get("id")) for row in response.get("skus") or []},
                       status="DRAFT" if draft else "PENDING",
                       inventory={sku.get("seller_sku"): {str(row.get("warehouse_id") or ""): int(row.get("quantity") or 0)
                                                          for row in sku.get("inventory") or []}
                                  for sku in sent_body.get("skus") or []})

    def _recover(self, head, product_id: str, fingerprint: str) -> None:
        self._once(kind=KIND_PRODUCT_PUSH, key=self._key("recover", head, fingerprint), payload={"product_ids": [product_id]},
                   send=lambda: self.client.products_recover(product_ids=[product_id]))

    def _update(self, group, options, built, outcome, fingerprint):
        """An existing listing, in the reference's order (§6.1): a DELETED one is recovered first (Recover:
        DELETED → SELLER_DEACTIVATED; Get Product is not for FREEZE/DELETED products, so it is read only after),
        activated when Switchyard's product is active, then edited. Update Price needs ACTIVATE, so a listing
        that is not live gets its prices by Partial Edit (which applies price changes without re-audit). A
        FREEZE listing is neither read nor written: a visible error until TikTok unfreezes it."""
        head, payload = built["head"], built["payload"]
        lead = options[group[0].pk]
        product_id = lead.remote_product_id
        allow_recover = self.ctx.setting("allow_recover_deleted_products")
        sent: list[str] = []
        recovered = False
        frozen = f"TikTok listing {product_id} is frozen (FREEZE): it cannot be read or changed until TikTok unfreezes it; nothing sent"
        if lead.listing_status == FROZEN:
            outcome.update(action="failed", error=frozen)
            return
        if lead.listing_status == DELETED:
            if not allow_recover:
                return self._create(group, built, outcome, fingerprint)
            self._recover(head, product_id, fingerprint)
            recovered = True
            sent.append("recover")
        remote = self.client.product_get(product_id=product_id)
        status = remote.get("status") or (SELLER_DEACTIVATED if recovered else lead.listing_status)
        if status == FROZEN:
            outcome.update(action="failed", error=frozen, status=FROZEN)
            return
        if status == DELETED and not recovered:  # deleted since we last looked
            if not allow_recover:
                return self._create(group, built, outcome, fingerprint)
            self._recover(head, product_id, fingerprint)
            recovered = True
            sent.append("recover")
            remote = self.client.product_get(product_id=product_id)
            status = remote.get("status") or SELLER_DEACTIVATED
        remote_skus = {sku.get("seller_sku"): str(sku.get("id")) for sku in remote.get("skus") or []}
        local_skus = {p.sku for p in group}
        consistent = set(remote_skus) == local_skus
        if not consistent and self.ctx.setting("block_update_if_variants_inconsistent"):
            outcome.update(action="failed", error=f"variants inconsistent with TikTok (TikTok: {sorted(remote_skus)}, "
                                                   f"Switchyard: {sorted(local_skus)}); update blocked")
            return
        want_active = head.status == head.Status.ACTIVE
        may_change_status = self.ctx.setting("allow_deactivate_products")
        # 1. activate (a recovered listing whenever Switchyard's product is active; otherwise per the setting)
        if want_active and status == SELLER_DEACTIVATED and (recovered or may_change_status):
            self._once(kind=KIND_PRODUCT_PUSH, key=self._key("activate", head, fingerprint), payload={"product_ids": [product_id]},
                       send=lambda: self.client.products_activate(product_ids=[product_id]))
            status = PENDING
            sent.append("activate")
        # 2. edit
        props = set(self.ctx.setting("product_update_properties") or [])
        safe_price_only = self.ctx.setting("safe_product_update") and not any(_hazmat_present(p) for p in [head, *group])
        send_prices = (s.PROP_PRICE in props or safe_price_only) and consistent
        prices = [{"id": remote_skus[sku["seller_sku"]], **{k: sku[k] for k in ("price", "list_price") if k in sku}}
                  for sku in payload["skus"] if sku["seller_sku"] in remote_skus] if send_prices else []
        if not consistent:
            # Bring TikTok's variants to parity (remote-only variants are removed by the full edit).
            self._once(kind=KIND_PRODUCT_PUSH, key=self._key("edit", head, fingerprint), payload=payload,
                       send=lambda: self.client.product_edit(product_id=product_id, product=payload))
            sent.append("full")
        else:
            partial = {}
            if not safe_price_only:
                if s.PROP_TITLE in props:
                    partial["title"] = payload["title"]
                if s.PROP_DESCRIPTION in props:
                    partial["description"] = payload["description"]
                if s.PROP_IMAGES in props:
                    partial["main_images"] = payload["main_images"]
                if s.PROP_ATTRIBUTES in props:
                    partial["product_attributes"] = payload["product_attributes"]
                if s.PROP_PACKAGE in props:
                    partial.update({k: payload[k] for k in ("package_weight", "package_dimensions") if k in payload})
                if s.PROP_IMAGES in props and any("sku_img" in a for sku in payload["skus"] for a in sku.get("sales_attributes", [])):
                    partial["skus"] = [{"id": remote_skus.get(sku["seller_sku"], ""), "seller_sku": sku["seller_sku"],
                                        "sales_attributes": sku["sales_attributes"]} for sku in payload["skus"] if "sales_attributes" in sku]
            if prices and status != ACTIVE:  # Update Price is for live listings only: prices ride on the partial edit
                by_id = {row["id"]: row for row in partial.get("skus") or []}
                for row in prices:
                    by_id[row["id"]] = {**by_id.get(row["id"], {}), **row}
                partial["skus"] = list(by_id.values())
                prices = []
            if partial:
                self._once(kind=KIND_PRODUCT_PUSH, key=self._key("partial", head, fingerprint), payload=partial,
                           send=lambda: self.client.product_partial_edit(product_id=product_id, product=partial))
                sent.append("partial:" + ",".join(sorted(k for k in partial)))
        if prices:
            self._once(kind=KIND_PRODUCT_PUSH, key=self._key("price", head, fingerprint), payload={"skus": prices},
                       send=lambda: self.client.prices_update(product_id=product_id, skus=prices))
            sent.append("price")
        # 3. deactivate last (per the setting)
        if may_change_status and not want_active and status == ACTIVE:
            self._once(kind=KIND_PRODUCT_PUSH, key=self._key("deactivate", head, fingerprint), payload={"product_ids": [product_id]},
                       send=lambda: self.client.products_deactivate(product_ids=[product_id]))
            status = SELLER_DEACTIVATED
            sent.append("deactivate")
        outcome.update(action="updated", remote_product_id=product_id, sku_ids=remote_skus, status=status, sent=sent,
                       price_only=bool(safe_price_only))

    _derivation_counts: dict | None = None

    def _note_derivation(self, source: str) -> None:
        """Say on the run which deriver filled attributes (rules or llm)."""
        if self._derivation_counts is None:
            self._derivation_counts = {}
        self._derivation_counts[source] = self._derivation_counts.get(source, 0) + 1
        self.ctx.run.note = ("attribute values derived by " + ", ".join(
            f"{src}: {n} listing(s)" for src, n in sorted(self._derivation_counts.items())))[:255]

    # -- local phase --
    def apply(self, page, result):
        from catalog.models import ChannelOption
        from catalog import services as catalog_services

        integration = self.ctx.integration
        for outcome in page.items:
            if "blocked" in outcome and "product_ids" not in outcome:
                result.record_error(field="region", message=outcome["blocked"])
                continue
            result.fetched += 1
            options = {o.product_id: o for o in ChannelOption.objects.filter(integration=integration,
                                                                             product_id__in=outcome["product_ids"])}
            for option in options.values():
                option.readiness_problems = outcome["problems"]
                option.derived_attributes = outcome.get("derived") or {}
                option.attributes_source = outcome.get("derived_source") or ""
            catalog_services.channel_options_set_readiness(options=list(options.values()))
            if outcome.get("derived_source"):
                self._note_derivation(outcome["derived_source"])
            action = outcome["action"]
            label = ", ".join(outcome["skus"])
            dedup = f"tiktok:product_push:{integration.pk}:{outcome['skus'][0]}"
            if outcome["problems"]:
                integration_services.exception_raise(
                    category=OpsException.Category.PRODUCT,
                    code="listing_incomplete" if action == "blocked" else "missing_attribute",
                    integration=integration, dedup_key=dedup, details={"problems": outcome["problems"]},
                    message=f"{label}: " + "; ".join(p["message"] for p in outcome["problems"][:5]))
            if action in ("blocked", "failed"):
                result.record_error(external_id=label, message=outcome.get("error") or "; ".join(
                    p["message"] for p in outcome["problems"][:5]))
                continue
            if action in ("ready", "unchanged", "dry_run"):
                result.unchanged += 1
                continue
            if not outcome["problems"]:
                integration_services.exceptions_resolve(dedup_keys=[dedup], note="listing pushed")
            for product_id, option in options.items():
                catalog_services.channel_option_record_push(
                    option=option, fingerprint=outcome["fingerprint"], remote_product_id=outcome.get("remote_product_id", ""),
                    remote_sku_id=(outcome.get("sku_ids") or {}).get(option.product.sku, ""), listing_status=outcome.get("status", ""))
                if outcome["problems"]:  # created as DRAFT: keep the problems visible
                    option.readiness_problems = outcome["problems"]
                    catalog_services.channel_options_set_readiness(options=[option])
                inventory = (outcome.get("inventory") or {}).get(option.product.sku)
                if inventory and "" not in inventory:  # the new listing's stock, sent with Create Product
                    option.last_pushed_inventory = inventory
                    catalog_services.channel_options_record_inventory(options=[option])
            if action == "created":
                result.created += 1
            else:
                result.updated += 1
        if not page.next_cursor and not self.prepare_only:
            force_setting_consumed(self.ctx, "force_product_resync")


class PrepareProducts(PushProducts):
    """"Prepare for Product Push to TikTok": check every product and store its problems; push nothing."""

    code = "prepare_products"
    prepare_only = True

