"""Shared base of the OSA flows: the OsaFlow class (adapter, dry run, incremental paging), SKU helpers and
the outbox helper. Flows per entity live in the sibling modules; no wire knowledge here, only adapter
dataclasses and functions."""

from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import ClassVar, Iterable, Iterator

from django.utils import timezone

from integrations import services
from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.connection import osa_adapter
from integrations.exceptions import PayloadError
from integrations.flows import Flow, FlowResult, Page, SeenRows
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

    # Rows OSA stamped up to this long before the window's upper bound may still be committing; the next run's
    # overlap re-reads them anyway. Only used when OSA's answer carries no "as_of" (then the hub's clock is used).
    window_lag: ClassVar[timedelta] = timedelta(seconds=5)

    def pages_updated_since(self, cursor: dict, list_method, wrap=None) -> Iterator[Page]:
        """Incremental pull, safe against rows moving while we page.

        The window is fixed once per run: from the cursor (minus the overlap) up to an upper bound taken at the
        start (OSA's "as_of" of the first answer, else the hub's clock minus `window_lag`). Pages are read by
        keyset, not page number: each request asks for rows updated since the last update time already read, so
        a row updated meanwhile moves behind us (it is read next run) and no other row slides onto a page already
        read. Rows beyond the upper bound are left to the next run. The cursor moves to the last update time
        fully read while paging, and to the upper bound once every page of the window is committed.
        `wrap(item)` tags items for flows that mix kinds in a page. Records OSA could not describe travel as errors."""
        wrap = wrap or (lambda item: item)
        since = _since(cursor, self.overlap)
        stored = datetime.fromisoformat(cursor["since"]) if cursor.get("since") else None
        upper = None
        key, page_no, seen = since, 1, SeenRows(_row_key)
        while True:
            if upper is None:
                started = timezone.now()
            listing = list_method(updated_since=key, page=page_no)
            if upper is None:
                upper = listing.as_of or (started - self.window_lag)
            rows = [item for item in listing.items if item.updated_at is None or item.updated_at <= upper]
            beyond = len(rows) < len(listing.items)
            fresh = seen.fresh(rows)
            stamps = [item.updated_at for item in rows if item.updated_at]
            last = max(stamps) if stamps else None
            done = beyond or not listing.next_page or last is None
            if done:
                reached = upper if stored is None or upper > stored else stored
            else:
                if key is not None and last <= key:
                    page_no += 1  # a page full of one update time: step through it by page number
                else:
                    key, page_no = last, 1
                    seen.forget_before(key)  # asked for rows updated since `key`: nothing older comes back
                reached = key if stored is None or (key and key > stored) else stored
            yield Page(items=[wrap(item) for item in fresh] + [wrap(e) for e in listing.errors],
                       next_cursor={"since": reached.isoformat()} if reached else {})
            if done:
                return


def _row_key(item) -> tuple:
    return (type(item).__name__, *(getattr(item, name) for name in ("shipment_id", "rma_id", "receipt_id", "order_id")
                                   if hasattr(item, name)), getattr(item, "updated_at", None))


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


def _push_outcome_apply(flow, result, *, obj, key: str, sent: bool, value: str, category: str, noun: str,
                        external_id: str) -> None:
    """One push outcome of `obj` (an arrival, a return): its outbox row; a refusal also opens one exception on the
    object (code `osa_<noun>_rejected`) and counts as a record error."""
    _push_outcome_record(integration=flow.integration, kind=flow.push_kind, key=key, obj=obj, sent=sent, value=value)
    if sent:
        result.created += 1
        return
    services.exception_raise(
        category=category,
        code=f"osa_{noun}_rejected",
        integration=flow.integration,
        entity=obj,
        dedup_key=f"osa:{noun}:{flow.integration.pk}:{obj.pk}",
        message=f"{noun.capitalize()} {external_id} not accepted by OSA: {value}",
    )
    result.record_error(external_id=external_id, message=value)


def _ct(obj):
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(obj)
