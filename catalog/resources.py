"""django-import-export resources for products (with variants and bundle components) and Channel Options.

Products: natural key ``sku``; ``parent_sku`` names the parent of a variant (in the database or anywhere in
the same file); ``components`` lists a bundle's components as ``SKU1:2;SKU2:1`` (replaces the bundle's
components when the column is present). Channel Options: natural key (product sku, integration name)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from import_export import fields

from django.db.models.functions import Lower

from catalog.models import (BundleComponent, ChannelOption, Product, channel_sku_master_message, channel_sku_taken_message,
                            master_sku_channel_message)
from catalog.sku import sku_normalize
from integrations.resources import CHUNK, BulkModelResource, CachedForeignKeyWidget, _chunks, integration_widget

PRODUCT_FIELDS = ("sku", "kind", "name", "parent_sku", "brand", "category", "price", "compare_at_price", "currency",
                  "weight", "weight_unit", "barcode", "status", "components")


def _parse_components(text: str) -> list[tuple[str, int]]:
    """'SKU1:2;SKU2:1' → [("SKU1", 2), ("SKU2", 1)]; ValueError on anything else."""
    out = []
    for part in (p.strip() for p in (text or "").split(";")):
        if not part:
            continue
        sku, sep, qty = part.rpartition(":")
        if not sep or not sku.strip():
            raise ValueError(f"{part!r} is not SKU:quantity")
        try:
            quantity = int(qty)
        except ValueError:
            raise ValueError(f"quantity of {sku.strip()!r} is not a whole number: {qty!r}") from None
        if quantity < 1:
            raise ValueError(f"quantity of {sku.strip()!r} must be at least 1")
        out.append((sku.strip(), quantity))
    return out


def _normalise_components(text):
    """'ＳＫＵ1:2;SKU\u200b2:1' → 'SKU1:2;SKU2:1' (left as is when it does not parse: the row reports it)."""
    try:
        return ";".join(f"{sku_normalize(sku)}:{qty}" for sku, qty in _parse_components(str(text)))
    except ValueError:
        return text


class ProductResource(BulkModelResource):
    parent_sku = fields.Field(column_name="parent_sku", attribute=None, dehydrate_method="dehydrate_parent_sku")
    components = fields.Field(column_name="components", attribute=None, dehydrate_method="dehydrate_components")

    class Meta(BulkModelResource.Meta):
        model = Product
        import_id_fields = ("sku",)
        fields = PRODUCT_FIELDS
        export_order = PRODUCT_FIELDS

    column_cleaners = {"sku": sku_normalize, "parent_sku": sku_normalize, "components": _normalise_components}

    def export_queryset(self, queryset):
        return queryset.select_related("parent").prefetch_related("components__component").order_by("sku")

    def dehydrate_parent_sku(self, product):
        return product.parent.sku if product.parent_id else ""

    def dehydrate_components(self, product):
        return ";".join(f"{c.component.sku}:{c.quantity}" for c in sorted(product.components.all(), key=lambda c: c.component.sku))

    # --- import ---------------------------------------------------------------------------

    def row_key(self, row) -> tuple:
        return (str(row.get("sku") or "").strip(),)

    def instance_key(self, instance) -> tuple:
        return (instance.sku,)

    def load_existing(self, dataset) -> dict:
        headers = dataset.headers or []
        wanted = set()
        for column in ("sku", "parent_sku"):
            if column in headers:
                wanted.update(str(v).strip() for v in dataset[column] if v not in (None, ""))
        if "components" in headers:
            for text in dataset["components"]:
                try:
                    wanted.update(sku for sku, _ in _parse_components(text))
                except ValueError:
                    pass
        self.file_skus = {str(v).strip() for v in dataset["sku"]} if "sku" in headers else set()
        self.has_components = "components" in headers
        self.has_parent = "parent_sku" in headers
        self.by_sku: dict[str, Product] = {}  # existing products and, as rows are read, the file's products
        for chunk in _chunks(sorted(wanted)):
            for product in Product.objects.filter(sku__in=chunk):
                self.by_sku[product.sku] = product
        self.known_skus = self.file_skus | set(self.by_sku)
        # Existing SKUs equal to a file SKU but for letter case: refused per row (check_unique).
        self.case_twins: dict[str, str] = {}
        self._seen_case: dict[str, tuple[str, int]] = {}
        lowered = sorted({s.lower() for s in self.file_skus if s})
        for chunk in _chunks(lowered):
            for sku in Product.objects.annotate(sku_lower=Lower("sku")).filter(sku_lower__in=chunk).values_list("sku", flat=True):
                self.case_twins[sku.lower()] = sku
        # Other products' channel SKUs equal to a file SKU whatever the case (Product.validate_unique's reverse check).
        self.channel_twins: dict[str, list[tuple[int, int, str, str, object]]] = {}
        for chunk in _chunks(lowered):
            for option in (ChannelOption.objects.annotate(sku_lower=Lower("channel_sku")).filter(sku_lower__in=chunk)
                           .select_related("product", "integration")):
                self.channel_twins.setdefault(option.sku_lower, []).append(
                    (option.product_id, option.integration_id, option.channel_sku, option.product.sku, option.integration))
        self.own_channel: set[tuple[int, int]] = set()
        # Existing file products with their own channel SKU on an integration never reach it by master SKU.
        holders = sorted({p.pk for sku, p in self.by_sku.items() if sku in self.file_skus}) if self.channel_twins else []
        for chunk in _chunks(holders):
            self.own_channel.update(ChannelOption.objects.filter(product_id__in=chunk).exclude(channel_sku="")
                                    .values_list("product_id", "integration_id"))
        self.pending_parent: dict[int, str] = {}
        self.pending_components: dict[str, list[tuple[str, int]]] = {}
        return {(sku,): p for sku, p in self.by_sku.items() if sku in self.file_skus}

    def check_unique(self, instance) -> None:
        key = (instance.sku or "").lower()
        twin = self.case_twins.get(key)
        if twin is not None and twin != instance.sku:
            raise ValidationError({"sku": f"SKU {instance.sku!r} differs only by letter case from existing SKU {twin!r}."})
        seen = self._seen_case.get(key)
        if seen is not None and seen[0] != instance.sku:
            raise ValidationError({"sku": f"SKU {instance.sku!r} differs only by letter case from {seen[0]!r} "
                                          f"on row {seen[1]} of this file."})
        for product_id, integration_id, channel_sku, product_sku, integration in self.channel_twins.get(key, ()):
            if product_id != instance.pk and (instance.pk, integration_id) not in self.own_channel:
                raise ValidationError({"sku": master_sku_channel_message(instance.sku, channel_sku, product_sku, integration)})
        self._seen_case.setdefault(key, (instance.sku, self._row_number))
        super().check_unique(instance)

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        instance.sku = (instance.sku or "").strip()
        known = self.known_skus
        instance._parent_sku = None
        if self.has_parent:
            parent_sku = str(row.get("parent_sku") or "").strip()
            instance._parent_sku = parent_sku
            if parent_sku and parent_sku not in known:
                errors["parent_sku"] = [f"no product with SKU {parent_sku!r} (in the database or this file)"]
            elif parent_sku and parent_sku == instance.sku:
                errors["parent_sku"] = ["a product cannot be its own parent"]
        instance._components = None
        if self.has_components:
            try:
                components = _parse_components(str(row.get("components") or ""))
            except ValueError as exc:
                errors["components"] = [str(exc)]
            else:
                missing = [sku for sku, _ in components if sku not in known]
                if missing:
                    errors["components"] = [f"no product with SKU {', '.join(map(repr, missing))}"]
                elif instance.sku in {sku for sku, _ in components}:
                    errors["components"] = ["a bundle cannot contain itself"]
                elif len({sku for sku, _ in components}) != len(components):
                    errors["components"] = ["a component is listed twice"]
                elif components and instance.kind != Product.Kind.BUNDLE:
                    errors["components"] = [f"only bundles have components (kind is {instance.kind!r})"]
                else:
                    instance._components = components
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # Product.clean() wants parent_id for a variant; the parent may be a row of this file not yet written,
        # so a resolvable parent SKU stands in for it while cleaning.
        stand_in = bool(instance._parent_sku) and instance.parent_id is None
        if stand_in:
            instance.parent_id = -1
        elif self.has_parent and not instance._parent_sku:
            instance.parent_id = None
        try:
            super().validate_instance(instance, import_validation_errors, validate_unique)
        finally:
            if stand_in:
                instance.parent_id = None
        self.by_sku[instance.sku] = instance
        if self.has_parent:
            self.pending_parent[id(instance)] = instance._parent_sku or ""
        if instance._components is not None:
            self.pending_components[instance.sku] = instance._components

    def before_bulk_write(self, instances, *, created: bool) -> None:
        for instance in instances:
            parent_sku = self.pending_parent.get(id(instance))
            if parent_sku is None:
                continue
            instance.parent = self.by_sku[parent_sku] if parent_sku else None

    def write_creates(self, instances) -> None:
        # Parents first: a variant's parent must have its primary key before the variant is inserted.
        remaining = list(instances)
        while remaining:
            ready = [p for p in remaining if p.parent is None or p.parent.pk is not None]
            if not ready:
                raise ValueError("circular parent SKUs: " + ", ".join(p.sku for p in remaining[:10]))
            Product.objects.bulk_create(ready, batch_size=self.BULK_BATCH)
            for product in ready:
                product.parent = product.parent  # re-read parent_id from the now-saved parent
            remaining = [p for p in remaining if p.pk is None]

    def get_bulk_update_fields(self):
        names = [f for f in PRODUCT_FIELDS if f not in ("sku", "parent_sku", "components")]
        headers = set(self._headers)
        names = [n for n in names if n in headers]
        if self.has_parent:
            names.append("parent")
        return names or ["name"]

    def before_import(self, dataset, **kwargs):
        self._headers = list(dataset.headers or [])
        super().before_import(dataset, **kwargs)

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if result.has_errors() or result.has_validation_errors() or kwargs.get("dry_run") and not kwargs.get("using_transactions", True):
            return
        if not self.pending_components:
            return
        bundles = {sku: self.by_sku[sku] for sku in self.pending_components}
        bundle_ids = [p.pk for p in bundles.values()]
        for chunk in _chunks(bundle_ids, CHUNK):
            BundleComponent.objects.filter(bundle_id__in=chunk).delete()
        BundleComponent.objects.bulk_create(
            [BundleComponent(bundle=bundles[sku], component=self.by_sku[c_sku], quantity=qty)
             for sku, items in self.pending_components.items() for c_sku, qty in items],
            batch_size=self.BULK_BATCH)


class ChannelOptionResource(BulkModelResource):
    """Channel Options rows: product (master SKU), integration (name), channel_sku, sync_enabled. A channel
    SKU on a connector without one (TikTok) is refused by ChannelOption.clean()."""

    product = fields.Field(attribute="product", column_name="product",
                           widget=CachedForeignKeyWidget(Product, "sku", "product with SKU"))
    integration = fields.Field(attribute="integration", column_name="integration", widget=integration_widget())
    column_cleaners = {"product": sku_normalize, "channel_sku": sku_normalize}

    class Meta(BulkModelResource.Meta):
        model = ChannelOption
        fields = ("product", "integration", "channel_sku", "sync_enabled")
        import_id_fields = ("product", "integration")

    def export_queryset(self, queryset):
        return queryset.select_related("product", "integration").order_by("product__sku", "integration__name")

    def load_existing(self, dataset) -> dict:
        products = [p.pk for p in (self.fields["product"].widget.cache or {}).values()]
        integrations = [i.pk for i in (self.fields["integration"].widget.cache or {}).values()]
        existing = {}
        self.taken_channel_skus: dict[tuple[int, str], int] = {}
        for chunk in _chunks(products):
            for option in ChannelOption.objects.filter(product_id__in=chunk, integration_id__in=integrations).select_related("product", "integration"):
                existing[(option.product_id, option.integration_id)] = option
        if "channel_sku" in (dataset.headers or []):
            # Keyed case-insensitively (lower()), like the uniq_channel_sku_ci constraint: look-alikes collide.
            skus = sorted({str(v).strip().lower() for v in dataset["channel_sku"] if v not in (None, "")})
            for chunk in _chunks(skus):
                for pk, integration_id, sku, product_sku in (ChannelOption.objects.annotate(sku_lower=Lower("channel_sku"))
                        .filter(integration_id__in=integrations, sku_lower__in=chunk)
                        .values_list("pk", "integration_id", "channel_sku", "product__sku")):
                    self.taken_channel_skus[(integration_id, sku.lower())] = (pk, sku, product_sku)
            # Master SKUs the channel SKUs could collide with, and which of those products have their own
            # channel SKU on an integration (then their master SKU is not sent there).
            self.master_skus: dict[str, tuple[int, str]] = {}
            for chunk in _chunks(skus):
                for pk, sku in Product.objects.annotate(sku_lower=Lower("sku")).filter(sku_lower__in=chunk).values_list("pk", "sku"):
                    self.master_skus[sku.lower()] = (pk, sku)
            masters = sorted({pk for pk, _ in self.master_skus.values()})
            self.overridden: set[tuple[int, int]] = set()
            for chunk in _chunks(masters):
                self.overridden.update(ChannelOption.objects.filter(product_id__in=chunk, integration_id__in=integrations)
                                       .exclude(channel_sku="").values_list("product_id", "integration_id"))
        self.file_channel_skus: dict[tuple[int, str], int] = {}
        return existing

    def check_unique(self, instance) -> None:
        super().check_unique(instance)
        if instance.channel_sku:
            key = (instance.integration_id, instance.channel_sku.lower())
            holder = self.taken_channel_skus.get(key)
            if holder is not None and holder[0] != instance.pk:
                message = channel_sku_taken_message(instance.channel_sku, holder[1], holder[2], instance.integration)
                raise ValidationError({"channel_sku": message})
            master = getattr(self, "master_skus", {}).get(key[1])
            if (master is not None and master[0] != instance.product_id
                    and (master[0], instance.integration_id) not in self.overridden):
                raise ValidationError({"channel_sku": channel_sku_master_message(instance.channel_sku, master[1], instance.integration)})
            if key in self.file_channel_skus:
                raise ValidationError({"channel_sku": f"channel SKU {instance.channel_sku!r} is also on row {self.file_channel_skus[key]} of this file"})
            self.file_channel_skus[key] = self._row_number
