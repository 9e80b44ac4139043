"""OSA shipping-request flows: push (POST /orders), closed-loop cancel, status pull (cancellations, Waiting)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator

from django.db.models import Q
from django.utils import timezone

from integrations import services
from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.flows.base import (
    BATCH,
    FULFILLMENT,
    HINTS,
    WAITING_LIMIT,
    OsaFlow,
    _note,
    osa_skus,
    product_info,
)
from integrations.exceptions import AuthError, PayloadError, TransientError
from integrations.flows import FlowResult, Page
from integrations.models import Mapping, OpsException, OutboundPush
from integrations.pushes import PushOutcome, cancel_outcomes_record, push_outcomes_record


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
        # One OSA line per SKU: a bundle's component and the same SKU ordered on its own are two request lines
        # here, but OSA ships and reports by SKU (fulfillment_record spreads a shipped SKU over the lines again).
        by_sku: dict[str, osa.ShippingRequestLineOut] = {}
        for line in sr.lines.all():
            sku = self._skus.get(line.product_id, line.sku) if line.product_id else line.sku
            info = product_info(line.product, sku=sku) if line.product else osa.ProductInfo(sku=sku, name=line.sku)
            price = line.order_line.unit_price if line.order_line else 0
            if sku in by_sku:
                by_sku[sku] = dataclasses.replace(by_sku[sku], quantity=by_sku[sku].quantity + line.quantity)
                continue
            by_sku[sku] = osa.ShippingRequestLineOut(line_ref=str(line.pk), sku=sku, quantity=line.quantity, product=info, unit_price=price)
        lines = list(by_sku.values())
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
        """The page's outcomes in a bounded number of queries (integrations.pushes.push_outcomes_record). An unmapped
        method is not an attempt: no outbox row, the request stays ready, one exception per method names the fix."""
        integration = self.integration
        outcomes = []
        for o in page.items:
            sr = o.shipping_request
            if sr is None:
                continue
            if o.kind != "unmapped":
                outcomes.append(PushOutcome(
                    sr, o.kind, remote_id=o.remote.order_id if o.remote else "", remote_status=o.remote.status if o.remote else "",
                    response={"order_id": o.remote.order_id, "status": o.remote.status} if o.remote else {},
                    payload=o.payload, message=o.message, code=o.code or "3pl_rejected"))
                continue
            result.fetched += 1
            what = f"“{o.source_method}”" if o.source_method else "(none)"
            services.exception_raise(
                category=FULFILLMENT, code="unmapped_shipping_method", integration=integration, entity=sr,
                cause_key=f"shipping_method:{integration.pk}:{o.source_method}", dedup_key=f"sr:{sr.pk}:unmapped_shipping_method",
                message=f"Shipping request {sr.reference} not sent to OSA: shipping method {what} has no Shipping Method "
                f"Mapping for {integration.name}. Add the mapping; the request is sent on the next run.")
            result.record_error(external_id=sr.reference, field="shipping_method", message=f"unmapped shipping method {what}")
        push_outcomes_record(integration=integration, kind=self.push_kind, outcomes=outcomes, result=result, run=self.ctx.run)


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
        cancel_outcomes_record(outcomes=page.items, result=result, refused="OSA refused the cancellation: {message}",
                               too_late="too late: OSA has already shipped this order")


class PullOrderStatuses(OsaFlow):
    """OSA-side status changes: cancellations (→ the configured status) and orders stuck in Waiting."""

    code = "pull_order_statuses"

    def pages(self, cursor: dict) -> Iterator[Page]:
        reached = dict(cursor)
        for page in self.pages_updated_since(
            cursor, self.adapter.orders_list, wrap=lambda o: ("error", o) if isinstance(o, PayloadError) else ("status", o)
        ):
            reached = page.next_cursor
            yield page
        waiting: list[osa.RemoteOrder] = []
        for listing in osa.iterate(self.adapter.orders_list, status=osa.WAITING):
            waiting.extend(listing.items)
        yield Page(items=[("waiting", waiting)], next_cursor=reached)

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
