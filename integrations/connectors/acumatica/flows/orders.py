"""Orders → Acumatica: sales orders (PUT, insert only), closed-loop cancellations (CancelSalesOrder), refunds as
return orders. An order reaches Acumatica only through a shipping request routed to an Acumatica location
(orders/CONTRACT.md "Downstream destinations"); one sales order per shipping request.

Never two live orders for one request or refund: a PUT has no idempotency key, so every create is followed by a
look-up of our orders (`CustomerOrder`, our reference in `ExternalRef`). Two workers (one whose lease expired while
its PUT was on the wire) may both have created one: the lowest OrderNbr is bound, the others are cancelled while
their status allows, else a visible exception says which copy to cancel by hand (`dedupe`)."""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Iterator

from integrations import services
from integrations.connectors.acumatica import mappers as m
from integrations.connectors.acumatica.client import AcumaticaConflict, AcumaticaNotFound, AcumaticaRejected
from integrations.connectors.acumatica.flows.base import (
    BATCH,
    AcumaticaFlow,
    OrderTypeEntryError,
    acumatica_skus,
    note,
    order_type_for,
    source_in_scope,
)
from integrations.connectors.acumatica.settings import GENERIC_CUSTOMER
from integrations.exceptions import AuthError, PermanentError, TransientError
from integrations.flows import FlowResult, Page
from integrations.models import Mapping, OpsException, OutboundPush
from integrations.pushes import (
    PushOutcome, cancel_outcomes_record, duplicate_possible, outbox_attempt, outbox_rows, outbox_sent, outbox_write,
    push_outcomes_record,
)

PUSH_KIND = "acumatica_sales_order"
REFUND_KIND = "acumatica_refund"
PAYMENT_DEFAULT_SOURCE = "*"  # a payment-method mapping with this source applies to every order without its own

# Why a request is held before any call: code, setting/mapping to fix, cause key part.
MISSING_CUSTOMER, MISSING_SHIP_VIA, MISSING_PAYMENT, OUT_OF_SCOPE, BAD_ORDER_TYPE = (
    "acumatica_missing_customer", "acumatica_unmapped_ship_via", "acumatica_unmapped_payment_method",
    "acumatica_source_out_of_scope", "acumatica_order_type_entry",
)


# Statuses in which an unwanted copy may still be cancelled (reference §2.7: the exact strings are unconfirmed; an
# order with shipments or an invoice cannot be). Any other status, or none, is left and reported.
CANCELLABLE_STATUSES = frozenset({"open", "on hold", "pending approval", "pending processing", "credit hold",
                                  "awaiting payment"})


@dataclass
class Bound:
    """The order bound to a request or refund, and what became of the other copies Acumatica had."""
    remote: m.RemoteSalesOrder
    duplicates_canceled: list[str] = dc_field(default_factory=list)
    duplicates_error: str = ""

    def report(self, response: dict) -> dict:
        if self.duplicates_canceled:
            response["duplicates_canceled"] = self.duplicates_canceled
        if self.duplicates_error:
            response["duplicates_error"] = self.duplicates_error
        return response


@dataclass
class Outcome:
    shipping_request: Any
    kind: str  # sent | rejected | held | transient
    bound: Bound | None = None
    message: str = ""
    code: str = ""
    cause: str = ""
    field: str = ""
    payload: dict = dc_field(default_factory=dict)


def _channel_label(channel) -> str:
    try:
        return channel.spec.label
    except KeyError:  # the channel's connector is not installed here
        return channel.name


def _remote_id(remote: m.RemoteSalesOrder) -> str:
    return remote.key  # "SO/000123": both keys, what CancelSalesOrder and the shipments need


def _split_remote_id(value: str) -> tuple[str, str]:
    order_type, _, nbr = value.partition("/")
    return order_type, nbr


def _lowest_live_first(so: m.RemoteSalesOrder) -> tuple:
    return so.status.lower() == "canceled", len(so.order_nbr), so.order_nbr


def ours(client, *, order_type: str, customer_order: str, external_ref: str,
         created: m.RemoteSalesOrder | None = None) -> list[m.RemoteSalesOrder]:
    """Every order of ours for one request or refund (same CustomerOrder, our reference in ExternalRef: a channel order
    split over two warehouses has two sales orders with one CustomerOrder), live ones first, lowest OrderNbr first.
    created: the order this attempt has just created (counted even if the list does not show it yet). Before any
    create, a single order without ExternalRef is taken as ours."""
    found = client.sales_orders_find(order_type=order_type, customer_order=customer_order)
    mine = [so for so in found if so.external_ref == external_ref]
    if created is None and not mine and len(found) == 1 and not found[0].external_ref:
        mine = found
    if created is not None and all(so.key != created.key for so in mine):
        mine.append(created)
    return sorted(mine, key=_lowest_live_first)


def dedupe(client, found: list[m.RemoteSalesOrder], *, what: str, reference: str, dry_run: bool) -> Bound:
    """found (from `ours`, not empty): the first is bound; every other live copy is cancelled (CancelSalesOrder) while
    its status allows, else left and reported in `duplicates_error` (raised as a visible exception by apply)."""
    keep, canceled, stuck = found[0], [], []
    for dup in found[1:]:
        status = dup.status.lower()
        if status == "canceled" or dry_run:  # a dry run cancels nothing
            continue
        if status not in CANCELLABLE_STATUSES:
            stuck.append(f"{dup.key} ({dup.status or 'status unknown'})")
            continue
        try:
            client.sales_order_cancel(order_type=dup.order_type, order_nbr=dup.order_nbr)
        except AcumaticaNotFound:
            pass  # gone already
        except PermanentError as exc:
            stuck.append(f"{dup.key} (cancellation refused: {exc.message})")
            continue
        canceled.append(dup.key)
    error = ""
    if stuck:
        error = (f"Acumatica has more than one {what} for {reference}: {keep.key} is kept; {', '.join(stuck)} could not "
                 "be cancelled (no longer Open or On Hold). Cancel the duplicate in Acumatica by hand.")
    return Bound(keep, canceled, error)


def duplicates_record(*, integration, entity, code: str, dedup_key: str, bound: Bound) -> None:
    """A duplicate left at Acumatica opens an exception; once the copies are cancelled, an earlier one is resolved.
    No query when there was no duplicate (the usual case)."""
    if bound.duplicates_error:
        services.exception_raise(category=OpsException.Category.FULFILLMENT, code=code, integration=integration,
                                 entity=entity, dedup_key=dedup_key, message=bound.duplicates_error)
    elif bound.duplicates_canceled:
        services.exceptions_resolve(dedup_keys=[dedup_key], note="one order left in Acumatica")


class PushSalesOrders(AcumaticaFlow):
    """Shipping requests routed to Acumatica → one SalesOrder each, never two (lost answers are looked up by
    CustomerOrder before any retry)."""

    code = "push_orders"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders import selectors

        ids = list(selectors.shipping_requests_to_send(integration=self.integration).values_list("pk", flat=True)[:1000])
        for start in range(0, len(ids), BATCH):
            outcomes: list[Outcome] = []
            try:
                for sr in self._load(ids[start:start + BATCH]):
                    outcomes.append(self._send(sr))
            except TransientError as exc:
                yield Page(items=outcomes + [Outcome(getattr(exc, "shipping_request", None), "transient", message=str(exc))],
                           next_cursor={})
                raise
            except AuthError:
                if outcomes:
                    yield Page(items=outcomes, next_cursor={})
                raise
            yield Page(items=outcomes, next_cursor={})

    def _load(self, ids: list[int]):
        from orders.models import ShippingRequest

        rows = list(ShippingRequest.objects.filter(pk__in=ids).order_by("pk")
                    .select_related("order", "order__integration", "location")
                    .prefetch_related("lines__product", "lines__order_line"))
        maps = Mapping.objects.filter(integration=self.integration,
                                      kind__in=[Mapping.Kind.SHIPPING_METHOD, Mapping.Kind.PAYMENT_METHOD])
        self._ship_via = {mp.source: mp.target for mp in maps if mp.kind == Mapping.Kind.SHIPPING_METHOD}
        self._payment = {mp.source: mp.target for mp in maps if mp.kind == Mapping.Kind.PAYMENT_METHOD}
        product_ids = {ln.product_id for sr in rows for ln in sr.lines.all() if ln.product_id}
        self._skus = acumatica_skus(integration=self.integration, product_ids=product_ids)
        # the ledger rows read once (missing ones created pending, no attempt): sending a request writes its attempt only
        self._pushes = {} if self.ctx.dry_run else outbox_rows(integration=self.integration, kind=PUSH_KIND, requests=rows)
        return rows

    # --- checks made before any call: each missing thing is its own cause, so fixing it and pressing Re-drive
    # sends every request it blocked.

    def _held(self, sr) -> Outcome | None:
        pk = self.integration.pk
        channel = sr.order.integration
        if not source_in_scope(self.ctx.setting("order_sources") or [], channel):
            return Outcome(sr, "held", code=OUT_OF_SCOPE, cause=f"{OUT_OF_SCOPE}:{pk}:{channel.pk}", field="order_source",
                           message=f"order source “{channel.name}” is not in “Push orders to Acumatica only for specific "
                                   f"order sources”; add it there (or route these orders elsewhere), then Re-drive.")
        try:
            order_type_for(self.ctx.setting("order_types") or [], channel)
        except OrderTypeEntryError as exc:
            return Outcome(sr, "held", code=BAD_ORDER_TYPE, cause=f"{BAD_ORDER_TYPE}:{pk}", field="order_types",
                           message=f"“Use order type defined below when pushing sales orders to Acumatica”: {exc}. Fix the "
                                   "entry, then Re-drive.")
        customer = (self.ctx.setting("generic_customer_id") or "").strip()
        if self.ctx.setting("customer_strategy") == GENERIC_CUSTOMER and not customer:
            return Outcome(sr, "held", code=MISSING_CUSTOMER, cause=f"{MISSING_CUSTOMER}:{pk}", field="CustomerID",
                           message="no Generic Customer Id: enter the Acumatica customer for all orders in the Acumatica "
                                   "settings (customer matching strategy), then Re-drive.")
        method = self._method_source(sr)
        if method not in self._ship_via:
            return Outcome(sr, "held", code=MISSING_SHIP_VIA, cause=f"{MISSING_SHIP_VIA}:{pk}:{method}", field="ShipVia",
                           message=f"shipping option “{method or '(none)'}” has no Ship Via mapping in the Acumatica "
                                   "connector's Orders to Acumatica mapping; add it, then Re-drive.")
        payment = sr.order.payment_method or ""
        if payment not in self._payment and PAYMENT_DEFAULT_SOURCE not in self._payment:
            return Outcome(sr, "held", code=MISSING_PAYMENT, cause=f"{MISSING_PAYMENT}:{pk}:{payment}", field="PaymentMethod",
                           message=f"payment method “{payment or '(none)'}” has no Acumatica payment method mapping (e.g. "
                                   f"→ TTS; source {PAYMENT_DEFAULT_SOURCE} maps every payment method); add it, then Re-drive.")
        return None

    @staticmethod
    def _method_source(sr) -> str:
        return sr.shipping_method or sr.order.shipping_method or ""

    def _build(self, sr) -> m.SalesOrderOut:
        channel = sr.order.integration
        payment = sr.order.payment_method or ""
        warehouse = (sr.location.external_id if sr.location else "") or ""
        by_sku: dict[str, list] = {}
        for line in sr.lines.all():
            sku = self._skus.get(line.product_id, line.sku) if line.product_id else line.sku
            price = line.order_line.unit_price if line.order_line else 0
            if sku in by_sku:
                by_sku[sku][0] += line.quantity
            else:
                by_sku[sku] = [line.quantity, price]
        return m.SalesOrderOut(
            order_type=order_type_for(self.ctx.setting("order_types") or [], channel),
            customer_id=(self.ctx.setting("generic_customer_id") or "").strip(),
            customer_order=sr.order.external_id,
            external_ref=sr.reference,
            description=f"{_channel_label(channel)} order {sr.order.external_id}"[:250],
            ship_via=self._ship_via[self._method_source(sr)],
            payment_method=self._payment.get(payment) or self._payment[PAYMENT_DEFAULT_SOURCE],
            date=sr.order.ordered_at,
            requested_on=sr.order.ship_by,
            ship_to=m.ship_to_from_address(sr.order.shipping_address),
            warehouse_id=warehouse,
            lines=tuple(m.SalesOrderLineOut(sku, qty, price, warehouse) for sku, (qty, price) in by_sku.items()),
        )

    def _ours(self, order: m.SalesOrderOut, created: m.RemoteSalesOrder | None = None) -> list[m.RemoteSalesOrder]:
        if created is not None and self.ctx.dry_run:  # nothing was created: nothing to look for
            return [created]
        return ours(self.client, order_type=order.order_type, customer_order=order.customer_order,
                    external_ref=order.external_ref, created=created)

    def _send(self, sr) -> Outcome:
        held = self._held(sr)
        if held is not None:
            return held
        push = self._pushes.get(sr.reference)
        if push is not None and push.status == OutboundPush.Status.SENT and push.remote_id:
            order_type, nbr = _split_remote_id(push.remote_id)
            return Outcome(sr, "sent", bound=Bound(m.RemoteSalesOrder(order_type, nbr, "", sr.order.external_id, sr.reference)))
        order = self._build(sr)
        body = m.sales_order_body(order)
        earlier = outbox_attempt(push) if push is not None else 0  # counted and committed BEFORE the PUT
        try:
            found = []
            if earlier:
                found = self._ours(order)  # a previous attempt may have reached Acumatica: look before creating
            if not found:
                try:
                    created = self.client.sales_order_create(order=order)
                except AcumaticaConflict:
                    found = self._ours(order)  # 412: it exists after all
                    if not found:
                        raise
                else:
                    # and look after creating when another worker may have created one too
                    found = self._ours(order, created) if duplicate_possible(ctx=self.ctx, earlier=earlier) else [created]
            bound = dedupe(self.client, found, what="sales order", reference=f"shipping request {sr.reference}",
                           dry_run=self.ctx.dry_run)
        except AcumaticaRejected as exc:
            fields = ", ".join(dict.fromkeys(exc.fields)) or "(record)"
            return Outcome(sr, "rejected", message=exc.message, code="acumatica_rejected", field=fields,
                           cause=f"acumatica_rejected:{self.integration.pk}:{fields}")
        except AcumaticaConflict as exc:
            return Outcome(sr, "rejected", message=exc.message, code="acumatica_conflict", field="(record)")
        except TransientError as exc:
            exc.shipping_request = sr
            raise
        return Outcome(sr, "sent", bound=bound, payload=body)

    def apply(self, page: Page, result: FlowResult) -> None:
        """The page's outcomes in a bounded number of queries (integrations.pushes.push_outcomes_record). A duplicate
        sales order (rare) is reported or its report resolved here."""
        outcomes = []
        for o in page.items:
            if o.kind == "held":
                outcomes.append(PushOutcome(o.shipping_request, "held", message=f"not sent to Acumatica: {o.message}",
                                            run_message=o.message, code=o.code, cause_key=o.cause, field=o.field, exception=False))
            elif o.kind == "sent":
                remote = o.bound.remote
                duplicates_record(integration=self.integration, entity=o.shipping_request, bound=o.bound,
                                  code="acumatica_duplicate_sales_order",
                                  dedup_key=f"acumatica:duplicate_so:{self.integration.pk}:{o.shipping_request.reference}")
                outcomes.append(PushOutcome(o.shipping_request, "sent", remote_id=_remote_id(remote), remote_status=remote.status,
                                            payload=o.payload, response=o.bound.report({
                                                "order_type": remote.order_type, "order_nbr": remote.order_nbr,
                                                "status": remote.status})))
            else:
                outcomes.append(PushOutcome(o.shipping_request, o.kind, message=o.message, code=o.code or "3pl_rejected",
                                            cause_key=o.cause, field=o.field, exception=False))
        push_outcomes_record(integration=self.integration, kind=PUSH_KIND, outcomes=outcomes, result=result, run=self.ctx.run,
                             count_attempt=False, move_order=bool(self.ctx.setting("mark_sent_to_fulfillment")),
                             error_limit=2000)


class CancelSalesOrders(AcumaticaFlow):
    """Closed-loop cancellation: shipping requests the hub wants canceled → CancelSalesOrder (202s polled), then the
    order is read back: Canceled confirms, a shipped/completed order is too late."""

    code = "cancel_orders"
    TOO_LATE = frozenset({"completed", "shipping", "invoiced", "closed"})

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders import selectors

        rows = list(selectors.shipping_requests_to_cancel(integration=self.integration)[:500])
        for start in range(0, len(rows), BATCH):
            outcomes = []
            for sr in rows[start:start + BATCH]:
                outcomes.append((sr, *self._cancel(sr)))
            yield Page(items=outcomes, next_cursor={})

    def _cancel(self, sr) -> tuple[str, str]:
        remote_id = sr.external_id
        if not remote_id:
            push = OutboundPush.objects.filter(integration=self.integration, kind=PUSH_KIND, idempotency_key=sr.reference).first()
            remote_id = push.remote_id if push and push.remote_id else ""
        if not remote_id:
            found = sorted([so for so in self.client.sales_orders_find(order_type=order_type_for(
                self.ctx.setting("order_types") or [], sr.order.integration), customer_order=sr.order.external_id)
                if so.external_ref == sr.reference], key=_lowest_live_first)  # a cancelled duplicate last
            if not found:
                return "canceled", "never reached Acumatica"
            remote_id = _remote_id(found[0])
        order_type, nbr = _split_remote_id(remote_id)
        try:
            current = self.client.sales_order_get(order_type=order_type, order_nbr=nbr)
        except AcumaticaNotFound:
            return "canceled", "unknown to Acumatica"
        if current.status.lower() == "canceled":
            return "canceled", ""
        if current.status.lower() in self.TOO_LATE:
            return "too_late", current.status
        try:
            self.client.sales_order_cancel(order_type=order_type, order_nbr=nbr)
        except AcumaticaRejected as exc:
            return "error", exc.message
        after = self.client.sales_order_get(order_type=order_type, order_nbr=nbr)
        if after.status.lower() == "canceled":
            return "canceled", ""
        if after.status.lower() in self.TOO_LATE:
            return "too_late", after.status
        return "error", f"Acumatica still shows {nbr} as {after.status or 'not canceled'} after CancelSalesOrder"

    def apply(self, page: Page, result: FlowResult) -> None:
        cancel_outcomes_record(outcomes=page.items, result=result, refused="Acumatica refused the cancellation: {message}",
                               too_late="too late: Acumatica has already shipped this order ({message})",
                               too_late_exception=False)


class PushRefunds(AcumaticaFlow):
    """Refunds of orders sent to Acumatica → one return order (refund order type, default RC) per refund."""

    code = "push_refunds"
    SKIP_STATUS_WORDS = ("reject", "cancel", "fail", "pending")

    def _refunds(self):
        from orders.models import Refund, ShippingRequest

        order_ids = ShippingRequest.objects.filter(integration=self.integration).exclude(external_id="").values("order_id")
        done = OutboundPush.objects.filter(integration=self.integration, kind=REFUND_KIND,
                                           status=OutboundPush.Status.SENT).values_list("idempotency_key", flat=True)
        rows = (Refund.objects.filter(order_id__in=order_ids).select_related("order", "order__integration")
                .prefetch_related("lines__order_line__product").order_by("pk"))
        done = set(done)
        return [r for r in rows[:500] if f"refund:{r.pk}" not in done
                and not any(w in r.status.lower() for w in self.SKIP_STATUS_WORDS)]

    def pages(self, cursor: dict) -> Iterator[Page]:
        refunds = self._refunds()
        product_ids = {ln.order_line.product_id for r in refunds for ln in r.lines.all() if ln.order_line and ln.order_line.product_id}
        skus = acumatica_skus(integration=self.integration, product_ids=product_ids)
        for start in range(0, len(refunds), BATCH):
            outcomes = []
            # the page's ledger rows read once, the missing ones created pending (an earlier attempt means: look the
            # return order up before creating)
            self._pushes = {} if self.ctx.dry_run else outbox_rows(
                integration=self.integration, kind=REFUND_KIND, requests=refunds[start:start + BATCH], key=_refund_key)
            try:
                for refund in refunds[start:start + BATCH]:
                    current = refund
                    outcomes.append(self._send(refund, skus))
            except TransientError as exc:  # count the attempt: the next run looks the return order up first
                yield Page(items=outcomes + [(current, "transient", str(exc), None)], next_cursor={})
                raise
            yield Page(items=outcomes, next_cursor={})

    def _send(self, refund, skus: dict) -> tuple:
        key = _refund_key(refund)
        ret = m.ReturnOrderOut(
            order_type=(self.ctx.setting("refund_order_type") or "RC").strip().upper(),
            customer_id=(self.ctx.setting("generic_customer_id") or "").strip(),
            customer_order=f"{refund.order.external_id}-R{refund.external_id or refund.pk}"[:40],
            external_ref=key,
            description=f"Refund {refund.external_id or refund.pk} of order {refund.order.external_id}"[:250],
            lines=tuple(m.ReturnOrderLineOut(
                inventory_id=skus.get(ln.order_line.product_id, ln.sku) if ln.order_line and ln.order_line.product_id else ln.sku,
                quantity=ln.quantity or 1, amount=ln.amount) for ln in refund.lines.all()),
        )
        if not ret.customer_id:
            return refund, "error", "no Generic Customer Id", None
        if not ret.lines:
            return refund, "error", "the refund has no lines to return", None
        push = self._pushes.get(key)
        look = dict(order_type=ret.order_type, customer_order=ret.customer_order, external_ref=key)
        earlier = outbox_attempt(push) if push is not None else 0  # counted and committed BEFORE the PUT
        try:
            found = []
            if earlier:  # a previous attempt may have reached Acumatica: look before creating
                found = ours(self.client, **look)
            if not found:
                created = self.client.return_order_create(ret=ret)
                # and look after creating when another worker may have created one too
                again = not self.ctx.dry_run and duplicate_possible(ctx=self.ctx, earlier=earlier)
                found = ours(self.client, **look, created=created) if again else [created]
            bound = dedupe(self.client, found, what="return order", reference=f"refund {refund.external_id or refund.pk}",
                           dry_run=self.ctx.dry_run)
        except AcumaticaRejected as exc:
            return refund, "rejected", exc.message, None
        return refund, "sent", "", bound

    def apply(self, page: Page, result: FlowResult) -> None:
        """The page's outcomes in a bounded number of queries: ledger rows read once (missing ones created in one
        statement), written back in one statement (integrations.pushes). A duplicate return
        order (rare) is reported or its report resolved here."""
        pushes = outbox_rows(integration=self.integration, kind=REFUND_KIND, requests=[refund for refund, *_ in page.items],
                             key=_refund_key)
        for refund, kind, message, bound in page.items:
            result.fetched += 1
            push = pushes[_refund_key(refund)]  # its attempt was counted before the call (_send)
            if kind == "sent":
                duplicates_record(integration=self.integration, entity=refund, bound=bound,
                                  code="acumatica_duplicate_return_order",
                                  dedup_key=f"acumatica:duplicate_return:{self.integration.pk}:{refund.pk}")
                outbox_sent(push, remote_id=_remote_id(bound.remote), response=bound.report({
                    "order_type": bound.remote.order_type, "order_nbr": bound.remote.order_nbr, "status": bound.remote.status}))
                result.created += 1
            elif kind == "transient":
                push.last_error = message[:2000]
            else:
                push.status, push.last_error = OutboundPush.Status.FAILED, message[:2000]
                result.record_error(external_id=_refund_key(refund), message=f"refund not sent to Acumatica: {message}")
        outbox_write(pushes.values())
        if not page.items:
            note(self.ctx, "no refunds to send")


def _refund_key(refund) -> str:
    return f"refund:{refund.pk}"
