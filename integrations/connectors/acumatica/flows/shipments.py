"""Acumatica drives shipping: shipments it creates for our sales orders become the status of their shipping
requests (Pull shipping requests) and, once confirmed, fulfillments with tracking (Pull fulfillments), which reach
TikTok through the TikTok connector's push."""
from __future__ import annotations

import logging
from typing import Iterator

from django.db import DatabaseError, transaction

from integrations import services
from integrations.connectors.acumatica import mappers as m
from integrations.connectors.acumatica.flows.base import AcumaticaFlow, note
from integrations.exceptions import AuthError, PayloadError, TransientError
from integrations.flows import FlowResult, Page
from integrations.models import OpsException

logger = logging.getLogger(__name__)
PARKED_CODE = "acumatica_shipment_not_recorded"


class _ShipmentPull(AcumaticaFlow):
    """Shipments changed in a fixed window (cursor − overlap, now − lag], listed by key (keyset: rows changing while
    we page never shift others), each then read with its details. The cursor moves to the window's end only after
    the last page is committed; a failure re-reads the window (applying a shipment twice is a no-op)."""

    def pages(self, cursor: dict) -> Iterator[Page]:
        since, until = self.window(cursor)
        keep = dict(cursor)
        for rows in self.client.shipments_changed(since=since, until=until):
            items = []
            for row in rows:
                nbr = str(m.unwrap_entity(row).get("ShipmentNbr") or "")
                if not nbr:
                    continue
                try:
                    items.append(self.client.shipment_get(shipment_nbr=nbr))
                except PayloadError as exc:
                    items.append(exc)
            yield Page(items=items, next_cursor=keep)
        yield Page(items=[], next_cursor={"since": until.isoformat()})

    def item_external_id(self, item) -> str:
        return getattr(item, "shipment_nbr", "") or ""

    def _requests(self, shipments: list[m.RemoteShipment]) -> dict[str, object]:
        """"SO/000123" → our shipping request (its external id is the sales order's keys)."""
        from orders.models import ShippingRequest

        keys = {f"{t}/{n}" for s in shipments for t, n in self._orders_of(s)}
        return {sr.external_id: sr for sr in ShippingRequest.objects.filter(integration=self.integration, external_id__in=keys)
                .select_related("order")}

    @staticmethod
    def _orders_of(s: m.RemoteShipment) -> list[tuple[str, str]]:
        found = list(s.orders) or [(line.order_type, line.order_nbr) for line in s.lines]
        return list(dict.fromkeys(pair for pair in found if pair[0] and pair[1]))


class PullShippingRequests(_ShipmentPull):
    code = "pull_shipping_requests"

    def apply(self, page: Page, result: FlowResult) -> None:
        from orders.models import ShippingRequest

        shipments = []
        for item in page.items:
            if isinstance(item, PayloadError):
                result.record_payload_error(item)
            else:
                shipments.append(item)
        requests = self._requests(shipments)
        foreign = 0
        for s in shipments:
            result.fetched += 1
            ours = [requests[f"{t}/{n}"] for t, n in self._orders_of(s) if f"{t}/{n}" in requests]
            if not ours:
                foreign += 1
                result.unchanged += 1
                continue
            status = f"shipment {s.shipment_nbr}: {s.status}"[:40]
            for sr in ours:
                changed = ShippingRequest.objects.filter(pk=sr.pk).exclude(remote_status=status).update(remote_status=status)
                if changed:
                    result.updated += 1
                else:
                    result.unchanged += 1
        if foreign:
            note(self.ctx, f"{foreign} shipment(s) of sales orders not created by Switchyard ignored")


class PullFulfillments(_ShipmentPull):
    """Confirmed shipments → fulfillment_record per (shipment, sales order): Ship Via as carrier, every package's
    tracking number, shipped quantities by InventoryID (partial or full)."""

    code = "pull_fulfillments"

    def pages(self, cursor: dict) -> Iterator[Page]:
        parked = []
        for exc in OpsException.objects.filter(integration=self.integration, code=PARKED_CODE,
                                               status=OpsException.Status.OPEN).order_by("pk")[:100]:
            nbr = (exc.details or {}).get("shipment_nbr")
            if nbr:
                try:
                    parked.append(self.client.shipment_get(shipment_nbr=nbr))
                except PayloadError as err:
                    parked.append(err)
        if parked:
            yield Page(items=parked, next_cursor=dict(cursor))
        yield from super().pages(cursor)

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog.models import ChannelOption

        shipments = []
        for item in page.items:
            if isinstance(item, PayloadError):
                result.record_payload_error(item)
            elif item.confirmed:
                shipments.append(item)
        requests = self._requests(shipments)
        to_master = dict(ChannelOption.objects.filter(
            integration=self.integration, channel_sku__in={ln.inventory_id for s in shipments for ln in s.lines})
            .values_list("channel_sku", "product__sku"))
        for s in shipments:
            for order_type, nbr in self._orders_of(s) or [("", "")]:
                result.fetched += 1
                sr = requests.get(f"{order_type}/{nbr}")
                if sr is None:
                    result.unchanged += 1  # a sales order Switchyard did not create
                    continue
                try:
                    with transaction.atomic():
                        created = self._record(s, sr, order_type, nbr, to_master)
                except (TransientError, AuthError, services.LeaseLost, DatabaseError):
                    raise
                except Exception as exc:  # a poison record: parked, the page goes on
                    logger.exception("acumatica.shipment_not_recorded", extra={"integration": self.integration.pk})
                    self._park(s, result, message=f"Acumatica shipment {s.shipment_nbr} not recorded: {type(exc).__name__}: {exc}")
                    continue
                services.exceptions_resolve(dedup_keys=[self._park_key(s)], note="recorded")
                if created:
                    result.created += 1
                else:
                    result.unchanged += 1

    def _record(self, s: m.RemoteShipment, sr, order_type: str, nbr: str, to_master: dict) -> bool:
        from orders import services as order_services
        from orders.interface import FulfillmentIn, QuantityLineIn

        lines = [ln for ln in s.lines if (ln.order_type, ln.order_nbr) == (order_type, nbr) or not ln.order_nbr]
        fulfillment = FulfillmentIn(
            external_id=f"{s.shipment_nbr}:{order_type}/{nbr}",
            carrier=s.ship_via,
            shipping_method=s.ship_via,
            tracking_numbers=s.tracking_numbers,
            shipped_at=s.shipment_date,
            lines=tuple(QuantityLineIn(sku=to_master.get(ln.inventory_id, ln.inventory_id), quantity=ln.quantity)
                        for ln in lines if ln.quantity > 0),
        )
        _, created = order_services.fulfillment_record(integration=self.integration, shipping_request=sr,
                                                       fulfillment=fulfillment, run=self.ctx.run)
        return created

    def _park_key(self, s: m.RemoteShipment) -> str:
        return f"acumatica:shipment:{self.integration.pk}:{s.shipment_nbr}"

    def _park(self, s: m.RemoteShipment, result: FlowResult, *, message: str) -> None:
        services.exception_raise(category=OpsException.Category.FULFILLMENT, code=PARKED_CODE, integration=self.integration,
                                 dedup_key=self._park_key(s), details={"shipment_nbr": s.shipment_nbr},
                                 message=f"{message}. It is read again on every Pull fulfillments run; this resolves itself "
                                         "once it is recorded.")
        result.record_error(external_id=s.shipment_nbr, field="shipment", message=message, exception=False)
