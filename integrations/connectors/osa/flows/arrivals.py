"""OSA arrivals (push) and receipts (pull)."""

from __future__ import annotations

from typing import Iterator

from django.db.models import Q

from integrations.connectors.osa import adapter as osa
from integrations.connectors.osa.flows.base import BATCH, INVENTORY, OsaFlow, _note, _push_outcome_apply, _split_errors, osa_skus
from integrations.flows import FlowResult, Page


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
            _push_outcome_apply(self, result, obj=arrival, key=arrival.reference, sent=kind == "sent", value=value,
                                category=INVENTORY, noun="arrival", external_id=arrival.reference)
            if kind == "sent":
                inventory_services.arrival_mark_sent(arrival=arrival, external_id=value, reason=ARRIVALS_REASON, run=self.ctx.run)


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
