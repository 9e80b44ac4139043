"""TikTok order flows: pull orders (with buyer/platform cancellations), push hub cancellations, push
fulfillments, send buyer messages / order cards. Remote I/O in `pages()`, local writes in `apply()`."""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

from django.contrib.contenttypes.models import ContentType
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations import services
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok import paging
from integrations.connectors.tiktok.backoffice import shipping_providers_remember
from integrations.connectors.tiktok.client import TikTokClient
from integrations.connectors.tiktok.mappers_orders import PullFilters, order_to_order_in, skip_reason
from integrations.exceptions import NotSentError, PayloadError, PermanentError, TransientError
from integrations.flows import Flow, FlowResult, Page
from integrations.models import Mapping, OpsException, OutboundPush

ORDER_KIND = "order"


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def exclude_before(integration) -> datetime:
    """The setting, or the integration's creation time when left empty — truncated to the whole second,
    because TikTok's create_time has whole seconds: an order placed in the second the integration was
    created (but a fraction after it) must not count as "created before"."""
    value = integration.setting("orders_exclude_before")
    parsed = parse_datetime(value) if isinstance(value, str) and value else None
    return (parsed or integration.created_at).replace(microsecond=0)


def pull_filters(integration) -> PullFilters:
    return PullFilters(
        statuses=frozenset(integration.setting("orders_statuses") or []),
        exclude_before=exclude_before(integration),
        pull_platform_shipped=bool(integration.setting("orders_pull_platform_shipped")),
        pull_on_hold=bool(integration.setting("orders_pull_on_hold")),
        only_ids=frozenset(str(i).strip() for i in integration.setting("orders_only_ids") or [] if str(i).strip()),
    )


class PullOrders(Flow):
    """Incremental by update time over a fixed window read by keyset continuation (paging.py), so an order
    updated while the run pages never makes another one vanish; cursor {"updated_since": epoch seconds} = every
    order updated before it has been read. Targeted runs (webhooks) pass {"order_ids": [...]} and leave the
    cursor where it is."""

    code = "pull_orders"
    overlap = timedelta(minutes=10)

    def pages(self, cursor: dict) -> Iterator[Page]:
        integration = self.ctx.integration
        client = TikTokClient.for_integration(integration, counter=self.ctx.counter)
        filters = pull_filters(integration)
        targeted = [str(i) for i in self.ctx.params.get("order_ids") or []]
        if targeted:
            for batch in _chunks(sorted(set(targeted)), c.ORDER_DETAIL_MAX_IDS):
                orders = [o for o in client.orders_get(ids=batch) if not skip_reason(o, filters)]
                yield Page(items=orders, next_cursor=dict(cursor))
            return
        done = int(cursor.get("updated_since") or 0)
        start = paging.window_start(cursor_value=cursor.get("updated_since"), overlap=self.overlap,
                                    first_start=int(filters.exclude_before.timestamp()))
        end = paging.window_end(self.ctx.started_at)

        def search(ge: int, lt: int, token: str) -> dict:
            return client.orders_search(body={"update_time_ge": ge, "update_time_lt": lt}, page_token=token)

        # One call per 100 orders: Get Order List answers with full order objects (the same fields as Get Order
        # Detail, reference §4.1), so nothing is fetched again; the detail call serves webhook-targeted ids only.
        for page in paging.sorted_window_pages(search, start=start, end=end, items_key="orders"):
            wanted = [o for o in page.records if o.get("id") and not skip_reason(o, filters)]
            yield Page(items=wanted, next_cursor={"updated_since": max(done, page.complete_before)})

    def apply(self, page: Page, result: FlowResult) -> None:
        from orders.models import Order
        from orders.services import order_cancel_from_channel, orders_upsert_from_channel

        integration = self.ctx.integration
        virtual_bundles = bool(integration.setting("virtual_bundles"))
        result.fetched += len(page.items)
        refs = services.external_refs_get(integration=integration, kind=ORDER_KIND, external_ids=[str(o.get("id")) for o in page.items])
        pending: list[tuple[dict, Any]] = []
        for raw in page.items:
            try:
                order_in = order_to_order_in(raw, virtual_bundles=virtual_bundles)
            except PayloadError as exc:
                result.record_payload_error(exc, payload=raw)
                continue
            ref = refs.get(order_in.external_id)
            if not self.ctx.force_full and services.is_up_to_date(ref, remote_updated_at=order_in.remote_updated_at,
                                                                   payload_hash=order_in.payload_hash):
                result.unchanged += 1
                continue
            pending.append((raw, order_in))
        if not pending:
            return
        ids = [order_in.external_id for _, order_in in pending]
        # The page's one lookup of its orders, shared with the upsert; lines only for orders carrying cancellations.
        existing = {o.external_id: o for o in Order.objects.filter(integration=integration, external_id__in=ids)}
        with_cancellations = [(raw, oi, existing[oi.external_id]) for raw, oi in pending
                              if oi.external_id in existing and oi.cancellations]
        if with_cancellations:
            prefetch_related_objects([local for _, _, local in with_cancellations], "lines")
        # Cancellations seen on orders we already have go through the closed loop with their source and reason.
        touched = set()
        for raw, order_in, local in with_cancellations:
            # Ordered lines only: a bundle's component lines may share a SKU with a line ordered on its own.
            local_canceled = defaultdict(int, {ln.sku: ln.canceled_quantity for ln in local.lines.all() if ln.bundle_line_id is None})
            for cancellation in order_in.cancellations:
                if cancellation.is_full:
                    if local.status != "canceled" and not getattr(local, "cancel_requested_at", None):
                        order_cancel_from_channel(order=local, cancellation=cancellation, run=self.ctx.run)
                        touched.add(order_in.external_id)
                    continue
                sku = cancellation.lines[0].sku
                wanted = next((ln.canceled_quantity for ln in order_in.lines if ln.sku == sku and not ln.bundle_sku), 0)
                if local_canceled[sku] < wanted:
                    order_cancel_from_channel(order=local, cancellation=cancellation, run=self.ctx.run)
                    touched.add(order_in.external_id)
                    local_canceled[sku] += 1
        if touched:  # changed by the cancellations: the upsert reads them again
            existing = {eid: o for eid, o in existing.items() if eid not in touched}
            existing.update((o.external_id, o) for o in Order.objects.filter(integration=integration, external_id__in=touched))
        upserted = orders_upsert_from_channel(integration=integration, orders_in=[oi for _, oi in pending], run=self.ctx.run,
                                              existing=existing)
        result.created += upserted.created
        result.updated += upserted.updated
        result.unchanged += upserted.unchanged
        failed = set()
        raw_by_id = {order_in.external_id: raw for raw, order_in in pending}
        for error in upserted.errors:
            failed.add(str(error.get("external_id", "")))
            result.record_error(external_id=error.get("external_id", ""), field=error.get("field", ""), message=error.get("message", ""),
                                payload=raw_by_id.get(str(error.get("external_id", ""))))
        services.external_refs_bind(integration=integration, kind=ORDER_KIND, rows=[
            {"external_id": oi.external_id, "local": Order(pk=upserted.order_ids[oi.external_id]),
             "remote_updated_at": oi.remote_updated_at, "payload_hash": oi.payload_hash}
            for _, oi in pending if oi.external_id not in failed and oi.external_id in upserted.order_ids
        ])


# --- pushes: at most once per key ------------------------------------------------------------

def push_claim(*, integration, kind: str, key: str, obj=None, payload: dict | None = None) -> OutboundPush | None:
    """Claim a push before the remote call (committed at once: pages() runs outside the page
    transaction). None when it was sent, failed permanently, is claimed by another worker, or a previous
    attempt is in doubt (the request left, the answer was lost): never re-sent from here; the flows with a
    read-back settle in-doubt pushes first (pushes_in_doubt / push_in_doubt_settle)."""
    defaults = {"payload": payload or {}, "status": OutboundPush.Status.PENDING}
    if obj is not None:
        defaults.update(content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)
    push, _ = OutboundPush.objects.get_or_create(integration=integration, kind=kind, idempotency_key=key, defaults=defaults)
    if push.status != OutboundPush.Status.PENDING or push.attempts > 0:
        return None
    # Compare-and-set on the released state: of two workers seeing it released, one claims it.
    if not OutboundPush.objects.filter(pk=push.pk, status=OutboundPush.Status.PENDING, attempts=0).update(
            attempts=1, payload=payload or push.payload):
        return None
    push.attempts = 1
    return push


IN_DOUBT = "in doubt: "  # OutboundPush.last_error prefix: attempted, the answer lost; reconciled by read-back


def push_call(*, push: OutboundPush, integration, call: Callable[[], dict], entity=None, label: str,
              read_back: Callable[[], tuple[bool | None, dict]] | None = None,
              duplicate_codes: tuple = ()) -> dict | None:
    """Run the remote call for a claimed push. A request that certainly never left (connect failure) or that
    TikTok answered with 429/5xx is released (sent again next run). A permanent answer fails the claim with a
    visible exception, except a "duplicate" answer (``duplicate_codes``) when ``read_back`` shows the change
    at TikTok: then it was ours and the push is sent. Any other failure (read timeout, unreadable 2xx answer)
    leaves the push in doubt: the next run reads it back before anything is re-sent (see push_in_doubt)."""
    try:
        return call()
    except PermanentError as exc:
        if read_back is not None and exc.code in duplicate_codes:
            shown, response = read_back()
            if shown:
                return response
        OutboundPush.objects.filter(pk=push.pk).update(status=OutboundPush.Status.FAILED, last_error=str(exc)[:2000])
        services.exception_raise(category=OpsException.Category.FULFILLMENT if push.kind in ("fulfillment", "cancellation")
                                 else OpsException.Category.CONNECTOR,
                                 code=f"tiktok_{push.kind}_rejected", integration=integration, entity=entity,
                                 dedup_key=f"tiktok:{integration.pk}:{push.kind}:{push.idempotency_key}",
                                 message=f"TikTok rejected the {label}: {exc}")
        return None
    except TransientError as exc:
        if isinstance(exc, NotSentError) or (exc.status is not None and (exc.status >= 500 or exc.status == 429)):
            # Nothing reached TikTok, or TikTok answered that it applied nothing: release, retry later.
            OutboundPush.objects.filter(pk=push.pk).update(attempts=0, last_error=str(exc)[:2000])
        else:
            OutboundPush.objects.filter(pk=push.pk).update(last_error=f"{IN_DOUBT}{exc}"[:2000])
            services.exception_raise(category=OpsException.Category.CONNECTOR, code="tiktok_push_in_doubt", integration=integration,
                                     entity=entity, dedup_key=f"tiktok:{integration.pk}:{push.kind}:{push.idempotency_key}:doubt",
                                     message=f"The {label} may or may not have reached TikTok ({exc}); " + (
                                         "the next run reads TikTok's order back and marks it sent or sends it again."
                                         if read_back is not None else
                                         "TikTok offers no read-back for it: check in Seller Center and delete the pending "
                                         "push to send it again."))
        raise


def pushes_in_doubt(*, integration, kind: str) -> list[OutboundPush]:
    """Pushes whose request left and whose answer was lost (not a claim in flight: those have no IN_DOUBT mark)."""
    return list(OutboundPush.objects.filter(integration=integration, kind=kind, status=OutboundPush.Status.PENDING,
                                            attempts__gt=0, last_error__startswith=IN_DOUBT).order_by("pk"))


def push_in_doubt_settle(*, push: OutboundPush, shown: bool | None, response: dict | None = None, remote_id: str = "",
                         note: str = "") -> bool:
    """Settle an in-doubt push from a read-back of TikTok's state: shown → sent; certainly not shown → released
    (sent by the same or next run); None (cannot tell) → stays in doubt, its exception says what TikTok shows.
    Compare-and-set on the in-doubt state, so two runs never settle it twice. True when it changed."""
    key = f"tiktok:{push.integration_id}:{push.kind}:{push.idempotency_key}"
    doubt = OutboundPush.objects.filter(pk=push.pk, status=OutboundPush.Status.PENDING, attempts__gt=0,
                                        last_error__startswith=IN_DOUBT)
    if shown is None:
        if note:
            services.exception_raise(category=OpsException.Category.CONNECTOR, code="tiktok_push_in_doubt",
                                     integration=push.integration, dedup_key=f"{key}:doubt",
                                     message=f"The {push.kind} push {push.idempotency_key} cannot be settled from TikTok's "
                                             f"order: {note}. Check in Seller Center; delete the pending push to send it again.")
        return False
    if shown:
        if not doubt.update(status=OutboundPush.Status.SENT, response=response or {}, remote_id=remote_id[:191],
                            sent_at=timezone.now(), last_error=""):
            return False
        services.exceptions_resolve(dedup_keys=[key, f"{key}:doubt"], note="read back: TikTok shows the change")
        return True
    if not doubt.update(attempts=0, last_error="read back: not at TikTok, to be sent again"):
        return False
    services.exceptions_resolve(dedup_keys=[f"{key}:doubt"], note="read back: not at TikTok, sent again")
    return True


def push_mark_sent(*, push_id: int, response: dict, remote_id: str = "") -> None:
    OutboundPush.objects.filter(pk=push_id).update(status=OutboundPush.Status.SENT, response=response or {}, remote_id=remote_id[:191],
                                                   sent_at=timezone.now(), last_error="")
    push = OutboundPush.objects.filter(pk=push_id).only("integration_id", "kind", "idempotency_key").first()
    if push is not None:  # the push went through: its rejected / in-doubt exceptions have no cause left
        key = f"tiktok:{push.integration_id}:{push.kind}:{push.idempotency_key}"
        services.exceptions_resolve(dedup_keys=[key, f"{key}:doubt"], note="push sent")


# Exceptions that block one fulfillment's push; all resolved once that fulfillment is pushed.
FULFILLMENT_BLOCK_CODES = ("missing_tracking", "unsupported_carrier", "no_tiktok_line_items")


class _PushFlow(Flow):
    """Pushes call TikTok in `pages()` (claim → call) and record the outcome in `apply()`. A dry run
    computes every payload and sends nothing."""

    batch_size = 20

    def apply(self, page: Page, result: FlowResult) -> None:
        for item in page.items:
            result.fetched += 1
            if item.get("sent"):
                push_mark_sent(push_id=item["push_id"], response=item.get("response") or {}, remote_id=item.get("remote_id", ""))
                if item.get("noop"):
                    result.unchanged += 1
                else:
                    result.created += 1
            elif item.get("error"):
                result.record_error(external_id=item.get("external_id", ""), field=item.get("field", ""), message=item["error"])
            else:
                result.unchanged += 1


# --- cancellations ---------------------------------------------------------------------------

def cancel_reason_from_text(text: str) -> str:
    """The TikTok seller reason a free-text reason (a 3PL's, a user's) names, or "" when it names none:
    "Canceled in OSA: out of stock" → seller_cancel_reason_out_of_stock."""
    low = " ".join((text or "").lower().replace("-", " ").replace("_", " ").split())
    for words, code in c.CANCEL_REASON_KEYWORDS:
        if any(re.search(rf"\b{re.escape(w)}\b", low) for w in words):
            return code
    return ""


def cancel_reason_for(*, reason: str, default: str, order_status: str, region: str) -> str:
    """A valid TikTok reason for the order's status and market: the given one when it is a TikTok code (or
    names one in words, cancel_reason_from_text), else the default; UNPAID orders use the unpaid variant; UK
    shops the _uk variant."""
    valid = {code for code, _ in c.CANCEL_REASONS}
    chosen = reason if reason in valid else (cancel_reason_from_text(reason) or default)
    if order_status == "UNPAID":
        return c.UNPAID_CANCEL_REASONS.get(chosen.removesuffix("_uk"), chosen)
    if region.upper() in c.UK_REGIONS and not chosen.endswith("_uk") and f"{chosen}_uk" in valid:
        return f"{chosen}_uk"
    return chosen


def cancellation_read_back(payload: dict, order: dict | None) -> tuple[bool | None, dict, str]:
    """Does TikTok's order (Get Order Detail) show this cancellation push? (shown, response, note). Full: shown
    when the order is CANCELLED; certainly not when no line item is cancelled and no cancel request is pending.
    Line items: shown when each pushed line item is CANCELLED; certainly not when none of them is."""
    if not order:
        return None, {}, "the order is not found at TikTok"
    status = str(order.get("status") or "")
    lines = {str(line.get("id")): line for line in order.get("line_items") or []}
    ids = [str(i) for i in payload.get("order_line_item_ids") or []]
    cancelled = {i for i, line in lines.items() if line.get("display_status") == "CANCELLED"}
    response = {"read_back": True, "order_status": status}
    if status == "CANCELLED" or (ids and all(i in cancelled for i in ids)):
        return True, response, ""
    if not (set(ids) if ids else set(lines)) & cancelled and not order.get("is_buyer_request_cancel"):
        return False, {}, ""
    return None, {}, f"TikTok shows order status {status}, cancelled line items {sorted(cancelled) or 'none'}"


def canceled_line_item_ids(*, integration, order, exclude_push_key: str = "") -> set[str]:
    """TikTok line item ids known to be cancelled: the channel's line cancellations (external id
    "<order>:line:<item>", see mappers_orders.cancellations_from_order) and our line cancellations sent or
    under way (all but ``exclude_push_key``, the one being built)."""
    prefix = f"{order.external_id}:line:"
    ids = {eid[len(prefix):] for eid in order.cancellations.filter(external_id__startswith=prefix).values_list("external_id", flat=True)}
    pushes = OutboundPush.objects.filter(integration=integration, kind="cancellation", payload__order_id=order.external_id).exclude(
        status=OutboundPush.Status.FAILED)
    if exclude_push_key:
        pushes = pushes.exclude(idempotency_key=exclude_push_key)
    for payload in pushes.values_list("payload", flat=True):
        ids.update(str(i) for i in payload.get("order_line_item_ids") or [])
    return ids


class PushCancellations(_PushFlow):
    """Switchyard's cancellations (a user's, a 3PL's; orders.selectors.cancellations_to_push) → Cancel Order (full,
    or line items for partial ones: US/UK shops only, out-of-stock reason only)."""

    code = "push_cancellations"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders.selectors import cancellations_to_push

        integration = self.ctx.integration
        client = TikTokClient.for_integration(integration, counter=self.ctx.counter)
        region = (integration.remote_state or {}).get("shop_region", "")
        self._reconcile(client)
        sent_keys = set(OutboundPush.objects.filter(integration=integration, kind="cancellation").exclude(
            status=OutboundPush.Status.PENDING, attempts=0).values_list("idempotency_key", flat=True))
        queryset = cancellations_to_push(integration=integration).select_related("order").prefetch_related("lines__order_line")
        items = []
        for cancellation in queryset.iterator(chunk_size=200):
            key = f"cancellation:{cancellation.pk}"
            if key in sent_keys:
                continue
            items.append(self._push(client, cancellation, key, region))
            if len(items) >= self.batch_size:
                yield Page(items=items, next_cursor={})
                items = []
        if items:
            yield Page(items=items, next_cursor={})

    def _reconcile(self, client: TikTokClient) -> None:
        """In-doubt cancellations are read back from TikTok's order first: sent when it shows them, released (and
        sent below) when it certainly does not. Dry runs only look."""
        doubts = pushes_in_doubt(integration=self.ctx.integration, kind="cancellation")
        order_ids = sorted({str(p.payload.get("order_id")) for p in doubts if p.payload.get("order_id")})
        remote: dict[str, dict] = {}
        for batch in _chunks(order_ids, c.ORDER_DETAIL_MAX_IDS):
            remote.update({str(o.get("id")): o for o in client.orders_get(ids=batch)})
        if self.ctx.dry_run:
            return
        for push in doubts:
            shown, response, note = cancellation_read_back(push.payload, remote.get(str(push.payload.get("order_id"))))
            push_in_doubt_settle(push=push, shown=shown, response=response, note=note)

    def _read_back(self, client: TikTokClient, payload: dict) -> tuple[bool | None, dict]:
        orders = client.orders_get(ids=[payload["order_id"]])
        shown, response, _ = cancellation_read_back(payload, next((o for o in orders if str(o.get("id")) == payload["order_id"]), None))
        return shown, response

    def _buyer_refund_requests_cleared(self, client: TikTokClient, order, key: str) -> str:
        """"Reject Buyer Refund Requests for Seller-Initiated Cancellations". A buyer refund request exists from
        Awaiting collection onward (reference §8.3) and a seller may cancel in Awaiting collection (US, §4.2/§5.4):
        only there can both meet, so only there is TikTok asked (Search Returns, pending, this order). Setting on:
        each pending request is rejected (REJECT_REFUND, idempotency key per request) before the cancellation;
        off: the cancellation waits with a visible exception (resolved once it is sent). Returns "" when the
        cancellation may go, else why not. Unshipped orders (ON_HOLD, AWAITING_SHIPMENT) have no refund request."""
        from integrations.connectors.tiktok.flows_returns import BUYER_REQUEST_PENDING, REJECT_REASON

        integration = self.ctx.integration
        dedup = f"tiktok:{integration.pk}:{key}:buyer_refund"
        if (order.channel_status or "").upper() not in c.SELLER_CANCEL_WITH_REFUND_REQUEST_STATUSES:
            return ""
        found = client.returns_search(return_status=[BUYER_REQUEST_PENDING], order_ids=[order.external_id]).get("return_orders") or []
        pending = [r for r in found if str(r.get("order_id")) == order.external_id and str(r.get("role") or "BUYER") == "BUYER"]
        if pending and not integration.setting("reject_buyer_refund_on_seller_cancel"):
            ids = ", ".join(str(r.get("return_id")) for r in pending)
            message = (f"Buyer refund request {ids} is pending on order {order.external_id}: the seller cancellation is not sent. "
                       "Decide the request in Seller Center, or turn on \"Reject Buyer Refund Requests for Seller-Initiated "
                       "Cancellations\".")
            services.exception_raise(category=OpsException.Category.FULFILLMENT, code="tiktok_buyer_refund_pending",
                                     integration=integration, entity=order, dedup_key=dedup, message=message)
            return message
        for request in pending:
            rid = str(request.get("return_id"))
            try:
                client.return_reject(return_id=rid, decision="REJECT_REFUND", reject_reason=REJECT_REASON,
                                     comment="Seller is cancelling the order", idempotency_key=f"{key}:reject:{rid}")
            except PermanentError as exc:
                message = f"TikTok refused to reject buyer refund request {rid} on order {order.external_id}: {exc}"
                services.exception_raise(category=OpsException.Category.FULFILLMENT, code="tiktok_buyer_refund_pending",
                                         integration=integration, entity=order, dedup_key=dedup, message=message)
                return message
        services.exceptions_resolve(dedup_keys=[dedup], note="no buyer refund request pending")
        return ""

    def _push(self, client: TikTokClient, cancellation, key: str, region: str) -> dict:
        integration = self.ctx.integration
        order = cancellation.order
        line_ids: list[str] = []
        if not cancellation.is_full:
            # The last live line items of each line (shipments name the first ones), never one already cancelled.
            canceled = canceled_line_item_ids(integration=integration, order=order, exclude_push_key=key)
            for line in cancellation.lines.all():
                ids = [str(i) for i in (line.order_line.channel_line_ids if line.order_line else []) or [] if str(i) not in canceled]
                line_ids.extend(ids[-line.quantity:] if line.quantity else [])
        setting = "cancel_reason_full_order" if cancellation.is_full else "cancel_reason_line_items"
        reason = cancel_reason_for(reason=cancellation.reason, default=integration.setting(setting), order_status=order.channel_status,
                                   region=region)
        unsupported_key = f"tiktok:{integration.pk}:{key}:unsupported"
        if not cancellation.is_full:
            problem = ""
            if region.upper() not in c.LINE_CANCEL_REGIONS:
                problem = f"TikTok cancels single line items only in US and UK shops (this shop: {region or 'unknown'})"
            elif reason.removesuffix("_uk") not in c.LINE_CANCEL_REASONS:
                problem = (f"TikTok cancels single line items only with the out-of-stock reason, not {reason} (the 3PL's reason "
                           "or \"Default cancel reason for line items\")")
            elif not line_ids:
                problem = "none of the cancelled lines has a TikTok line item left to cancel"
            if problem:
                services.exception_raise(category=OpsException.Category.FULFILLMENT, code="tiktok_line_cancel_unsupported",
                                         integration=integration, entity=order, dedup_key=unsupported_key,
                                         message=f"Line cancellation of order {order.external_id} not sent to TikTok: {problem}. "
                                                 "Change the setting or cancel the items in Seller Center.")
                return {"external_id": order.external_id, "field": "cancellation", "error": problem}
        payload = {"order_id": order.external_id, "cancel_reason": reason, "order_line_item_ids": line_ids}
        if self.ctx.dry_run:
            return {"external_id": order.external_id, "dry_run": payload}
        blocked = self._buyer_refund_requests_cleared(client, order, key)
        if blocked:
            return {"external_id": order.external_id, "field": "cancellation", "error": blocked}
        push = push_claim(integration=integration, kind="cancellation", key=key, obj=cancellation, payload=payload)
        if push is None:
            return {"external_id": order.external_id}
        response = push_call(push=push, integration=integration, entity=order, label=f"cancellation of order {order.external_id}",
                             call=lambda: client.order_cancel(order_id=order.external_id, cancel_reason=reason,
                                                              order_line_item_ids=line_ids or None),
                             read_back=lambda: self._read_back(client, payload), duplicate_codes=c.CODES_NOT_CANCELLABLE)
        if response is None:
            return {"external_id": order.external_id, "field": "cancellation", "error": "rejected by TikTok (see exceptions)"}
        services.exceptions_resolve(dedup_keys=[unsupported_key], note="line cancellation sent")
        return {"sent": True, "push_id": push.pk, "response": response, "remote_id": str(response.get("cancel_id", ""))}


# --- fulfillments ----------------------------------------------------------------------------

def provider_resolve(*, carrier: str, providers: list[dict], mapped: str = "", fallback_enabled: bool = False,
                     fallback: str = "") -> tuple[str, str]:
    """(shipping_provider_id, how) for a fulfillment carrier: Mapping kind "carrier" first (a provider id
    or name), then the provider list by name, then the fallback carrier when allowed. ("", "") = none."""
    by_id = {str(p.get("id")): p for p in providers}
    by_name = {str(p.get("name", "")).strip().lower(): str(p.get("id")) for p in providers}
    if mapped:
        if mapped in by_id:
            return mapped, "mapping"
        if mapped.strip().lower() in by_name:
            return by_name[mapped.strip().lower()], "mapping"
    if carrier and carrier.strip().lower() in by_name:
        return by_name[carrier.strip().lower()], "name"
    if fallback_enabled and providers:
        if fallback:
            return (by_name[fallback.lower()], "fallback") if fallback.lower() in by_name else ("", "")
        return str(providers[0].get("id")), "fallback"
    return "", ""


def fulfillment_read_back(payload: dict, order: dict | None) -> tuple[bool | None, dict, str]:
    """Does TikTok's order (Get Order Detail) show this fulfillment push? (shown, response, note).
    mark_shipped: shown when every pushed line item is in a package with our tracking number; certainly not when
    none of them is in a package; else None (cannot tell, a person looks). update_tracking: shown when the
    package's line items carry our tracking; not shown when they carry another one."""
    if not order:
        return None, {}, "the order is not found at TikTok"
    lines = {str(line.get("id")): line for line in order.get("line_items") or []}
    tracking = str(payload.get("tracking_number") or "")
    if payload.get("action") == "update_tracking":
        package_id = str(payload.get("package_id") or "")
        mine = [line for line in lines.values() if str(line.get("package_id") or "") == package_id]
        if not mine:
            return None, {}, f"package {package_id} is not on the order"
        if all(str(line.get("tracking_number") or "") == tracking for line in mine):
            return True, {"package_id": package_id, "read_back": True}, ""
        return False, {}, ""
    ids = [str(i) for i in payload.get("order_line_item_ids") or []]
    packages = {i: str((lines.get(i) or {}).get("package_id") or "") for i in ids}
    if not ids or not any(packages.values()):
        return False, {}, ""
    if all(packages.values()) and all(str(lines[i].get("tracking_number") or "") == tracking for i in ids):
        package_ids = sorted(set(packages.values()))
        return True, {"package_id": package_ids[0], "order_line_item_ids": ids, "read_back": True}, ""
    shown = ", ".join(f"{i} → {packages[i] or 'not shipped'} ({(lines.get(i) or {}).get('tracking_number') or '-'})" for i in ids)
    return None, {}, f"TikTok shows line items {shown}, we sent tracking {tracking}"


class PushFulfillments(_PushFlow):
    """Fulfillments of TikTok orders → Mark Package As Shipped (line items of this shipment), or Update
    Package Shipping Info when those items were already shipped (tracking change). Never for
    platform-shipped orders; never twice per fulfillment (OutboundPush "fulfillment:<pk>")."""

    code = "push_fulfillments"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders.selectors import fulfillments_to_push

        integration = self.ctx.integration
        client = TikTokClient.for_integration(integration, counter=self.ctx.counter)
        self._providers: dict[str, list[dict]] = {}
        self._run_claims: dict[str, dict[str, str]] = {}
        self._carrier_map = dict(Mapping.objects.filter(integration=integration, kind=Mapping.Kind.CARRIER).values_list("source", "target"))
        self._reconcile(client)
        queryset = (fulfillments_to_push(channel_integration=integration).select_related("order")
                    .prefetch_related("lines__order_line").order_by("pk"))
        items = []
        for fulfillment in queryset.iterator(chunk_size=200):
            if fulfillment.order.fulfillment_type == "platform":
                continue
            items.append(self._push(client, fulfillment))
            if len(items) >= self.batch_size:
                yield Page(items=items, next_cursor={})
                items = []
        if items:
            yield Page(items=items, next_cursor={})

    def _reconcile(self, client: TikTokClient) -> None:
        """Before anything is sent: read the orders of in-doubt pushes back from TikTok and settle each (sent with
        TikTok's package id, or released to be sent below). Dry runs only look."""
        doubts = pushes_in_doubt(integration=self.ctx.integration, kind="fulfillment")
        order_ids = sorted({str(p.payload.get("order_id")) for p in doubts if p.payload.get("order_id")})
        remote: dict[str, dict] = {}
        for batch in _chunks(order_ids, c.ORDER_DETAIL_MAX_IDS):
            remote.update({str(o.get("id")): o for o in client.orders_get(ids=batch)})
        if self.ctx.dry_run:
            return
        for push in doubts:
            shown, response, note = fulfillment_read_back(push.payload, remote.get(str(push.payload.get("order_id"))))
            push_in_doubt_settle(push=push, shown=shown, response=response, remote_id=str(response.get("package_id") or ""), note=note)

    def _read_back(self, client: TikTokClient, payload: dict) -> tuple[bool | None, dict]:
        orders = client.orders_get(ids=[payload["order_id"]])
        shown, response, _ = fulfillment_read_back(payload, next((o for o in orders if str(o.get("id")) == payload["order_id"]), None))
        return shown, response

    def _providers_for(self, client: TikTokClient, delivery_option_id: str) -> list[dict]:
        if delivery_option_id not in self._providers:
            providers = client.shipping_providers(delivery_option_id=delivery_option_id) if delivery_option_id else []
            self._providers[delivery_option_id] = providers
            shipping_providers_remember(integration=self.ctx.integration, delivery_option_id=delivery_option_id, providers=providers)
        return self._providers[delivery_option_id]

    def _claimed(self, order, key: str) -> dict[str, str]:
        """TikTok line item id → package id ("" while unknown) already named by this order's other fulfillment
        pushes: sent, claimed earlier in this run, or in doubt (a timeout after the request left). Rejected pushes
        and claims released after an answered transient error named nothing at TikTok."""
        claimed = {i: pkg for i, pkg in self._run_claims.get(order.external_id, {}).items()}
        pushes = (OutboundPush.objects.filter(integration=self.ctx.integration, kind="fulfillment", payload__order_id=order.external_id)
                  .exclude(status=OutboundPush.Status.FAILED).exclude(idempotency_key=key))
        for push in pushes:
            if push.status == OutboundPush.Status.PENDING and push.attempts == 0:
                continue
            package = str((push.response or {}).get("package_id") or push.remote_id or "")
            for line_id in push.payload.get("order_line_item_ids") or []:
                claimed[str(line_id)] = package or claimed.get(str(line_id), "")
        return claimed

    def _canceled_ids(self, order) -> set[str]:
        return canceled_line_item_ids(integration=self.ctx.integration, order=order)

    def _line_ids(self, fulfillment, claimed: dict[str, str]) -> tuple[list[str], list[str], bool]:
        """(new ids to mark shipped, ids already named elsewhere, waiting) for this fulfillment. The units each
        ordered line completes with this fulfillment (after it minus before it, in recording order; a bundle unit
        completes when its last component ships) name that many of the line's live TikTok line items, oldest
        first, skipping any another push already named; so two parcels never name the same line item and each
        ends up named exactly once. ``waiting``: the parcel completes no unit yet (a bundle's other components
        have not shipped) and TikTok has nothing to be told."""
        from orders.models import OrderLine
        from orders.selectors import order_units_shipped

        order = fulfillment.order
        before = order_units_shipped(order=order, upto=fulfillment, inclusive=False)
        after = order_units_shipped(order=order, upto=fulfillment)
        canceled = self._canceled_ids(order)
        new, again = [], []
        for line in OrderLine.objects.filter(order=order, bundle_line__isnull=True).order_by("pk"):
            count = after.get(line.pk, 0) - before.get(line.pk, 0)
            if count <= 0:
                continue
            live = [i for i in (str(x) for x in line.channel_line_ids or []) if i not in canceled][:max(0, line.quantity - line.canceled_quantity)]
            fresh = [i for i in live if i not in claimed][:count]
            new.extend(fresh)
            if len(fresh) < count:
                again.extend([i for i in live if i in claimed][:count - len(fresh)])
        waiting = not new and not again and all(after.get(pk, 0) == before.get(pk, 0) for pk in after) and any(
            ln.order_line_id for ln in fulfillment.lines.all())
        return new, again, waiting

    def _error(self, fulfillment, code: str, message: str, cause_key: str = "") -> dict:  # codes: FULFILLMENT_BLOCK_CODES
        integration = self.ctx.integration
        services.exception_raise(category=OpsException.Category.FULFILLMENT, code=code, integration=integration,
                                 entity=fulfillment.order, cause_key=cause_key,
                                 dedup_key=f"tiktok:{integration.pk}:fulfillment:{fulfillment.pk}:{code}", message=message)
        return {"external_id": fulfillment.order.external_id, "field": "fulfillment", "error": message}

    def _push(self, client: TikTokClient, fulfillment) -> dict:
        integration = self.ctx.integration
        order = fulfillment.order
        key = f"fulfillment:{fulfillment.pk}"
        shipped = self._claimed(order, key)
        new_ids, again_ids, waiting = self._line_ids(fulfillment, shipped)
        if waiting:
            # Nothing completes at TikTok yet (no tracking or carrier needed): record the parcel so it leaves the
            # queue; the bundle's line item is named by the parcel that ships its last component.
            payload = {"order_id": order.external_id, "action": "none", "order_line_item_ids": [],
                       "reason": "no TikTok line item complete yet (bundle waiting for its other components)"}
            if self.ctx.dry_run:
                return {"external_id": order.external_id, "dry_run": payload}
            push = push_claim(integration=integration, kind="fulfillment", key=key, obj=fulfillment, payload=payload)
            if push is None:
                return {"external_id": order.external_id}
            return {"sent": True, "noop": True, "push_id": push.pk, "response": {}, "remote_id": ""}
        tracking = next((str(t) for t in fulfillment.tracking_numbers or [] if str(t).strip()), "")
        if not tracking:
            return self._error(fulfillment, "missing_tracking", f"Fulfillment {fulfillment.external_id} of order {order.external_id} "
                                                                f"has no tracking number; TikTok requires one.")
        providers = self._providers_for(client, order.delivery_option_id)
        provider_id, how = provider_resolve(carrier=fulfillment.carrier, providers=providers,
                                            mapped=self._carrier_map.get(fulfillment.carrier, ""),
                                            fallback_enabled=bool(integration.setting("fallback_carrier_enabled")),
                                            fallback=integration.setting("fallback_carrier") or "")
        if not provider_id:
            return self._error(fulfillment, "unsupported_carrier",
                               f"Carrier “{fulfillment.carrier}” of order {order.external_id} is not a TikTok shipping provider for "
                               f"this delivery option; add a carrier mapping or turn on the fallback carrier.",
                               cause_key=f"carrier:{fulfillment.carrier}")
        if new_ids:
            payload = {"order_id": order.external_id, "action": "mark_shipped", "tracking_number": tracking,
                       "shipping_provider_id": provider_id, "order_line_item_ids": new_ids, "provider_match": how}
            call = lambda: client.package_mark_shipped(order_id=order.external_id, tracking_number=tracking,  # noqa: E731
                                                       shipping_provider_id=provider_id, order_line_item_ids=new_ids)
        elif again_ids and shipped[again_ids[0]]:
            package_id = shipped[again_ids[0]]
            payload = {"order_id": order.external_id, "action": "update_tracking", "package_id": package_id,
                       "tracking_number": tracking, "shipping_provider_id": provider_id, "provider_match": how}
            call = lambda: client.package_shipping_info_update(package_id=package_id, tracking_number=tracking,  # noqa: E731
                                                               shipping_provider_id=provider_id)
        else:
            return self._error(fulfillment, "no_tiktok_line_items", f"Fulfillment {fulfillment.external_id} of order {order.external_id} "
                                                                    f"matches no TikTok line item.")
        run_claims = self._run_claims.setdefault(order.external_id, {})
        if self.ctx.dry_run:
            run_claims.update({i: "" for i in payload.get("order_line_item_ids") or []})
            return {"external_id": order.external_id, "dry_run": payload}
        push = push_claim(integration=integration, kind="fulfillment", key=key, obj=fulfillment, payload=payload)
        if push is None:
            return {"external_id": order.external_id}
        response = push_call(push=push, integration=integration, entity=order, label=f"fulfillment of order {order.external_id}", call=call,
                             read_back=lambda: self._read_back(client, payload),
                             duplicate_codes=c.CODES_ALREADY_SHIPPED if payload["action"] == "mark_shipped" else ())
        if response is None:
            return {"external_id": order.external_id, "field": "fulfillment", "error": "rejected by TikTok (see exceptions)"}
        package_id = str(response.get("package_id") or payload.get("package_id") or "")
        run_claims.update({i: package_id for i in payload.get("order_line_item_ids") or []})
        # Sent: whatever blocked this fulfillment before (carrier, tracking, line items) is fixed.
        services.exceptions_resolve(dedup_keys=[f"tiktok:{integration.pk}:fulfillment:{fulfillment.pk}:{code}"
                                                for code in FULFILLMENT_BLOCK_CODES], note="fulfillment pushed")
        return {"sent": True, "push_id": push.pk, "response": response, "remote_id": package_id}


# --- buyer messages and order cards -----------------------------------------------------------

class PushBuyerMessages(_PushFlow):
    """Once an order is created: a TEXT message from "Message Template" (or an ORDER_CARD), at most once
    per order, only to the listed buyer ids when that list is set. Orders created before the flow was
    first switched on are not messaged (cursor {"since": ISO time})."""

    code = "push_buyer_messages"
    kind = "buyer_message"

    def pages(self, cursor: dict) -> Iterator[Page]:
        from orders.models import Order

        integration = self.ctx.integration
        since = parse_datetime(cursor["since"]) if cursor.get("since") else self.ctx.started_at
        if self.kind == "buyer_message" and not (integration.setting("buyer_message_template") or "").strip():
            services.exception_raise(category=OpsException.Category.CONNECTOR, code="empty_message_template", integration=integration,
                                     dedup_key=f"tiktok:{integration.pk}:empty_message_template",
                                     message="“Send a Message to the buyer once an Order is created” is on but “Message Template” is empty.")
            yield Page(items=[], next_cursor={"since": since.isoformat()})
            return
        if self.kind == "buyer_message":
            services.exceptions_resolve(dedup_keys=[f"tiktok:{integration.pk}:empty_message_template"], note="template set")
        only = {str(i).strip() for i in integration.setting("buyer_message_ids") or [] if str(i).strip()}
        queryset = Order.objects.filter(integration=integration, created_at__gte=since).exclude(buyer_external_id="")
        if only:
            queryset = queryset.filter(buyer_external_id__in=only)
        keys_done = set(OutboundPush.objects.filter(integration=integration, kind=self.kind).values_list("idempotency_key", flat=True))
        client = None
        items = []
        for order in queryset.order_by("pk").iterator(chunk_size=200):
            key = f"order:{order.external_id}"
            if key in keys_done:
                continue
            client = client or TikTokClient.for_integration(integration, counter=self.ctx.counter)
            items.append(self._send(client, order, key))
            if len(items) >= self.batch_size:
                yield Page(items=items, next_cursor={"since": since.isoformat()})
                items = []
        yield Page(items=items, next_cursor={"since": since.isoformat()})

    def _content(self, order) -> tuple[str, dict]:
        return "TEXT", {"content": self.ctx.integration.setting("buyer_message_template")[:2000]}

    def _send(self, client: TikTokClient, order, key: str) -> dict:
        integration = self.ctx.integration
        msg_type, content = self._content(order)
        if self.ctx.dry_run:
            return {"external_id": order.external_id, "dry_run": {"type": msg_type, "content": content}}
        push = push_claim(integration=integration, kind=self.kind, key=key, obj=order,
                          payload={"order_id": order.external_id, "buyer_user_id": order.buyer_external_id, "type": msg_type})
        if push is None:
            return {"external_id": order.external_id}

        def call() -> dict:
            conversation = client.conversation_create(buyer_user_id=order.buyer_external_id)
            conversation_id = str(conversation.get("conversation_id") or conversation.get("id") or "")
            if not conversation_id:
                raise PermanentError("tiktok: no conversation id returned for the buyer")
            answer = client.message_send(conversation_id=conversation_id, type=msg_type, content=content)
            return {"conversation_id": conversation_id, **answer}

        response = push_call(push=push, integration=integration, entity=order, label=f"{msg_type} message for order {order.external_id}",
                             call=call)
        if response is None:
            return {"external_id": order.external_id, "field": self.kind, "error": "rejected by TikTok (see exceptions)"}
        return {"sent": True, "push_id": push.pk, "response": response, "remote_id": str(response.get("message_id", ""))}


class PushOrderCards(PushBuyerMessages):
    code = "push_order_cards"
    kind = "order_card"

    def _content(self, order) -> tuple[str, dict]:
        return "ORDER_CARD", {"order_id": order.external_id}

