"""OSA fulfillment pull: shipments → orders.services.fulfillment_record."""

from __future__ import annotations

from typing import Iterator

from django.db.models import Q

from integrations import services
from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.flows.base import OsaFlow, _split_errors
from integrations.flows import FlowResult, Page


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
