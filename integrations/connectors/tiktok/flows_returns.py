"""Returns and refunds (pull): Search Returns (reference §8.1), incremental by update time with an overlap.

Returns: filtered by "Pull returns only with this statuses"; with "Pull returns only when there is a
matching order available in Switchyard" returns of unknown orders are skipped (and fetched again once the
order exists, because the cursor overlap and a re-run re-read them). Refunds: TikTok return requests of the
types in "Pull refunds TikTok types" and statuses in "Pull refunds only with this statuses". Writes through
orders.services.returns_upsert / refunds_upsert (idempotent on (integration, external_id))."""
from __future__ import annotations

from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok import mappers_catalog as m
from integrations.exceptions import PayloadError
from integrations.flows import Flow, Page


class _SearchReturns(Flow):
    statuses_setting = ""
    types_setting = ""

    def pages(self, cursor):
        client = ep.make_client(self.ctx)
        targeted = [str(i) for i in self.ctx.params.get("return_ids") or []]
        if targeted:  # webhook: fetch just these returns; the cursor stays where it is
            data = client.returns_search(return_ids=targeted, return_status=self.ctx.setting(self.statuses_setting) or None)
            yield Page(items=data.get("return_orders") or [], next_cursor=dict(cursor))
            return
        since = cursor.get("since")
        if since is None:
            since = int(self.ctx.integration.created_at.timestamp())
        started = int(self.ctx.started_at.timestamp())
        token = cursor.get("page_token", "")
        types = self.ctx.setting(self.types_setting) if self.types_setting else None
        while True:
            data = client.returns_search(page_token=token, return_status=self.ctx.setting(self.statuses_setting) or None,
                                         return_types=types or None, update_time_ge=since)
            token = data.get("next_page_token") or ""
            items = data.get("return_orders") or []
            if token:
                yield Page(items=items, next_cursor={"since": since, "page_token": token})
            else:
                yield Page(items=items, next_cursor={"since": started - int(self.overlap.total_seconds())})
                return

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
                result.record_payload_error(exc)
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
                result.record_payload_error(exc)
        result.fetched += len(page.items)
        self._record(result, order_services.refunds_upsert(integration=self.ctx.integration, refunds_in=refunds_in, run=self.ctx.run))
