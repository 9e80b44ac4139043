"""Shared base of the OSA flows: the OsaFlow class (adapter, dry run, incremental paging), SKU helpers and
the outbox helper. Flows per entity live in the sibling modules; no wire knowledge here, only adapter
dataclasses and functions."""

from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Iterable, Iterator

from django.utils import timezone

from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.connection import osa_adapter
from integrations.exceptions import PayloadError
from integrations.flows import Flow, FlowResult, Page
from integrations.models import Integration, OpsException, OutboundPush, SettingsChange

WAITING_LIMIT = timedelta(hours=24)
BATCH = 25
FULFILLMENT, INVENTORY, PRODUCT, CONNECTOR = (
    OpsException.Category.FULFILLMENT,
    OpsException.Category.INVENTORY,
    OpsException.Category.PRODUCT,
    OpsException.Category.CONNECTOR,
)

HINTS = {
    osa.ERR_UNKNOWN_SKU: "OSA doesn't recognize the product: enable Push product catalog information to OSA, or make the OSA SKU "
    "match the master SKU, or enter the OSA SKU in the OSA row of the product's Channel Options.",
    osa.ERR_INVALID_SHIPPING_METHOD: "Re-check the Shipping Method Mapping between Switchyard and OSA.",
    osa.ERR_ASIN_WEIGHT: "The app uses default weight values for ASINs: restore the default weight or contact support.",
    osa.ERR_INVALID_INVENTORY_TYPE: "OSA only accepts its predefined inventory types: " + ", ".join(osa.INVENTORY_TYPES) + ".",
}


def sku_matches(patterns: Iterable[str], *skus: str) -> bool:
    patterns = [p for p in patterns if p]
    return not patterns or any(fnmatchcase(sku, p) for p in patterns for sku in skus if sku)


def osa_skus(*, integration: Integration, product_ids: Iterable[int]) -> dict[int, str]:
    """product id → SKU at OSA: the OSA row's Channel SKU, else the master SKU."""
    from catalog.models import ChannelOption, Product

    ids = list(product_ids)
    result = dict(Product.objects.filter(pk__in=ids).values_list("pk", "sku"))
    for pid, channel_sku in (
        ChannelOption.objects.filter(integration=integration, product_id__in=ids)
        .exclude(channel_sku="")
        .values_list("product_id", "channel_sku")
    ):
        result[pid] = channel_sku
    return result


def product_info(product, *, sku: str) -> osa.ProductInfo:
    custom = product.custom_fields or {}
    return osa.ProductInfo(
        sku=sku,
        name=product.name,
        barcode=product.barcode,
        weight=product.weight,
        weight_unit=product.weight_unit,
        length=product.length,
        width=product.width,
        height=product.height,
        dimension_unit=product.dimension_unit,
        inventory_type=str(custom.get("osa_inventory_type") or "standard"),
        asin=str(custom.get("asin") or ""),
    )


def _since(cursor: dict, overlap: timedelta) -> datetime | None:
    raw = cursor.get("since")
    if not raw:
        return None
    return datetime.fromisoformat(raw) - overlap


def _max_iso(current: str | None, values: Iterable[datetime | None]) -> str | None:
    best = datetime.fromisoformat(current) if current else None
    for value in values:
        if value and (best is None or value > best):
            best = value
    return best.isoformat() if best else None


def _setting_switch_off(*, integration: Integration, key: str) -> None:
    """ "Force … resync" settings are one-shot: switched off once the forced run has finished."""
    settings = {**integration.settings, key: False}
    Integration.objects.filter(pk=integration.pk).update(settings=settings)
    integration.settings = settings
    SettingsChange.objects.create(
        integration=integration,
        source=SettingsChange.Source.SYSTEM,
        summary=f"{integration.spec.setting(key).label}: done, switched off",
        diff={"settings": {key: [True, False]}},
    )


def _split_errors(items: list, result: FlowResult) -> list:
    """Unmappable remote records (PayloadError) are recorded per record; the rest is returned."""
    good = []
    for item in items:
        if isinstance(item, PayloadError):
            result.record_payload_error(item)
        else:
            good.append(item)
    return good


def _note(ctx, text: str) -> None:
    ctx.run.note = (f"{ctx.run.note}; {text}" if ctx.run.note else text)[:255]


class DryRunAdapter:
    """A dry run reads from OSA but never writes: write methods answer as OSA would, without a call."""

    def __init__(self, real: osa.OsaAdapterV1) -> None:
        self._real = real

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def order_create(self, *, request: osa.ShippingRequestOut) -> osa.RemoteOrder:
        return osa.RemoteOrder(f"dry-run:{request.reference}", request.reference, "", osa.WAITING, "", "", None, None)

    def order_cancel(self, *, order_id: str, reason: str = "") -> bool:
        return True

    def product_create(self, *, product: osa.ProductInfo) -> bool:
        return True

    def product_update(self, *, product: osa.ProductInfo) -> None:
        return None

    def return_create(self, *, rma: osa.RmaOut) -> str:
        return f"dry-run:{rma.reference}"

    def arrival_create(self, *, arrival: osa.ArrivalOut) -> str:
        return f"dry-run:{arrival.reference}"


class OsaFlow(Flow):
    @property
    def adapter(self) -> osa.OsaAdapterV1:
        if not hasattr(self, "_adapter"):
            real = osa_adapter(self.ctx.integration, counter=self.ctx.counter)
            self._adapter = DryRunAdapter(real) if self.ctx.dry_run else real
        return self._adapter

    @property
    def integration(self) -> Integration:
        return self.ctx.integration

    def pages_updated_since(self, cursor: dict, list_method) -> Iterator[Page]:
        """Incremental pull: everything updated since the cursor (minus the overlap); the cursor moves to the
        newest update time seen, page by page. Records OSA could not describe travel as errors."""
        latest = cursor.get("since")
        for listing in osa.iterate(list_method, updated_since=_since(cursor, self.overlap)):
            latest = _max_iso(latest, (item.updated_at for item in listing.items))
            yield Page(items=listing.items + listing.errors, next_cursor={"since": latest} if latest else {})


def _push_outcome_record(*, integration, kind: str, key: str, obj, sent: bool, value: str) -> OutboundPush:
    """Record one push outcome on its outbox row, keyed on our reference: sent (value = OSA's id) or
    rejected (value = OSA's message)."""
    push, _ = OutboundPush.objects.get_or_create(
        integration=integration, kind=kind, idempotency_key=key, defaults={"content_type": _ct(obj), "object_id": obj.pk}
    )
    push.attempts += 1
    if sent:
        push.status, push.remote_id, push.sent_at, push.last_error = OutboundPush.Status.SENT, value, timezone.now(), ""
    else:
        push.status, push.last_error = OutboundPush.Status.FAILED, value
    push.save()
    return push


def _ct(obj):
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(obj)
