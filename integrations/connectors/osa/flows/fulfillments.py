"""OSA fulfillment pull: shipments → orders.services.fulfillment_record."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Iterator

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from integrations import services
from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.flows.base import OsaFlow, _split_errors
from integrations.exceptions import AuthError, TransientError
from integrations.flows import FlowResult, Page
from integrations.models import OpsException


logger = logging.getLogger(__name__)
PARKED_CODE = "osa_shipment_not_recorded"


def shipment_to_details(shipment: osa.RemoteShipment) -> dict:
    """The shipment as OSA described it, JSON-ready, kept on the exception so it can be applied again."""
    return json.loads(
        json.dumps(dataclasses.asdict(shipment), default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    )


def shipment_from_details(data: dict) -> osa.RemoteShipment:
    return osa.RemoteShipment(
        **{
            **data,
            "tracking_numbers": tuple(data.get("tracking_numbers") or ()),
            "shipped_at": parse_datetime(data["shipped_at"]) if data.get("shipped_at") else None,
            "updated_at": parse_datetime(data["updated_at"]) if data.get("updated_at") else None,
            "lines": tuple(osa.ShipmentLine(**line) for line in data.get("lines") or ()),
        }
    )


class PullFulfillments(OsaFlow):
    """OSA shipments → orders.services.fulfillment_record (carrier, tracking, lines; partial shipments).

    A shipment that cannot be recorded (no matching shipping request, or recording it fails) never blocks the
    page: it is parked as an open exception `osa_shipment_not_recorded` holding OSA's payload, retried at the
    start of every run, and resolved once recorded."""

    code = "pull_fulfillments"

    def pages(self, cursor: dict) -> Iterator[Page]:
        parked = [
            shipment_from_details(exc.details["shipment"])
            for exc in OpsException.objects.filter(
                integration=self.integration, code=PARKED_CODE, status=OpsException.Status.OPEN
            ).order_by("pk")
            if (exc.details or {}).get("shipment")
        ]
        if parked:
            yield Page(items=parked, next_cursor=dict(cursor))
        yield from self.pages_updated_since(cursor, self.adapter.shipments_list)

    def apply(self, page: Page, result: FlowResult) -> None:
        from catalog.models import ChannelOption
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
                self._park(
                    s, result, field="order",
                    message=f"OSA shipment {s.shipment_id} for order {s.order_number or s.order_id} matches no shipping request",
                )
                continue
            try:
                with transaction.atomic():  # one record's failure rolls back that record only
                    created = self._record(s, sr, to_master)
            except (TransientError, AuthError, services.LeaseLost, DatabaseError):
                raise  # the engine's business: retry the whole page
            except Exception as exc:  # a poison record: parked, the page goes on
                logger.exception(
                    "osa.shipment_not_recorded", extra={"integration": self.integration.pk, "shipment": s.shipment_id}
                )
                self._park(
                    s, result, field="shipment", message=f"OSA shipment {s.shipment_id} not recorded: {type(exc).__name__}: {exc}"
                )
                continue
            services.exceptions_resolve(
                dedup_keys=[f"osa:waiting:{self.integration.pk}:{s.order_id}", self._park_key(s)],
                note="OSA shipped the order",
            )
            if created:
                result.created += 1
            else:
                result.unchanged += 1

    def _record(self, s: osa.RemoteShipment, sr, to_master: dict) -> bool:
        from orders import services as order_services
        from orders.interface import FulfillmentIn, QuantityLineIn

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
        return created

    def _park_key(self, s: osa.RemoteShipment) -> str:
        return f"osa:shipment:{self.integration.pk}:{s.shipment_id}"

    def _park(self, s: osa.RemoteShipment, result: FlowResult, *, field: str, message: str) -> None:
        services.exception_raise(
            category=OpsException.Category.FULFILLMENT,
            code=PARKED_CODE,
            integration=self.integration,
            dedup_key=self._park_key(s),
            details={"shipment": shipment_to_details(s)},
            message=f"{message}. OSA's shipment is kept here and tried again on every Pull fulfillment information run; "
            f"this resolves itself once it is recorded.",
        )
        result.record_error(external_id=s.shipment_id, field=field, message=message)
