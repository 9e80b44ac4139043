"""Catalog services: Channel Options bound to remote listings, push bookkeeping, readiness problems."""
from __future__ import annotations

from django.utils import timezone

from catalog.models import ChannelOption, Product
from catalog.sku import sku_normalize

_REMOTE_FIELDS = ["remote_product_id", "remote_sku_id", "listing_status", "remote_warehouse_ids"]


def channel_options_bind_remote(*, integration, remote_skus: list[dict]) -> tuple[int, int, int, list[str]]:
    """Match remote SKUs to master SKUs (`seller_sku == Product.sku`) and record the remote ids.

    remote_skus: [{seller_sku, product_id, sku_id, status, warehouse_ids}]. Creates missing Channel Options,
    updates changed ones, in bulk. Returns (created, updated, unchanged, unknown seller SKUs)."""
    # Exact match after normalisation (catalog/sku.py); unknown SKUs are reported as the remote sent them.
    by_sku, sent_as = {}, {}
    for row in remote_skus:
        if row.get("seller_sku") and sku_normalize(row["seller_sku"]):
            by_sku[sku_normalize(row["seller_sku"])] = row
            sent_as[sku_normalize(row["seller_sku"])] = row["seller_sku"]
    products = {p.sku: p for p in Product.objects.filter(sku__in=list(by_sku))}
    options = {o.product_id: o for o in ChannelOption.objects.filter(integration=integration, product__in=products.values())}
    unknown = sorted(sent_as[s] for s in set(by_sku) - set(products))
    to_create, to_update, unchanged = [], [], 0
    for sku, product in products.items():
        row = by_sku[sku]
        values = {"remote_product_id": row.get("product_id", ""), "remote_sku_id": row.get("sku_id", ""),
                  "listing_status": row.get("status", ""), "remote_warehouse_ids": sorted(row.get("warehouse_ids") or [])}
        option = options.get(product.pk)
        if option is None:
            to_create.append(ChannelOption(product=product, integration=integration, **values))
        elif any(getattr(option, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(option, k, v)
            option.updated_at = timezone.now()
            to_update.append(option)
        else:
            unchanged += 1
    ChannelOption.objects.bulk_create(to_create)
    ChannelOption.objects.bulk_update(to_update, _REMOTE_FIELDS + ["updated_at"])
    return len(to_create), len(to_update), unchanged, unknown


def channel_options_ensure(*, integration, products: list[Product]) -> dict[int, ChannelOption]:
    """The Channel Option of each product for this integration (created with defaults when missing)."""
    existing = {o.product_id: o for o in ChannelOption.objects.filter(integration=integration, product__in=products)}
    missing = [ChannelOption(product=p, integration=integration) for p in products if p.pk not in existing]
    if missing:
        ChannelOption.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {o.product_id: o for o in ChannelOption.objects.filter(integration=integration, product__in=products)}
    return existing


def channel_options_set_readiness(*, options: list[ChannelOption]) -> None:
    """Persist `readiness_problems` (and derived attribute values) already set on the instances."""
    for option in options:
        option.updated_at = timezone.now()
    ChannelOption.objects.bulk_update(options, ["readiness_problems", "derived_attributes", "attributes_source", "updated_at"])


def channel_option_record_push(*, option: ChannelOption, fingerprint: str, remote_product_id: str = "",
                               remote_sku_id: str = "", listing_status: str = "") -> None:
    """A listing push succeeded: remember what was sent so unchanged products are not sent again."""
    option.last_pushed_fingerprint = fingerprint
    option.last_pushed_at = timezone.now()
    option.readiness_problems = []
    if remote_product_id:
        option.remote_product_id = remote_product_id
    if remote_sku_id:
        option.remote_sku_id = remote_sku_id
    if listing_status:
        option.listing_status = listing_status
    option.save(update_fields=["last_pushed_fingerprint", "last_pushed_at", "readiness_problems", "remote_product_id",
                               "remote_sku_id", "listing_status", "derived_attributes", "attributes_source", "updated_at"])


def channel_options_record_inventory(*, options: list[ChannelOption]) -> None:
    """Persist `last_pushed_inventory` (and listing status) already set on the instances."""
    for option in options:
        option.updated_at = timezone.now()
    ChannelOption.objects.bulk_update(options, ["last_pushed_inventory", "listing_status", "updated_at"])


def channel_option_set_channel_sku(*, option: ChannelOption, channel_sku: str) -> ChannelOption:
    """Set a Channel Option's channel SKU from any path (a connector, a command): normalised, then refused with
    a clear ValidationError — naming the product already holding it — when it equals or differs only by letter
    case from another channel SKU on the same integration; nothing is written then."""
    option.channel_sku = sku_normalize(channel_sku)
    option.full_clean()
    option.save()
    return option


_UPSERT_FIELDS = ("name", "price", "barcode", "variant_options")


def products_upsert_from_remote(*, products: list[dict]) -> tuple[dict[str, Product], int]:
    """Create or update catalog products by master SKU from a source-of-truth system (e.g. Katana's products pull).
    Each dict: sku, name, and optionally price, barcode, variant_options. Bulk per page: one read, one bulk insert
    (ignoring a product another worker created meanwhile, then re-read), one save per changed product.
    Returns ({sku: Product}, number created)."""
    from catalog.sku import sku_normalize

    wanted: dict[str, dict] = {}
    for data in products:
        sku = sku_normalize(str(data["sku"]))
        if not sku:
            raise ValueError("a product needs a SKU")
        wanted[sku] = {k: data[k] for k in _UPSERT_FIELDS if k in data and data[k] is not None}
    existing = {p.sku: p for p in Product.objects.filter(sku__in=list(wanted))}
    missing = [sku for sku in wanted if sku not in existing]
    Product.objects.bulk_create([Product(sku=sku, **{"name": sku, **wanted[sku]}) for sku in missing], ignore_conflicts=True)
    created = len(missing)
    if missing:
        existing.update({p.sku: p for p in Product.objects.filter(sku__in=missing)})
    for sku, values in wanted.items():
        product = existing[sku]
        if sku in missing:
            continue
        changed = [k for k, v in values.items() if getattr(product, k) != v]
        if changed:
            for k in changed:
                setattr(product, k, values[k])
            product.save(update_fields=changed + ["updated_at"])
    return existing, created
