"""Fulfillments ← Katana: a Delivered Katana fulfillment with tracking → fulfillment_record (rows → quantities, so
partial deliveries are partial fulfillments). Incremental: the fulfillments themselves are listed by `updated_at_min`
with overlap (one call per 250, reference §1.2's common list filter; this read one call per delivered sales order
before), grouped by sales order and matched to the shipping requests we sent; webhooks and record retries run it
targeted on `sales_order_ids` (each sales order re-fetched by id and its fulfillments read, never trusting a webhook
body)."""

from __future__ import annotations

import logging
from typing import Iterator

from django.db import DatabaseError, transaction

from integrations import services
from integrations.connectors.katana import mappers as m
from integrations.connectors.katana.client import KatanaNotFound
from integrations.connectors.katana.flows.base import KatanaFlow
from integrations.connectors.katana.flows.orders import PUSH_KIND
from integrations.exceptions import AuthError, PayloadError, TransientError
from integrations.flows import FlowResult, Page
from integrations.models import OutboundPush

logger = logging.getLogger(__name__)
DELIVERED_STATES = (m.PARTIALLY_DELIVERED, m.DELIVERED)


class PullFulfillments(KatanaFlow):
    code = "pull_fulfillments"

    def item_external_id(self, item) -> str:
        so = item[0] if isinstance(item, tuple) else item
        return str(so.get("id", "")) if isinstance(so, dict) else ""

    def pages(self, cursor: dict) -> Iterator[Page]:
        targeted = [int(i) for i in self.ctx.params.get("sales_order_ids", []) if str(i).isdigit()]
        if targeted:
            orders = []
            for so_id in targeted:
                try:
                    orders.append(self.client.sales_order_get(sales_order_id=so_id))
                except KatanaNotFound:
                    continue
            yield Page(items=self._with_fulfillments(orders), next_cursor={})
            return
        for listing, next_cursor in self.pages_updated_since(cursor, self.client.sales_order_fulfillments_list,
                                                             include_deleted="true"):
            yield Page(items=self._by_sales_order(listing.items), next_cursor=next_cursor)

    def _by_sales_order(self, fulfillments: list) -> list:
        """(sales order stub, its fulfillments on this page, shipping request pk) for the sales orders we sent. A deleted
        fulfillment is left out (listed only so the set never shrinks while paging); a fulfillment of a sales order
        deleted after delivery is not deleted itself: it is recorded and the core marks the cancellation too late."""
        grouped: dict[str, list] = {}
        for f in fulfillments:
            if isinstance(f, dict) and f.get("sales_order_id") is not None and not f.get("deleted_at"):
                grouped.setdefault(str(f["sales_order_id"]), []).append(f)
        ours = self._requests_sent(grouped)
        return [({"id": int(so_id) if so_id.isdigit() else so_id}, rows, ours[so_id])
                for so_id, rows in grouped.items() if so_id in ours]

    def _with_fulfillments(self, orders: list) -> list:
        """(sales order, its fulfillments, shipping request pk) for delivered orders we sent; reads only."""
        ours = self._requests_sent(str(o.get("id")) for o in orders if isinstance(o, dict))
        items = []
        for so in orders:
            sr_pk = ours.get(str(so.get("id"))) if isinstance(so, dict) else None
            # A sales order deleted after it was delivered (our cancellation's DELETE racing the warehouse: Katana
            # has no conditional delete) still shipped: its deliveries are recorded, the core marks the cancel too late.
            if sr_pk is None or so.get("status") not in DELIVERED_STATES:
                continue
            fulfillments = []
            for listing in self.client.iterate("/sales_order_fulfillments", sales_order_id=int(so["id"])):
                fulfillments.extend(listing.items)
            items.append((so, fulfillments, sr_pk))
        return items

    def _requests_sent(self, sales_order_ids) -> dict[str, int]:
        """Katana sales order id → the pk of the shipping request we sent as it (ours only)."""
        from orders.models import ShippingRequest

        return dict(ShippingRequest.objects.filter(integration=self.integration, external_id__in=list(sales_order_ids))
                    .values_list("external_id", "pk"))

    def apply(self, page: Page, result: FlowResult) -> None:
        from orders.models import ShippingRequest

        srs = {sr.pk: sr for sr in ShippingRequest.objects.filter(pk__in=[i[2] for i in page.items])}
        pushes = {p.remote_id: p for p in OutboundPush.objects.filter(
            integration=self.integration, kind=PUSH_KIND, remote_id__in=[str(i[0]["id"]) for i in page.items])}
        for so, fulfillments, sr_pk in page.items:
            result.fetched += 1
            sr = srs[sr_pk]
            rows = ((pushes.get(str(so["id"])) or OutboundPush()).response or {}).get("rows", {})
            for raw in fulfillments:
                try:
                    f = m.fulfillment_from_json(raw)
                except PayloadError as exc:
                    result.record_error(external_id=str(so["id"]), field=exc.field, message=exc.message, payload=so)
                    continue
                if f.status != m.DELIVERED:
                    continue  # packed, not delivered yet
                if not f.tracking_number:
                    result.record_error(external_id=str(so["id"]), field="tracking_number",
                                        message=f"Katana fulfillment {f.id} is Delivered without a tracking number: add "
                                                "it in Katana (this retries on Re-drive / the next update)", payload=so)
                    continue
                missing = [row_id for row_id, _ in f.rows if not rows.get(str(row_id))]
                if missing:
                    result.record_error(external_id=str(so["id"]), field="sales_order_row_id",
                                        message=f"Katana fulfillment {f.id} names rows {missing} that are not rows "
                                                f"Switchyard sent", payload=so)
                    continue
                try:
                    with transaction.atomic():
                        created = self._record(f, sr, rows)
                except (TransientError, AuthError, services.LeaseLost, DatabaseError):
                    raise
                except Exception as exc:  # a poison record: kept on its exception, the page goes on
                    logger.exception("katana.fulfillment_not_recorded", extra={"integration": self.integration.pk})
                    result.record_error(external_id=str(so["id"]), field="fulfillment",
                                        message=f"Katana fulfillment {f.id} not recorded: {type(exc).__name__}: {exc}",
                                        payload=so)
                    continue
                if created:
                    result.created += 1
                else:
                    result.unchanged += 1

    def _record(self, f: m.RemoteFulfillment, sr, rows: dict) -> bool:
        from orders import services as order_services
        from orders.interface import FulfillmentIn, QuantityLineIn

        lines: dict[str, int] = {}
        for row_id, quantity in f.rows:
            sku = rows[str(row_id)]
            lines[sku] = lines.get(sku, 0) + quantity
        fulfillment = FulfillmentIn(
            external_id=f"katana-fulfillment-{f.id}",
            carrier=f.tracking_carrier,
            shipping_method=f.tracking_method,
            tracking_numbers=(f.tracking_number,),
            tracking_url=f.tracking_url[:200],
            shipped_at=f.picked_date,
            lines=tuple(QuantityLineIn(sku=sku, quantity=q) for sku, q in lines.items() if q > 0),
        )
        _, created = order_services.fulfillment_record(integration=self.integration, shipping_request=sr,
                                                       fulfillment=fulfillment, run=self.ctx.run)
        return created
