"""Returns and refunds (pull): Search Returns (reference §8.1), incremental by update time: a fixed window
[cursor − overlap, run start − lag) read by keyset continuation (paging.py); cursor {"since": epoch} = every
return updated before it has been read.

Returns: filtered by "Pull returns only with this statuses"; with "Pull returns only when there is a
matching order available in Switchyard" returns of unknown orders are skipped (and fetched again once the
order exists, because the cursor overlap and a re-run re-read them). Refunds: TikTok return requests of the
types in "Pull refunds TikTok types" and statuses in "Pull refunds only with this statuses". Writes through
orders.services.returns_upsert / refunds_upsert (idempotent on (integration, external_id))."""
from __future__ import annotations

from django.utils import timezone

from integrations.connectors.tiktok.client import make_client
from integrations.connectors.tiktok import mappers_catalog as m
from integrations.connectors.tiktok import paging
from integrations.exceptions import PayloadError, PermanentError
from integrations.flows import Flow, Page
from integrations.models import OutboundPush


class _SearchReturns(Flow):
    statuses_setting = ""
    types_setting = ""

    def pages(self, cursor):
        client = make_client(self.ctx)
        targeted = [str(i) for i in self.ctx.params.get("return_ids") or []]
        if targeted:  # webhook: fetch just these returns; the cursor stays where it is
            data = client.returns_search(return_ids=targeted, return_status=self.ctx.setting(self.statuses_setting) or None)
            yield Page(items=data.get("return_orders") or [], next_cursor=dict(cursor))
            return
        done = int(cursor.get("since") or 0)
        start = paging.window_start(cursor_value=cursor.get("since"), overlap=self.overlap,
                                    first_start=int(self.ctx.integration.created_at.timestamp()))
        end = paging.window_end(self.ctx.started_at)
        types = self.ctx.setting(self.types_setting) if self.types_setting else None
        statuses = self.ctx.setting(self.statuses_setting) or None

        def search(ge: int, lt: int, token: str) -> dict:
            return client.returns_search(page_token=token, return_status=statuses, return_types=types or None,
                                         update_time_ge=ge, update_time_lt=lt)

        for page in paging.sorted_window_pages(search, start=start, end=end, items_key="return_orders", id_key="return_id"):
            yield Page(items=page.records, next_cursor={"since": max(done, page.complete_before)})

    def _record(self, result, outcome) -> None:
        result.created += outcome.created
        result.updated += outcome.updated
        result.unchanged += outcome.unchanged
        for error in outcome.errors:
            result.record_error(external_id=error.get("external_id", ""), field=error.get("field", ""), message=error["message"])


class PullReturns(_SearchReturns):
    code = "pull_returns"
    statuses_setting = "return_statuses"

    def apply(self, page, result):
        from orders import services as order_services
        from orders.models import Order

        returns_in = []
        for item in page.items:
            try:
                returns_in.append(m.return_to_return_in(item))
            except PayloadError as exc:
                result.record_payload_error(exc, payload=item)
        result.fetched += len(page.items)
        if self.ctx.setting("returns_require_order"):
            known = set(Order.objects.filter(integration=self.ctx.integration,
                                             external_id__in=[r.order_external_id for r in returns_in])
                        .values_list("external_id", flat=True))
            skipped = [r for r in returns_in if r.order_external_id not in known]
            result.unchanged += len(skipped)
            returns_in = [r for r in returns_in if r.order_external_id in known]
        self._record(result, order_services.returns_upsert(integration=self.ctx.integration, returns_in=returns_in, run=self.ctx.run))


class PullRefunds(_SearchReturns):
    code = "pull_refunds"
    statuses_setting = "refund_statuses"
    types_setting = "refund_types"

    def apply(self, page, result):
        from orders import services as order_services

        refunds_in = []
        allowed_types = set(self.ctx.setting("refund_types") or [])
        for item in page.items:
            if allowed_types and item.get("return_type") not in allowed_types:
                continue
            try:
                refunds_in.append(m.return_to_refund_in(item))
            except PayloadError as exc:
                result.record_payload_error(exc, payload=item)
        result.fetched += len(page.items)
        self._record(result, order_services.refunds_upsert(integration=self.ctx.integration, refunds_in=refunds_in, run=self.ctx.run))


# --- push ----------------------------------------------------------------------------------------

KIND_REFUND_PUSH = "tiktok_refund"
PUSH_REFUNDS_PAGE = 20
NOT_SHIPPED = ("AWAITING_SHIPMENT", "ON_HOLD")
IN_TRANSIT = ("AWAITING_COLLECTION", "IN_TRANSIT", "PARTIALLY_SHIPPING")
DELIVERED = ("DELIVERED", "COMPLETED")
BUYER_REQUEST_PENDING = "RETURN_OR_REFUND_REQUEST_PENDING"
REJECT_REASON = "seller_reject_apply_product_has_been_packed"


class PushRefunds(Flow):
    """Refunds created in Switchyard for TikTok orders → TikTok, with the default reason of the order's state:
    Delivered → refund ("Reason by default for creating refund in TikTok for Delivered orders"); in transit /
    awaiting collection → refund (the in-transit reason); awaiting shipment → seller cancellation (the
    not-shipped reason). A pending buyer refund request blocks a seller cancellation unless "Reject Buyer
    Refund Requests for Seller-Initiated Cancellations" is on, which rejects it first. Each refund is sent once
    (OutboundPush `tiktok_refund`, key `refund:<pk>`); the TikTok id is kept on the push as `remote_id` and, for
    a refund (a TikTok return), as the refund's external_id so a later pull_refunds updates the same row."""

    code = "push_refunds"

    def pages(self, cursor):
        from catalog.models import ChannelOption
        from orders.models import Refund

        integration = self.ctx.integration
        sent = OutboundPush.objects.filter(integration=integration, kind=KIND_REFUND_PUSH, status=OutboundPush.Status.SENT)
        refunds = list(Refund.objects.filter(order__integration=integration, external_id="")
                       .exclude(pk__in=[int(k.split(":")[1]) for k in sent.values_list("idempotency_key", flat=True)
                                        if k.count(":") == 1])
                       .select_related("order").prefetch_related("lines", "order__lines").order_by("pk"))
        if not refunds:
            return
        client = make_client(self.ctx)
        skus = {line.sku for r in refunds for line in r.lines.all()}
        sku_ids = dict(ChannelOption.objects.filter(integration=integration, product__sku__in=skus)
                       .exclude(remote_sku_id="").values_list("product__sku", "remote_sku_id"))
        for start in range(0, len(refunds), PUSH_REFUNDS_PAGE):
            batch = refunds[start:start + PUSH_REFUNDS_PAGE]
            if self.ctx.dry_run:  # report what would be sent; send nothing
                yield Page(items=[{"refund_id": r.pk, "order": r.order.external_id, "sent": "dry_run"} for r in batch],
                           next_cursor={})
                continue
            yield Page(items=[self._push(client, refund, sku_ids) for refund in batch], next_cursor={})

    def _push(self, client, refund, sku_ids) -> dict:
        from orders import services as order_services

        order = refund.order
        status = (order.channel_status or "").upper()
        key = f"refund:{refund.pk}"
        outcome = {"refund_id": refund.pk, "order": order.external_id}
        try:
            if status in NOT_SHIPPED:
                # No buyer refund request can exist before Awaiting collection (reference §8.3): cancel directly.
                line_ids = _line_item_ids(refund)
                reason = self.ctx.setting("cancel_reason_not_shipped")
                response = self._once(key, {"order_id": order.external_id, "cancel_reason": reason, "order_line_item_ids": line_ids},
                                      lambda: client.order_cancel(order_id=order.external_id, cancel_reason=reason,
                                                                  order_line_item_ids=line_ids or None))
                outcome.update(sent="cancellation", remote_id=str(response.get("cancel_id") or ""))
            elif status in IN_TRANSIT or status in DELIVERED:
                reason = self.ctx.setting("refund_reason_delivered" if status in DELIVERED else "refund_reason_in_transit")
                body = {"order_id": order.external_id, "return_type": "REFUND", "return_reason": reason,
                        "skus": [{"sku_id": sku_ids[line.sku], "quantity": line.quantity} for line in refund.lines.all()
                                 if line.sku in sku_ids],
                        "order_line_item_ids": _line_item_ids(refund), "refund_total": str(refund.amount),
                        "currency": refund.currency}
                response = self._once(key, body, lambda: client.return_create(body=body, idempotency_key=key))
                outcome.update(sent="refund", remote_id=str(response.get("return_id") or ""))
                # The TikTok return id goes onto the refund too, so pull_refunds upserts this row (no duplicate).
                order_services.refund_bind_external_id(refund=refund, integration=self.ctx.integration,
                                                       external_id=outcome["remote_id"])
            else:
                outcome["error"] = f"order {order.external_id} is {status or 'without a TikTok status'}; TikTok accepts no refund now"
        except PermanentError as exc:
            outcome["error"] = str(exc)
        return outcome

    def _once(self, key: str, payload: dict, send) -> dict:
        push, _ = OutboundPush.objects.get_or_create(integration=self.ctx.integration, kind=KIND_REFUND_PUSH, idempotency_key=key,
                                                     defaults={"payload": payload})
        if push.status == OutboundPush.Status.SENT:
            return push.response or {}
        try:
            response = send() or {}
        except PermanentError as exc:
            OutboundPush.objects.filter(pk=push.pk).update(status=OutboundPush.Status.FAILED, attempts=push.attempts + 1,
                                                           last_error=str(exc)[:2000])
            raise
        OutboundPush.objects.filter(pk=push.pk).update(
            status=OutboundPush.Status.SENT, attempts=push.attempts + 1, response=response, sent_at=timezone.now(),
            remote_id=str(response.get("return_id") or response.get("cancel_id") or ""))
        return response

    def apply(self, page, result):
        for outcome in page.items:
            result.fetched += 1
            if "error" in outcome:
                result.record_error(external_id=outcome["order"], field="refund", message=outcome["error"])
            else:
                result.created += 1


def _line_item_ids(refund) -> list[str]:
    """TikTok line item ids for the refunded units (one TikTok line item per unit)."""
    # Ordered lines only: a bundle's component lines share SKUs with plain lines and carry no TikTok ids.
    by_sku = {line.sku: list(line.channel_line_ids or []) for line in refund.order.lines.filter(bundle_line__isnull=True)}
    ids = []
    for line in refund.lines.all():
        ids += by_sku.get(line.sku, [])[:line.quantity]
    return ids
