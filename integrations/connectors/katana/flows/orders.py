"""Orders → Katana: one sales order per shipping request routed to a Katana location, closed-loop cancellations,
and Fulfilled-by-TikTok orders as Done (Delivered) sales orders.

Never two sales orders for one request: the attempt is recorded (committed) on the request's OutboundPush before
the POST, so any later attempt first looks the sales order up by `ecommerce_order_id` (and our reference in
`customer_ref`) — a create whose answer was lost is found instead of created again."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator

from django.contrib.contenttypes.models import ContentType

from integrations import services
from integrations.connectors.katana import mappers as m
from integrations.connectors.katana.client import KatanaNotFound, KatanaValidationError
from integrations.connectors.katana.flows.base import BATCH, VARIANT_REF, KatanaFlow, katana_skus, variant_ids_bound
from integrations.exceptions import AuthError, PermanentError, TransientError
from integrations.flows import FlowResult, Page
from integrations.models import Integration, OpsException, OutboundPush
from integrations.pushes import (
    PushOutcome, cancel_outcomes_record, duplicate_possible, outbox_attempt, outbox_rows, outbox_sent, outbox_write,
    push_outcomes_record,
)

PUSH_KIND = "katana_sales_order"
FBT_KIND = "katana_fbt_sales_order"
CUSTOMER_REFERENCE = "switchyard-{pk}"  # Katana customer reference_id (≤100) of the customer per channel


class Rejected(Exception):
    def __init__(self, code: str, message: str, cause_key: str):
        super().__init__(message)
        self.code, self.message, self.cause_key = code, message, cause_key


@dataclass
class Outcome:
    shipping_request: object
    kind: str  # sent | rejected | held (refused before any call) | transient
    remote: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)  # Katana sales_order_row_id → master SKU
    payload: dict = field(default_factory=dict)
    message: str = ""
    code: str = ""
    cause_key: str = ""
    variants: dict = field(default_factory=dict)  # product pk → variant id found by lookup (bound in apply)


class SalesOrderSupport(KatanaFlow):
    """Customer, scope and lookups shared by the order flows."""

    def channel_in_scope(self, channel: Integration) -> bool:
        names = [n.strip() for n in (self.ctx.setting("channel_integrations") or []) if n.strip()]
        return not names or channel.name in names

    def customer_id(self, channel: Integration) -> int:
        pk = self.integration.pk
        raw = str(self.ctx.setting("customer_id") or "").strip()
        if raw:
            if not raw.isdigit():
                raise Rejected("katana_missing_customer", f"“Katana customer for channel orders” is {raw!r}, not a "
                               "Katana customer ID (a number). Fix the setting; blocked orders are sent on Re-drive.",
                               f"katana_missing_customer:{pk}")
            return int(raw)
        if not self.ctx.setting("create_customers"):
            raise Rejected("katana_missing_customer", "No Katana customer for channel orders: enter a customer ID in the "
                           "Katana integration's settings (or switch on creating one per channel), then Re-drive.",
                           f"katana_missing_customer:{pk}")
        known = (self.integration.remote_state or {}).get("customers", {})
        if str(channel.pk) in known:
            return int(known[str(channel.pk)])
        reference = CUSTOMER_REFERENCE.format(pk=channel.pk)
        found = [c for c in self.client.customers_list(reference_id=reference).items if c.get("reference_id") == reference]
        customer = found[0] if found else self.client.customer_create(
            body={"name": f"{channel.name} (Switchyard)", "reference_id": reference, "category": "Switchyard channel"}
        )
        if not self.ctx.dry_run:
            state = dict(Integration.objects.get(pk=pk).remote_state or {})
            state["customers"] = {**state.get("customers", {}), str(channel.pk): int(customer["id"])}
            Integration.objects.filter(pk=pk).update(remote_state=state)
            self.integration.remote_state = state
        return int(customer["id"])

    def find_sales_order(self, *, ecommerce_order_id: str, customer_ref: str) -> dict | None:
        """Our earlier create, if Katana has it (the answer may have been lost)."""
        for listing in self.client.iterate("/sales_orders", ecommerce_order_id=ecommerce_order_id):
            for so in listing.items:
                if str(so.get("customer_ref") or "") == customer_ref and not so.get("deleted_at"):
                    return so
        return None

    def ours(self, *, ecommerce_order_id: str, customer_ref: str) -> list[dict]:
        """Every live sales order of ours for one request, lowest id first."""
        found = [so for listing in self.client.iterate("/sales_orders", ecommerce_order_id=ecommerce_order_id)
                 for so in listing.items
                 if str(so.get("customer_ref") or "") == customer_ref and not so.get("deleted_at")]
        return sorted(found, key=lambda so: int(so["id"]))

    def dedupe(self, found: list[dict], *, customer_ref: str) -> dict:
        """Katana has no idempotency key: two workers (one whose lease expired mid-POST) may both have created the
        request's sales order. The lowest id is the one bound to the request; the others are deleted while still
        NOT_SHIPPED (recorded in `_duplicates_deleted`); one already further on is left and reported
        (`_duplicates_error`, raised as a visible exception in apply)."""
        keep, deleted, stuck = found[0], [], []
        for dup in found[1:]:
            if self.ctx.dry_run:  # a dry run deletes nothing
                continue
            if (dup.get("status") or m.NOT_SHIPPED) != m.NOT_SHIPPED:
                stuck.append(f"{dup['id']} ({dup.get('status') or '?'})")
                continue
            try:
                self.client.sales_order_delete(sales_order_id=int(dup["id"]))
            except KatanaNotFound:
                pass
            except PermanentError as exc:
                stuck.append(f"{dup['id']} (deletion refused: {exc.message})")
                continue
            deleted.append(int(dup["id"]))
        keep = dict(keep)
        if deleted:
            keep["_duplicates_deleted"] = deleted
        if stuck:
            keep["_duplicates_error"] = (f"Katana has more than one sales order for shipping request {customer_ref}: "
                                         f"{keep['id']} is kept; {', '.join(stuck)} could not be deleted (no longer "
                                         "Not shipped). Delete the duplicate in Katana by hand.")
        return keep

    def push_attempt(self, *, kind: str, key: str, obj, known: OutboundPush | None = None) -> tuple[OutboundPush, int]:
        """The push ledger row, its attempt counted and committed BEFORE the request; returns (row, earlier attempts).
        known: the row as read for the page (then only the attempt is written)."""
        if known is not None and not self.ctx.dry_run:
            return known, outbox_attempt(known)
        if self.ctx.dry_run:  # a dry run writes nothing, not even the ledger row
            push = OutboundPush.objects.filter(integration=self.integration, kind=kind, idempotency_key=key).first()
            return push or OutboundPush(integration=self.integration, kind=kind, idempotency_key=key), \
                (push.attempts if push else 0)
        push, _ = OutboundPush.objects.get_or_create(
            integration=self.integration, kind=kind, idempotency_key=key,
            defaults={"object_id": obj.pk, "content_type": ContentType.objects.get_for_model(obj)},
        )
        return push, outbox_attempt(push)

    def rows_for(self, lines: list[tuple], *, location_id: int | None,
                 bound: dict | None = None) -> tuple[list[m.RowOut], dict, dict]:
        """lines: (product, katana sku, quantity, unit price). → rows, variant id → master SKU, lookups made.
        bound: product pk → variant id already read for the page (else read here); a look-up made here is added to it,
        so the page's other requests of that product do not look it up again."""
        if bound is None:
            bound = variant_ids_bound(integration=self.integration, product_ids=[p.pk for p, *_ in lines if p is not None])
        looked_up, unknown, rows, by_variant = {}, [], [], {}
        for product, sku, quantity, price in lines:
            variant_id = bound.get(product.pk) if product is not None else None
            if variant_id is None:
                hits = [v for v in self.client.variants_list(sku=sku).items if v.get("sku") == sku]  # exact match
                if hits:
                    variant_id = int(hits[0]["id"])
                    if product is not None:
                        looked_up[product.pk] = bound[product.pk] = variant_id
            if variant_id is None:
                unknown.append(sku)
                continue
            rows.append(m.RowOut(variant_id=variant_id, quantity=quantity, price_per_unit=price, location_id=None))
            by_variant[variant_id] = product.sku if product is not None else sku
        if unknown:
            first = unknown[0]
            raise Rejected("katana_unknown_sku", f"Katana has no variant with SKU {', '.join(unknown)} (exact match, case "
                           "and spaces included). Pull products from Katana, or enter the Katana SKU in the Katana row of "
                           "the product's Channel Options, then Re-drive.", f"katana_unknown_sku:{self.integration.pk}:{first}")
        return rows, by_variant, looked_up

    def location_id(self, location) -> int | None:
        if location is not None and location.integration_id == self.integration.pk and str(location.external_id).isdigit():
            return int(location.external_id)
        raw = str(self.ctx.setting("default_location_id") or "").strip()
        return int(raw) if raw.isdigit() else None

    def bind_variants(self, looked_up: dict) -> None:
        from catalog.models import Product

        if looked_up:
            products = {p.pk: p for p in Product.objects.filter(pk__in=list(looked_up))}
            services.external_refs_bind(integration=self.integration, kind=VARIANT_REF, rows=[
                {"external_id": str(v), "local": products[pid]} for pid, v in looked_up.items() if pid in products])


def _row_map(so: dict, by_variant: dict) -> dict:
    return {str(row["id"]): by_variant.get(row.get("variant_id"), "") for row in so.get("sales_order_rows") or []
            if isinstance(row, dict) and "id" in row}


class PushSalesOrders(SalesOrderSupport):
    """Shipping requests routed to a Katana location → POST /sales_orders (NOT_SHIPPED)."""

    code = "push_orders"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders import selectors

        rows = list(selectors.shipping_requests_to_send(integration=self.integration)
                    .select_related("order__integration").prefetch_related("lines__product", "lines__order_line")[:200])
        for start in range(0, len(rows), BATCH):
            outcomes: list[Outcome] = []
            self._preload(rows[start:start + BATCH])
            for sr in rows[start:start + BATCH]:
                try:
                    outcomes.append(self._send(sr))
                except TransientError as exc:
                    yield Page(items=outcomes + [Outcome(sr, "transient", message=str(exc))], next_cursor={})
                    raise
                except AuthError:
                    if outcomes:
                        yield Page(items=outcomes, next_cursor={})
                    raise
            yield Page(items=outcomes, next_cursor={})

    def _preload(self, rows: list) -> None:
        """What the page's requests need, read once: Katana SKUs, bound variants, each order's requests here."""
        from orders.models import ShippingRequest

        products = {ln.product_id: ln.product for sr in rows for ln in sr.lines.all() if ln.product_id}
        self._skus = katana_skus(integration=self.integration, products=products.values())
        self._bound = variant_ids_bound(integration=self.integration, product_ids=list(products))
        # the ledger rows read once (missing ones created pending, no attempt): sending a request writes its attempt only
        self._pushes = {} if self.ctx.dry_run else outbox_rows(integration=self.integration, kind=PUSH_KIND, requests=rows)
        self._siblings: dict[int, list[int]] = {}
        for order_id, pk in (ShippingRequest.objects.filter(integration=self.integration, order_id__in={sr.order_id for sr in rows})
                             .order_by("pk").values_list("order_id", "pk")):
            self._siblings.setdefault(order_id, []).append(pk)

    def _send(self, sr) -> Outcome:
        order, channel = sr.order, sr.order.integration
        try:
            if not self.channel_in_scope(channel):
                raise Rejected("katana_channel_out_of_scope", f"Order {order.external_id} from {channel.name} was routed to "
                               f"Katana, but {channel.name} is not in “Push orders only from these channel integrations”. "
                               "Add it there (then Re-drive) or change the routing rule.",
                               f"katana_scope:{self.integration.pk}:{channel.pk}")
            customer_id = self.customer_id(channel)
            location_id = self.location_id(sr.location)
            rows, by_variant, looked_up = self.rows_for(
                [(line.product, self._skus.get(line.product_id, line.sku) if line.product_id else line.sku, line.quantity,
                  line.order_line.unit_price if line.order_line else None) for line in sr.lines.all()],
                location_id=location_id, bound=self._bound,
            )
        except Rejected as exc:  # refused before any call: not an attempt
            return Outcome(sr, "held", message=exc.message, code=exc.code, cause_key=exc.cause_key)
        siblings = self._siblings.get(sr.order_id, [])
        out = m.SalesOrderOut(
            order_no=order.external_id if len(siblings) <= 1 else f"{order.external_id}/{sr.reference}",
            customer_id=customer_id,
            rows=tuple(rows),
            customer_ref=sr.reference,
            ecommerce_order_id=order.external_id,
            ecommerce_store_name=(channel.remote_state or {}).get("shop_name") or channel.name,
            location_id=location_id,
            currency=order.currency,
            order_created_date=order.ordered_at,
            shipping_address=m.address_from_channel(order.shipping_address),
        )
        body = m.sales_order_body(out)
        push, earlier = self.push_attempt(kind=PUSH_KIND, key=sr.reference, obj=sr, known=self._pushes.get(sr.reference))
        if push.status == OutboundPush.Status.SENT and push.remote_id:
            return Outcome(sr, "sent", remote={"id": int(push.remote_id), "status": m.NOT_SHIPPED},
                           rows=(push.response or {}).get("rows", {}), payload=push.payload)
        try:
            # A later attempt looks ours up (a create whose answer was lost is found, not created again); after a
            # create, so does this one when another worker may have created one too (pushes.duplicate_possible).
            ours = self.ours(ecommerce_order_id=order.external_id, customer_ref=sr.reference) if earlier else []
            if not ours:
                created = self.client.sales_order_create(body=body)
                if order.shipping_total and siblings and siblings[0] == sr.pk:
                    self._shipping_fee(created, order.shipping_total)
                ours = [created]
                if duplicate_possible(ctx=self.ctx, earlier=earlier):
                    ours += [so for so in self.ours(ecommerce_order_id=order.external_id, customer_ref=sr.reference)
                             if int(so["id"]) != int(created["id"])]
                ours = sorted(ours, key=lambda so: int(so["id"]))
            so = self.dedupe(ours, customer_ref=sr.reference)
        except KatanaValidationError as exc:
            return Outcome(sr, "rejected", message=exc.message, code="katana_rejected",
                           cause_key=f"katana_rejected:{self.integration.pk}:{sr.reference}")
        except PermanentError as exc:
            return Outcome(sr, "rejected", message=f"Katana refused the sales order: {exc.message}", code="katana_rejected",
                           cause_key=f"katana_rejected:{self.integration.pk}:{sr.reference}")
        return Outcome(sr, "sent", remote=so, rows=_row_map(so, by_variant) or (push.response or {}).get("rows", {}),
                       payload=body, variants=looked_up)

    def _shipping_fee(self, so: dict, amount: Decimal) -> None:
        try:
            self.client.sales_order_shipping_fee_create(body=m.shipping_fee_body(sales_order_id=so["id"], amount=amount))
        except (PermanentError, TransientError) as exc:  # the order is in Katana; the fee is added by hand
            so["_shipping_fee_error"] = str(exc)

    def apply(self, page: Page, result: FlowResult) -> None:
        """The page's outcomes in a bounded number of queries (integrations.pushes.push_outcomes_record; the attempt
        was counted before the call). A duplicate sales order (rare) is reported or its report resolved here."""
        sent = [o for o in page.items if o.kind == "sent"]
        self.bind_variants({pid: v for o in sent for pid, v in o.variants.items()})
        outcomes = []
        for o in page.items:
            sr = o.shipping_request
            if o.kind != "sent":
                outcomes.append(PushOutcome(sr, o.kind, message=o.message, code=o.code or "katana_rejected", cause_key=o.cause_key))
                continue
            response = {"id": o.remote.get("id"), "status": o.remote.get("status", m.NOT_SHIPPED), "rows": o.rows}
            for key in ("shipping_fee_error", "duplicates_deleted", "duplicates_error"):
                if o.remote.get(f"_{key}"):
                    response[key] = o.remote[f"_{key}"]
            dup_key = f"katana:duplicate_so:{self.integration.pk}:{sr.reference}"
            if o.remote.get("_duplicates_error"):
                services.exception_raise(
                    category=OpsException.Category.FULFILLMENT, code="katana_duplicate_sales_order",
                    integration=self.integration, entity=sr, dedup_key=dup_key, message=o.remote["_duplicates_error"])
            elif o.remote.get("_duplicates_deleted"):  # an earlier report of this request's duplicate is resolved
                services.exceptions_resolve(dedup_keys=[dup_key], note="one sales order left in Katana")
            outcomes.append(PushOutcome(sr, "sent", remote_id=str(o.remote.get("id")), remote_status=response["status"],
                                        response=response, payload=o.payload))
        push_outcomes_record(integration=self.integration, kind=PUSH_KIND, outcomes=outcomes, result=result,
                             run=self.ctx.run, count_attempt=False)


class CancelSalesOrders(SalesOrderSupport):
    """Closed-loop cancellation: while the sales order is NOT_SHIPPED/PENDING it is deleted in Katana (Katana has no
    cancel status, reference §1.4); once packed or delivered it is too late. A partial cancellation reaches us as the
    whole request cancelled (the orders core re-routes what is left), so the sales order is deleted as well."""

    code = "cancel_orders"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders import selectors

        rows = list(selectors.shipping_requests_to_cancel(integration=self.integration)[:200])
        for start in range(0, len(rows), BATCH):
            outcomes = []
            for sr in rows[start:start + BATCH]:
                outcomes.append(self._cancel(sr))
            yield Page(items=outcomes, next_cursor={})

    def _cancel(self, sr) -> tuple:
        so_id = sr.external_id
        if not so_id or not so_id.isdigit():
            found = self.find_sales_order(ecommerce_order_id=sr.order.external_id, customer_ref=sr.reference)
            if found is None:
                return sr, "canceled", "never reached Katana"
            so_id = str(found["id"])
        try:
            so = m.sales_order_from_json(self.client.sales_order_get(sales_order_id=int(so_id)))
        except KatanaNotFound:
            return sr, "canceled", "not in Katana (deleted there)"
        if so.status not in m.CANCELLABLE:
            return sr, "too_late", so.status
        try:
            self.client.sales_order_delete(sales_order_id=so.id)
        except KatanaNotFound:
            pass
        except PermanentError as exc:
            return sr, "error", exc.message
        return sr, "canceled", "deleted in Katana"

    def apply(self, page: Page, result: FlowResult) -> None:
        cancel_outcomes_record(outcomes=page.items, result=result, refused="Katana refused the deletion: {message}",
                               too_late="too late: the Katana sales order is already {message}")


class PushFbtOrders(SalesOrderSupport):
    """Fulfilled-by-TikTok orders → Katana sales orders set to DELIVERED (Katana creates only NOT_SHIPPED/PENDING),
    once each (OutboundPush per order: created, then delivered)."""

    code = "push_fbt_orders"
    LIMIT = 50

    def _candidates(self):
        from orders.models import Order

        sent = OutboundPush.objects.filter(integration=self.integration, kind=FBT_KIND, status=OutboundPush.Status.SENT,
                                           content_type=ContentType.objects.get_for_model(Order)).values("object_id")
        failed = OutboundPush.objects.filter(integration=self.integration, kind=FBT_KIND, status=OutboundPush.Status.FAILED,
                                             content_type=ContentType.objects.get_for_model(Order)).values("object_id")
        channels = [i for i in Integration.objects.filter(role=Integration.Role.CHANNEL) if self.channel_in_scope(i)]
        return (Order.objects.filter(integration__in=channels, fulfillment_type=Order.FulfillmentType.PLATFORM)
                .exclude(status="canceled").exclude(pk__in=sent).exclude(pk__in=failed)
                .select_related("integration").prefetch_related("lines__product").order_by("pk")[: self.LIMIT])

    def pages(self, cursor: dict) -> Iterator[Page]:
        candidates = list(self._candidates())
        self._preload(candidates)
        outcomes = []
        for order in candidates:
            try:
                outcomes.append(self._send(order))
            except TransientError:
                if outcomes:
                    yield Page(items=outcomes, next_cursor={})
                raise
        yield Page(items=outcomes, next_cursor={})

    def _preload(self, orders: list) -> None:
        """What the orders need, read once: Katana SKUs, bound variants, the ledger rows (missing ones created
        pending, no attempt): sending an order writes its attempt only."""
        products = {ln.product_id: ln.product for order in orders for ln in order.lines.all() if ln.product_id}
        self._skus = katana_skus(integration=self.integration, products=products.values())
        self._bound = variant_ids_bound(integration=self.integration, product_ids=list(products))
        self._pushes = {} if self.ctx.dry_run else outbox_rows(integration=self.integration, kind=FBT_KIND, requests=orders,
                                                               key=_fbt_key)

    def _send(self, order) -> tuple:
        key = _fbt_key(order)
        reference = f"FBT-{order.external_id}"
        try:
            customer_id = self.customer_id(order.integration)
            lines = [ln for ln in order.lines.all() if ln.quantity - ln.canceled_quantity > 0 and not ln.is_bundle]
            rows, _, looked_up = self.rows_for(
                [(ln.product, self._skus.get(ln.product_id, ln.sku) if ln.product_id else ln.sku,
                  ln.quantity - ln.canceled_quantity, ln.unit_price) for ln in lines], location_id=None, bound=self._bound)
        except Rejected as exc:
            return order, "rejected", {}, exc
        push, earlier = self.push_attempt(kind=FBT_KIND, key=key, obj=order, known=self._pushes.get(key))
        so_id = int(push.remote_id) if push.remote_id.isdigit() else None
        try:
            if so_id is None:
                found = self.find_sales_order(ecommerce_order_id=order.external_id, customer_ref=reference) if earlier else None
                if found is None:
                    found = self.client.sales_order_create(body=m.sales_order_body(m.SalesOrderOut(
                        order_no=order.external_id, customer_id=customer_id, rows=tuple(rows), customer_ref=reference,
                        ecommerce_order_id=order.external_id,
                        ecommerce_store_name=(order.integration.remote_state or {}).get("shop_name") or order.integration.name,
                        currency=order.currency, order_created_date=order.ordered_at,
                        additional_info="Fulfilled by TikTok (pushed by Switchyard for reporting)")))
                so_id = int(found["id"])
            try:
                self.client.sales_order_update(sales_order_id=so_id, body={"status": m.DELIVERED})
            except (KatanaValidationError, PermanentError):
                raise  # recorded with the page (apply)
            except Exception:
                # the sales order exists: remembered at once, so the retry sets its status without creating one again
                # (the page's apply records it otherwise, the counted attempt covers a worker lost in between)
                if not self.ctx.dry_run and push.remote_id != str(so_id):
                    OutboundPush.objects.filter(pk=push.pk).update(remote_id=str(so_id))
                raise
        except (KatanaValidationError, PermanentError) as exc:
            return order, "rejected", {"id": so_id}, Rejected("katana_rejected", exc.message,
                                                              f"katana_fbt_rejected:{self.integration.pk}")
        return order, "sent", {"id": so_id, "looked_up": looked_up}, None

    def apply(self, page: Page, result: FlowResult) -> None:
        """The page's outcomes in a bounded number of queries: ledger rows read once and written back in one
        statement (integrations.pushes), variants found by look-up bound and the orders' exceptions resolved in one
        pass; a rejection (rare) opens its exception."""
        pushes = outbox_rows(integration=self.integration, kind=FBT_KIND, requests=[order for order, *_ in page.items],
                             key=_fbt_key)
        looked_up, resolved, changed = {}, [], []
        for order, kind, info, rejection in page.items:
            result.fetched += 1
            push = pushes[_fbt_key(order)]
            if kind == "sent":
                looked_up.update(info.get("looked_up") or {})
                outbox_sent(push, remote_id=str(info["id"]), response={"id": info["id"], "status": m.DELIVERED})
                changed.append(push)
                resolved.append(f"katana:fbt:{self.integration.pk}:{order.pk}")
                result.created += 1
                continue
            if info.get("id") is not None:  # created, its status refused: the retry only sets the status
                push.remote_id = str(info["id"])
                changed.append(push)
            services.exception_raise(
                category=OpsException.Category.FULFILLMENT, code=rejection.code, integration=self.integration, entity=order,
                cause_key=rejection.cause_key, dedup_key=f"katana:fbt:{self.integration.pk}:{order.pk}",
                message=f"Fulfilled-by-TikTok order {order.external_id} not pushed to Katana: {rejection.message}")
            result.record_error(external_id=order.external_id, field=rejection.code, message=rejection.message)
        self.bind_variants(looked_up)
        outbox_write(changed)
        services.exceptions_resolve(dedup_keys=resolved, note="sent")


def _fbt_key(order) -> str:
    return f"fbt:{order.integration_id}:{order.external_id}"
