"""Catalog reads for channel pushes."""
from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import ChannelOption, Product


def products_for_channel_push(*, integration, skus: list[str] | None = None) -> QuerySet[Product]:
    """Sellable products (simple, variant, bundle) not switched off for this integration's channel sync."""
    # One subquery on the same Channel Option row: exclude() across the relation would match integration and
    # sync_enabled on *different* rows (another integration's switch would hide the product here).
    switched_off = ChannelOption.objects.filter(product=OuterRef("pk"), integration=integration, sync_enabled=False)
    qs = (Product.objects.exclude(kind=Product.Kind.PARENT).exclude(Exists(switched_off))
          .select_related("parent").order_by("pk"))
    if skus:
        qs = qs.filter(sku__in=skus)
    return qs


def channel_options_for_inventory(*, integration, skus: list[str] | None = None) -> QuerySet[ChannelOption]:
    """Channel Options listed on the channel (remote SKU id known) with sync enabled."""
    qs = (ChannelOption.objects.filter(integration=integration, sync_enabled=True).exclude(remote_sku_id="")
          .select_related("product").order_by("pk"))
    if skus:
        qs = qs.filter(product__sku__in=skus)
    return qs


def channel_options_incomplete(*, integration=None) -> QuerySet[ChannelOption]:
    """Channel Options with readiness problems ("Export Incomplete Products")."""
    qs = ChannelOption.objects.exclude(readiness_problems=[]).select_related("product", "integration")
    if integration is not None:
        qs = qs.filter(integration=integration)
    return qs
