"""OSA returns: push RMAs (POST /returns) and pull RMA updates."""

from __future__ import annotations

from typing import Iterator

from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.flows.base import BATCH, FULFILLMENT, OsaFlow, _push_outcome_apply, _split_errors, osa_skus
from integrations.flows import FlowResult, Page
from integrations.models import OutboundPush


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
        from orders.selectors import return_lines_shipped_as

        ids = list(self._queryset().values_list("pk", flat=True)[:500])
        for start in range(0, len(ids), BATCH):
            rows = list(
                Return.objects.filter(pk__in=ids[start : start + BATCH])
                .order_by("pk")
                .select_related("order")
                .prefetch_related("lines__order_line__components", "order__shipping_requests__location")
            )
            outcomes = []
            for ret in rows:
                srs = [sr for sr in ret.order.shipping_requests.all() if sr.integration_id == self.integration.pk]
                sr = next((x for x in srs if x.external_id), srs[0])
                # An ordered bundle line comes back as the components OSA shipped.
                shipped_as = return_lines_shipped_as(ret=ret)
                skus = osa_skus(integration=self.integration, product_ids={pid for pid, _, _ in shipped_as if pid})
                lines = tuple(osa.RmaLineOut(sku=skus.get(pid, sku) if pid else sku, quantity=qty) for pid, sku, qty in shipped_as)
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
            _push_outcome_apply(self, result, obj=ret, key=rma_reference(ret), sent=kind == "sent", value=value,
                                category=FULFILLMENT, noun="return", external_id=ret.external_id)


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
