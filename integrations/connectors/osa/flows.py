"""OSA flows: glue between the adapter (remote I/O in `pages()`) and the domain services (writes in
`apply()`). No wire knowledge here: only adapter dataclasses and functions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, Iterable, Iterator

from django.db.models import Q
from django.utils import timezone

from integrations import services
from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa import settings as osa_settings
from integrations.connectors.osa.connection import osa_adapter
from integrations.exceptions import AuthError, PayloadError, TransientError
from integrations.flows import Flow, FlowResult, Page, payload_hash
from integrations.models import Integration, Mapping, OpsException, OutboundPush, SettingsChange

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


# --- shipping requests ------------------------------------------------------------------------


@dataclass
class SendOutcome:
    shipping_request: Any
    kind: str  # sent | rejected | unmapped | transient
    remote: osa.RemoteOrder | None = None
    message: str = ""
    code: str = ""
    source_method: str = ""
    payload: dict = field(default_factory=dict)


class PushShippingRequests(OsaFlow):
    """Shipping requests routed to OSA → POST /orders, idempotent on the Switchyard reference."""

    code = "push_shipping_requests"
    push_kind = "shipping_request"

    def _queryset(self):
        from orders import selectors

        qs = selectors.shipping_requests_to_send(integration=self.integration)
        order_ids = [o for o in self.ctx.setting("shipping_request_order_ids") or [] if o]
        if order_ids:
            held = qs.exclude(order__external_id__in=order_ids).count()
            if held:
                _note(
                    self.ctx, f"{held} shipping request(s) held back by “Process only shipping requests with specific order IDs”"
                )
            qs = qs.filter(order__external_id__in=order_ids)
        return qs

    def pages(self, cursor: dict) -> Iterator[Page]:
        ids = list(self._queryset().order_by("pk").values_list("pk", flat=True)[:1000])
        for start in range(0, len(ids), BATCH):
            outcomes: list[SendOutcome] = []
            try:
                for sr in self._load(ids[start : start + BATCH]):
                    outcomes.append(self._send(sr))
            except TransientError as exc:
                yield Page(
                    items=outcomes
                    + [SendOutcome(shipping_request=getattr(exc, "shipping_request", None), kind="transient", message=str(exc))],
                    next_cursor={},
                )
                raise
            except AuthError:
                if outcomes:
                    yield Page(items=outcomes, next_cursor={})
                raise
            yield Page(items=outcomes, next_cursor={})

    def _load(self, ids: list[int]):
        from orders.models import ShippingRequest

        rows = list(
            ShippingRequest.objects.filter(pk__in=ids)
            .order_by("pk")
            .select_related("order", "location")
            .prefetch_related("lines__product", "lines__order_line")
        )
        self._methods = dict(
            Mapping.objects.filter(integration=self.integration, kind=Mapping.Kind.SHIPPING_METHOD).values_list(
                "source", "target"
            )
        )
        product_ids = {line.product_id for sr in rows for line in sr.lines.all() if line.product_id}
        self._skus = osa_skus(integration=self.integration, product_ids=product_ids)
        self._pushes = {
            p.idempotency_key: p
            for p in OutboundPush.objects.filter(
                integration=self.integration, kind=self.push_kind, idempotency_key__in=[sr.reference for sr in rows]
            )
        }
        return rows

    def _build(self, sr) -> osa.ShippingRequestOut:
        managed = bool(sr.managed_routing or self.ctx.setting("force_osa_managed_routing"))
        lines = []
        for line in sr.lines.all():
            sku = self._skus.get(line.product_id, line.sku) if line.product_id else line.sku
            info = product_info(line.product, sku=sku) if line.product else osa.ProductInfo(sku=sku, name=line.sku)
            price = line.order_line.unit_price if line.order_line else 0
            lines.append(
                osa.ShippingRequestLineOut(line_ref=str(line.pk), sku=sku, quantity=line.quantity, product=info, unit_price=price)
            )
        return osa.ShippingRequestOut(
            reference=sr.reference,
            order_number=sr.order.external_id,
            shipping_method=self._methods[self._method_source(sr)],
            warehouse_code=None if managed or not sr.location else (sr.location.external_id or None),
            managed_routing=managed,
            ship_to=osa.ship_to_from_address(sr.order.shipping_address),
            lines=tuple(lines),
            requested_ship_date=sr.order.ship_by,
            notes=sr.order.buyer_message[:500],
        )

    @staticmethod
    def _method_source(sr) -> str:
        return sr.shipping_method or sr.order.shipping_method or ""

    def _send(self, sr) -> SendOutcome:
        source = self._method_source(sr)
        if source not in self._methods:
            return SendOutcome(sr, "unmapped", source_method=source)
        push = self._pushes.get(sr.reference)
        if push is not None and push.status == OutboundPush.Status.SENT and push.remote_id:
            remote = osa.RemoteOrder(push.remote_id, sr.reference, "", osa.WAITING, "", "", None, None)
            return SendOutcome(sr, "sent", remote=remote)
        request = self._build(sr)
        try:
            remote = None
            if push is not None and push.attempts:
                # A previous attempt may have reached OSA (timeout): look before creating again.
                remote = self.adapter.order_find(reference=sr.reference)
            if remote is None:
                remote = self.adapter.order_create(request=request)
        except osa.OsaRejected as exc:
            hint = HINTS.get(str(exc.code), "")
            return SendOutcome(sr, "rejected", message=f"{exc.message} {hint}".strip(), code=str(exc.code or "3pl_rejected"))
        except TransientError as exc:
            exc.shipping_request = sr
            raise
        return SendOutcome(sr, "sent", remote=remote, payload=osa.shipping_request_to_json(request))

    def apply(self, page: Page, result: FlowResult) -> None:
        from orders import services as order_services

        integration = self.integration
        for o in page.items:
            sr = o.shipping_request
            if sr is None:
                continue
            result.fetched += 1
            if o.kind == "unmapped":
                what = f"“{o.source_method}”" if o.source_method else "(none)"
                services.exception_raise(
                    category=FULFILLMENT,
                    code="unmapped_shipping_method",
                    integration=integration,
                    entity=sr,
                    cause_key=f"shipping_method:{integration.pk}:{o.source_method}",
                    dedup_key=f"sr:{sr.pk}:unmapped_shipping_method",
                    message=f"Shipping request {sr.reference} not sent to OSA: shipping method {what} has no Shipping Method "
                    f"Mapping for {integration.name}. Add the mapping; the request is sent on the next run.",
                )
                result.record_error(external_id=sr.reference, field="shipping_method", message=f"unmapped shipping method {what}")
                continue
            push, _ = OutboundPush.objects.get_or_create(
                integration=integration,
                kind=self.push_kind,
                idempotency_key=sr.reference,
                defaults={"object_id": sr.pk, "content_type": _ct(sr)},
            )
            push.attempts += 1
            if o.kind == "sent":
                already = push.status == OutboundPush.Status.SENT
                push.status, push.remote_id, push.sent_at = (
                    OutboundPush.Status.SENT,
                    o.remote.order_id,
                    push.sent_at or timezone.now(),
                )
                push.payload = o.payload or push.payload
                push.response = {"order_id": o.remote.order_id, "status": o.remote.status}
                push.last_error = ""
                push.save()
                order_services.shipping_request_mark_sent(
                    shipping_request=sr, external_id=o.remote.order_id, remote_status=o.remote.status, run=self.ctx.run
                )
                if already:
                    result.unchanged += 1
                else:
                    result.created += 1
            elif o.kind == "rejected":
                push.status, push.last_error = OutboundPush.Status.FAILED, o.message
                push.save()
                order_services.shipping_request_mark_rejected(shipping_request=sr, message=o.message, code=o.code)
                result.record_error(external_id=sr.reference, field=o.code, message=o.message)
            else:  # transient: stays pending; the next run looks the reference up before creating
                push.last_error = o.message
                push.save()


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


class CancelShippingRequests(OsaFlow):
    """Closed-loop cancellation: shipping requests the hub wants canceled → POST /orders/{id}/cancel."""

    code = "cancel_shipping_requests"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders import selectors

        rows = list(selectors.shipping_requests_to_cancel(integration=self.integration).order_by("pk")[:500])
        for start in range(0, len(rows), BATCH):
            outcomes = []
            for sr in rows[start : start + BATCH]:
                order_id = sr.external_id
                if not order_id:
                    found = self.adapter.order_find(reference=sr.reference)
                    order_id = found.order_id if found else ""
                if not order_id:
                    outcomes.append((sr, "canceled", "never reached OSA"))
                    continue
                try:
                    canceled = self.adapter.order_cancel(order_id=order_id, reason="Canceled in Switchyard")
                except osa.OsaRejected as exc:
                    if exc.code == osa.ERR_NOT_FOUND:
                        outcomes.append((sr, "canceled", "unknown to OSA"))
                    else:
                        outcomes.append((sr, "error", exc.message))
                    continue
                outcomes.append((sr, "canceled" if canceled else "too_late", ""))
            yield Page(items=outcomes, next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from orders import services as order_services

        for sr, kind, message in page.items:
            result.fetched += 1
            if kind == "error":
                result.record_error(external_id=sr.reference, message=f"OSA refused the cancellation: {message}")
                continue
            order_services.shipping_request_cancel_confirmed(shipping_request=sr, too_late=kind == "too_late")
            if kind == "too_late":
                result.record_error(external_id=sr.reference, message="too late: OSA has already shipped this order")
            else:
                result.updated += 1


class PullOrderStatuses(OsaFlow):
    """OSA-side status changes: cancellations (→ the configured status) and orders stuck in Waiting."""

    code = "pull_order_statuses"

    def pages(self, cursor: dict) -> Iterator[Page]:
        since = _since(cursor, self.overlap)
        latest = cursor.get("since")
        for listing in osa.iterate(self.adapter.orders_list, updated_since=since):
            latest = _max_iso(latest, (o.updated_at for o in listing.items))
            self._errors = listing.errors
            yield Page(
                items=[("status", o) for o in listing.items] + [("error", e) for e in listing.errors],
                next_cursor={"since": latest} if latest else {},
            )
        waiting: list[osa.RemoteOrder] = []
        for listing in osa.iterate(self.adapter.orders_list, status=osa.WAITING):
            waiting.extend(listing.items)
        yield Page(items=[("waiting", waiting)], next_cursor={"since": latest} if latest else {})

    def _match(self, orders: list[osa.RemoteOrder]) -> dict[str, Any]:
        from orders.models import ShippingRequest

        store_id = (self.integration.remote_state or {}).get("store_id", "")
        refs = {o.reference or osa.reference_from_order_number(o.number, store_id=store_id) for o in orders}
        ids = {o.order_id for o in orders}
        found = {}
        for sr in ShippingRequest.objects.filter(integration=self.integration).filter(
            Q(external_id__in=ids) | Q(reference__in=refs)
        ):
            found[sr.external_id] = sr
            found[sr.reference] = sr
        return {
            o.order_id: found.get(o.order_id)
            or found.get(o.reference or osa.reference_from_order_number(o.number, store_id=store_id))
            for o in orders
        }

    def apply(self, page: Page, result: FlowResult) -> None:
        if page.items and page.items[0][0] == "waiting":
            self._apply_waiting(page.items[0][1], result)
            return
        from orders import services as order_services
        from orders.models import ShippingRequest, ShippingRequestStatus

        for kind, error in page.items:
            if kind == "error":
                result.record_payload_error(error)
        orders = [o for kind, o in page.items if kind == "status"]
        matched = self._match(orders)
        terminal = {ShippingRequestStatus.CANCELED, ShippingRequestStatus.CANCELED_RESTOCK, ShippingRequestStatus.FAILED}
        for order in orders:
            result.fetched += 1
            sr = matched.get(order.order_id)
            if sr is None:
                result.record_error(
                    external_id=order.order_id,
                    field="reference",
                    message=f"OSA order {order.number or order.reference} matches no Switchyard shipping request",
                )
                continue
            if order.status == osa.CANCELED:
                if (
                    sr.cancel_state in (ShippingRequest.CancelState.REQUESTED, ShippingRequest.CancelState.CANCELED)
                    or sr.status in terminal
                ):
                    result.unchanged += 1
                    continue
                status = self.ctx.setting("osa_cancel_status") or "reviewRequired"
                order_services.shipping_request_canceled_by_fulfillment(
                    shipping_request=sr, status=status, reason=f"Canceled in OSA: {order.cancel_reason or 'no reason given'}"
                )
                result.updated += 1
            elif sr.remote_status != order.status:
                ShippingRequest.objects.filter(pk=sr.pk).update(remote_status=order.status)
                result.updated += 1
            else:
                result.unchanged += 1

    def _apply_waiting(self, waiting: list[osa.RemoteOrder], result: FlowResult) -> None:
        now = timezone.now()
        prefix = f"osa:waiting:{self.integration.pk}:"
        matched = self._match(waiting)
        stuck_keys = []
        for order in waiting:
            if order.created_at and now - order.created_at > WAITING_LIMIT:
                key = prefix + order.order_id
                stuck_keys.append(key)
                hours = int((now - order.created_at).total_seconds() // 3600)
                services.exception_raise(
                    category=FULFILLMENT,
                    code="osa_waiting_over_24h",
                    integration=self.integration,
                    entity=matched.get(order.order_id),
                    dedup_key=key,
                    details={"order_id": order.order_id, "reference": order.reference},
                    message=f"OSA order {order.number or order.reference} has been in Waiting for {hours} h (since "
                    f"{order.created_at:%Y-%m-%d %H:%M} UTC). Status can take up to 24 hours to move to Success; "
                    f"it still hasn't: contact OSA support.",
                )
        cleared = (
            OpsException.objects.filter(status=OpsException.Status.OPEN, dedup_key__startswith=prefix)
            .exclude(dedup_key__in=stuck_keys)
            .values_list("dedup_key", flat=True)
        )
        services.exceptions_resolve(dedup_keys=list(cleared), note="OSA order left Waiting")
        if stuck_keys:
            _note(self.ctx, f"{len(stuck_keys)} OSA order(s) in Waiting for more than 24 h")


# --- fulfillments -----------------------------------------------------------------------------


class PullFulfillments(OsaFlow):
    """OSA shipments → orders.services.fulfillment_record (carrier, tracking, lines; partial shipments)."""

    code = "pull_fulfillments"

    def pages(self, cursor: dict) -> Iterator[Page]:
        yield from self.pages_updated_since(cursor, self.adapter.shipments_list)

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog.models import ChannelOption
        from orders import services as order_services
        from orders.interface import FulfillmentIn, QuantityLineIn
        from orders.models import ShippingRequest

        shipments: list[osa.RemoteShipment] = _split_errors(page.items, result)
        store_id = (self.integration.remote_state or {}).get("store_id", "")
        refs = {s.reference or osa.reference_from_order_number(s.order_number, store_id=store_id) for s in shipments}
        by_key = {}
        for sr in ShippingRequest.objects.filter(integration=self.integration).filter(
            Q(external_id__in={s.order_id for s in shipments}) | Q(reference__in=refs)
        ):
            by_key[sr.external_id], by_key[sr.reference] = sr, sr
        osa_skus_seen = {line.sku for s in shipments for line in s.lines}
        to_master = dict(
            ChannelOption.objects.filter(integration=self.integration, channel_sku__in=osa_skus_seen).values_list(
                "channel_sku", "product__sku"
            )
        )
        for s in shipments:
            result.fetched += 1
            sr = by_key.get(s.order_id) or by_key.get(
                s.reference or osa.reference_from_order_number(s.order_number, store_id=store_id)
            )
            if sr is None:
                result.record_error(
                    external_id=s.shipment_id,
                    field="order",
                    message=f"OSA shipment {s.shipment_id} for order {s.order_number or s.order_id} matches no shipping request",
                )
                continue
            fulfillment = FulfillmentIn(
                external_id=s.shipment_id,
                carrier=s.carrier,
                shipping_method=s.service,
                tracking_numbers=s.tracking_numbers,
                tracking_url=s.tracking_url,
                shipped_at=s.shipped_at,
                lines=tuple(QuantityLineIn(sku=to_master.get(line.sku, line.sku), quantity=line.quantity) for line in s.lines),
            )
            _, created = order_services.fulfillment_record(
                integration=self.integration, shipping_request=sr, fulfillment=fulfillment, run=self.ctx.run
            )
            services.exceptions_resolve(
                dedup_keys=[f"osa:waiting:{self.integration.pk}:{s.order_id}"], note="OSA shipped the order"
            )
            if created:
                result.created += 1
            else:
                result.unchanged += 1


# --- inventory and locations ------------------------------------------------------------------

LOCATION_KINDS = {osa.LOC_WAREHOUSE: "warehouse", osa.LOC_MANAGED: "3pl_managed"}
ALLOWED_TYPES = {
    osa_settings.LOCATION_TYPE_WAREHOUSE: {osa.LOC_WAREHOUSE},
    osa_settings.LOCATION_TYPE_MANAGED: {osa.LOC_MANAGED},
    osa_settings.LOCATION_TYPE_BOTH: {osa.LOC_WAREHOUSE, osa.LOC_MANAGED},
}


class PullLocations(OsaFlow):
    code = "pull_locations"

    def pages(self, cursor: dict) -> Iterator[Page]:
        yield Page(items=[self.adapter.locations_list()], next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services

        listing = page.items[0]
        for error in listing.errors:
            result.record_payload_error(error)
        page = Page(items=listing.items, next_cursor={})
        result.fetched += len(page.items)
        before = set(self.integration.locations.values_list("external_id", flat=True))
        inventory_services.locations_upsert_from_remote(
            integration=self.integration,
            locations=[
                {
                    "external_id": loc.code,
                    "name": loc.name,
                    "kind": LOCATION_KINDS[loc.type],
                    "address": loc.address,
                    "is_default": loc.is_default,
                }
                for loc in page.items
            ],
        )
        created = sum(1 for loc in page.items if loc.code not in before)
        result.created += created
        result.updated += len(page.items) - created
        services.exceptions_resolve(
            dedup_keys=[f"osa:unknown_location:{self.integration.pk}:{loc.code}" for loc in page.items],
            note="location pulled from OSA",
        )


class PullInventory(OsaFlow):
    """Fulfillable quantities per OSA location → inventory_levels_set (see README: Fulfillable, not On-hand)."""

    code = "pull_inventory"
    ref_kind = "inventory"

    def pages(self, cursor: dict) -> Iterator[Page]:
        self.force = bool(self.ctx.force_full or self.ctx.setting("force_inventory_resync"))
        for listing in osa.iterate(self.adapter.inventory_list):
            yield Page(items=listing.items + listing.errors, next_cursor={})
        if self.ctx.setting("force_inventory_resync") and not self.ctx.dry_run:
            _setting_switch_off(integration=self.integration, key="force_inventory_resync")

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services
        from inventory.models import Location

        integration = self.integration
        rows: list[osa.RemoteInventory] = _split_errors(page.items, result)
        result.fetched += len(rows)
        allowed = ALLOWED_TYPES.get(self.ctx.setting("inventory_location_types"), ALLOWED_TYPES[osa_settings.LOCATION_TYPE_BOTH])
        patterns = self.ctx.setting("inventory_sku_patterns") or []
        locations = {
            loc.external_id: loc for loc in Location.objects.filter(integration=integration).prefetch_related("links_out")
        }
        refs = services.external_refs_get(
            integration=integration, kind=self.ref_kind, external_ids=[f"{r.location_code}|{r.sku}" for r in rows]
        )
        from catalog.models import ChannelOption

        channel_to_master = dict(
            ChannelOption.objects.filter(integration=integration)
            .exclude(channel_sku="")
            .values_list("channel_sku", "product__sku")
        )
        remapped_masters = set(channel_to_master.values())
        by_location: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        binds, skipped_type, skipped_sku = [], 0, 0
        for row in rows:
            location = locations.get(row.location_code)
            if location is None:
                services.exception_raise(
                    category=INVENTORY,
                    code="osa_location_not_pulled",
                    integration=integration,
                    dedup_key=f"osa:unknown_location:{integration.pk}:{row.location_code}",
                    message=f"OSA reports inventory at location {row.location_code}, which is not under Inventory → Locations. "
                    f"Enable Pull locations from OSA (required) and run it.",
                )
                result.record_error(
                    external_id=f"{row.location_code}|{row.sku}", field="location_code", message="location not pulled from OSA"
                )
                continue
            location_type = row.location_type or (osa.LOC_MANAGED if location.kind == "3pl_managed" else osa.LOC_WAREHOUSE)
            if location_type not in allowed:
                skipped_type += 1
                continue
            if not sku_matches(patterns, row.sku, channel_to_master.get(row.sku, "")):
                skipped_sku += 1
                continue
            key = f"{row.location_code}|{row.sku}"
            master = channel_to_master.get(row.sku, row.sku)
            if row.sku not in channel_to_master and row.sku in remapped_masters:
                result.record_error(
                    external_id=key,
                    field="sku",
                    message=f"OSA SKU {row.sku} is the master SKU of a product whose OSA "
                    f"Channel SKU is different; ignored (check the OSA row of its Channel Options)",
                )
                continue
            digest = payload_hash({"fulfillable": row.fulfillable})
            if not self.force and refs.get(key) is not None and refs[key].payload_hash == digest:
                result.unchanged += 1
                continue
            # Fulfillable feeds availability (on_hand here means "units OSA can ship"); see README.
            by_location[row.location_code][master] = {"fulfillable": row.fulfillable, "on_hand": row.fulfillable}
            binds.append({"external_id": key, "local": None, "payload_hash": digest})
        for code, quantities in by_location.items():
            location = locations[code]
            applied = inventory_services.inventory_levels_set(
                location=location, quantities=quantities, reason="osa_inventory_pull", run=self.ctx.run
            )
            result.updated += applied
            if not location.links_out.all():
                services.exception_raise(
                    category=INVENTORY,
                    code="location_not_linked",
                    integration=integration,
                    entity=location,
                    dedup_key=f"osa:unlinked:{location.pk}",
                    message=f"Inventory of OSA location {location.name} ({code}) is not reaching TikTok Shop: the location is not "
                    f"linked. Open it under Inventory → Locations and link it to the matching TikTok Shop location.",
                )
            else:
                services.exceptions_resolve(dedup_keys=[f"osa:unlinked:{location.pk}"], note="location linked")
        services.external_refs_bind(integration=integration, kind=self.ref_kind, rows=binds)
        if skipped_type:
            _note(self.ctx, f"{skipped_type} row(s) outside “Process inventory information only for these locations types”")
        if skipped_sku:
            _note(self.ctx, f"{skipped_sku} row(s) outside the inventory SKU patterns")


# --- products ---------------------------------------------------------------------------------


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
            chunk = [p for p in chunk if sku_matches(patterns, p.osa_sku)]
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
                return {**outcome, "kind": "update_blocked"}
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
                binds.append({"external_id": sku, "local": product, "payload_hash": o["digest"]})
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


# --- returns ----------------------------------------------------------------------------------


def rma_reference(ret) -> str:
    """Deterministic RMA reference sent to OSA (its idempotency key)."""
    return f"SY-RMA-{ret.pk}"


class PushReturns(OsaFlow):
    """Returns of orders fulfilled through this OSA integration → POST /returns (idempotent on the RMA reference)."""

    code = "push_returns"
    push_kind = "return"

    def _queryset(self):
        from django.contrib.contenttypes.models import ContentType

        from orders.models import Return

        sent = OutboundPush.objects.filter(
            integration=self.integration,
            kind=self.push_kind,
            status=OutboundPush.Status.SENT,
            content_type=ContentType.objects.get_for_model(Return),
        ).values("object_id")
        return (
            Return.objects.filter(order__shipping_requests__integration=self.integration)
            .exclude(integration=self.integration)
            .exclude(status__in=["canceled", "rejected"])
            .exclude(pk__in=sent)
            .distinct()
            .order_by("pk")
        )

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders.models import Return

        ids = list(self._queryset().values_list("pk", flat=True)[:500])
        for start in range(0, len(ids), BATCH):
            rows = list(
                Return.objects.filter(pk__in=ids[start : start + BATCH])
                .order_by("pk")
                .select_related("order")
                .prefetch_related("lines__order_line__product", "order__shipping_requests__location")
            )
            outcomes = []
            for ret in rows:
                srs = [sr for sr in ret.order.shipping_requests.all() if sr.integration_id == self.integration.pk]
                sr = next((x for x in srs if x.external_id), srs[0])
                product_ids = {ln.order_line.product_id for ln in ret.lines.all() if ln.order_line and ln.order_line.product_id}
                skus = osa_skus(integration=self.integration, product_ids=product_ids)
                lines = tuple(
                    osa.RmaLineOut(
                        sku=skus.get(ln.order_line.product_id, ln.sku) if ln.order_line else ln.sku, quantity=ln.quantity
                    )
                    for ln in ret.lines.all()
                )
                if not lines:
                    outcomes.append((ret, "error", "return has no lines"))
                    continue
                rma = osa.RmaOut(
                    reference=rma_reference(ret),
                    order_reference=sr.reference,
                    warehouse_code=sr.location.external_id if sr.location else None,
                    lines=lines,
                    reason=ret.reason,
                    tracking_number=ret.tracking_number,
                )
                try:
                    outcomes.append((ret, "sent", self.adapter.return_create(rma=rma)))
                except osa.OsaRejected as exc:
                    outcomes.append((ret, "error", exc.message))
            yield Page(items=outcomes, next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        for ret, kind, value in page.items:
            result.fetched += 1
            _push_outcome_record(integration=self.integration, kind=self.push_kind, key=rma_reference(ret), obj=ret,
                                 sent=kind == "sent", value=value)
            if kind == "sent":
                result.created += 1
            else:
                services.exception_raise(
                    category=FULFILLMENT,
                    code="osa_return_rejected",
                    integration=self.integration,
                    entity=ret,
                    dedup_key=f"osa:return:{self.integration.pk}:{ret.pk}",
                    message=f"Return {ret.external_id} not accepted by OSA: {value}",
                )
                result.record_error(external_id=ret.external_id, message=value)


class PullReturns(OsaFlow):
    """OSA RMA status updates → returns_upsert (OSA's RMA records, linked to the channel order)."""

    code = "pull_returns"

    def pages(self, cursor: dict) -> Iterator[Page]:
        yield from self.pages_updated_since(cursor, self.adapter.returns_list)

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog.models import ChannelOption
        from orders import services as order_services
        from orders.interface import QuantityLineIn, ReturnIn
        from orders.models import ShippingRequest

        rows: list[osa.RemoteReturn] = _split_errors(page.items, result)
        result.fetched += len(rows)
        orders = dict(
            ShippingRequest.objects.filter(
                integration=self.integration, reference__in={r.order_reference for r in rows}
            ).values_list("reference", "order__external_id")
        )
        to_master = dict(
            ChannelOption.objects.filter(
                integration=self.integration, channel_sku__in={ln.sku for r in rows for ln in r.lines}
            ).values_list("channel_sku", "product__sku")
        )
        returns_in = []
        for r in rows:
            if r.order_reference not in orders:
                result.record_error(
                    external_id=r.rma_id, field="order_reference", message=f"RMA {r.reference}: unknown order {r.order_reference}"
                )
                continue
            returns_in.append(
                ReturnIn(
                    external_id=r.rma_id,
                    order_external_id=orders[r.order_reference],
                    status=osa.RETURN_STATUS_MAP.get(r.status, r.status or "requested"),
                    return_type="rma",
                    tracking_number=r.tracking_number,
                    remote_created_at=r.created_at,
                    remote_updated_at=r.updated_at,
                    lines=tuple(
                        QuantityLineIn(sku=to_master.get(ln.sku, ln.sku), quantity=ln.quantity) for ln in r.lines if ln.quantity
                    ),
                )
            )
        outcome = order_services.returns_upsert(integration=self.integration, returns_in=returns_in, run=self.ctx.run)
        result.created += outcome.created
        result.updated += outcome.updated
        result.unchanged += outcome.unchanged
        for error in outcome.errors:
            result.record_error(**error)


# --- arrivals and receipts --------------------------------------------------------------------
# Arrival, receipt and inbound writes go through inventory.services (arrival_mark_sent, receipts_record).

ARRIVALS_REASON = "osa_arrivals"


class PushArrivals(OsaFlow):
    """Expected arrivals (inbound shipments, POs) at this integration's locations → POST /arrivals."""

    code = "push_arrivals"
    push_kind = "arrival"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from inventory.models import Arrival

        qs = Arrival.objects.filter(
            Q(integration=self.integration) | Q(location__integration=self.integration),
            status=Arrival.Status.EXPECTED,
            external_id="",
        ).order_by("pk")
        only = [r for r in self.ctx.setting("arrival_order_ids") or [] if r]
        if only:
            held = qs.exclude(reference__in=only).count()
            if held:
                _note(self.ctx, f"{held} arrival(s) held back by “Process only arrivals for specific order IDs”")
            qs = qs.filter(reference__in=only)
        ids = list(qs.values_list("pk", flat=True)[:500])
        for start in range(0, len(ids), BATCH):
            rows = list(
                Arrival.objects.filter(pk__in=ids[start : start + BATCH])
                .order_by("pk")
                .select_related("location")
                .prefetch_related("lines")
            )
            skus = osa_skus(integration=self.integration, product_ids={ln.product_id for a in rows for ln in a.lines.all()})
            outcomes = []
            for arrival in rows:
                out = osa.ArrivalOut(
                    reference=arrival.reference,
                    type="po" if arrival.kind == Arrival.Kind.PURCHASE_ORDER else "inbound",
                    warehouse_code=arrival.location.external_id,
                    expected_at=arrival.expected_at,
                    lines=tuple(
                        osa.ShipmentLine(sku=skus[ln.product_id], quantity=ln.quantity_expected) for ln in arrival.lines.all()
                    ),
                )
                if not arrival.location.external_id or arrival.location.integration_id != self.integration.pk:
                    outcomes.append((arrival, "error", f"location {arrival.location} is not an OSA location"))
                    continue
                try:
                    outcomes.append((arrival, "sent", self.adapter.arrival_create(arrival=out)))
                except osa.OsaRejected as exc:
                    outcomes.append((arrival, "error", exc.message))
            yield Page(items=outcomes, next_cursor={})

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services

        for arrival, kind, value in page.items:
            result.fetched += 1
            _push_outcome_record(integration=self.integration, kind=self.push_kind, key=arrival.reference, obj=arrival,
                                 sent=kind == "sent", value=value)
            if kind == "sent":
                inventory_services.arrival_mark_sent(arrival=arrival, external_id=value, reason=ARRIVALS_REASON, run=self.ctx.run)
                result.created += 1
            else:
                services.exception_raise(
                    category=INVENTORY,
                    code="osa_arrival_rejected",
                    integration=self.integration,
                    entity=arrival,
                    dedup_key=f"osa:arrival:{self.integration.pk}:{arrival.pk}",
                    message=f"Arrival {arrival.reference} not accepted by OSA: {value}",
                )
                result.record_error(external_id=arrival.reference, message=value)


class PullReceipts(OsaFlow):
    """What OSA physically received → Receipt rows, arrival received quantities/status, inbound quantities."""

    code = "pull_receipts"

    def pages(self, cursor: dict) -> Iterator[Page]:
        yield from self.pages_updated_since(cursor, self.adapter.receipts_list)

    def apply(self, page: Page, result: FlowResult) -> None:
        from inventory import services as inventory_services

        rows: list[osa.RemoteReceipt] = _split_errors(page.items, result)
        result.fetched += len(rows)
        recorded = inventory_services.receipts_record(
            integration=self.integration,
            receipts=[
                {
                    "external_id": r.receipt_id,
                    "arrival_reference": r.arrival_reference,
                    "received_at": r.received_at,
                    "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in r.lines],
                }
                for r in rows
            ],
            reason=ARRIVALS_REASON,
            run=self.ctx.run,
        )
        result.created += recorded["created"]
        result.updated += recorded["updated"]
        result.unchanged += recorded["unchanged"]
        for error in recorded["errors"]:
            result.record_error(**error)
