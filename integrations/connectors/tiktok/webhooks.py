"""The TikTok webhook endpoint's service: verify, store once, route by shop, act (reference §10)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import ratelimit, services
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.flows_orders import pull_filters
from integrations.connectors.tiktok.mappers_orders import status_skip_reason
from integrations.connectors.tiktok.models import WebhookEvent
from integrations.connectors.tiktok.signing import webhook_verify
from integrations.connectors.tiktok.webhook_payload import (
    WebhookBodyTooLarge, WebhookPayloadError, webhook_body_parse, webhook_payload_validate, webhook_shop_id,
)
from integrations.crypto import DecryptionError
from integrations.models import FlowState, Integration, OpsException, SyncRun

logger = logging.getLogger("integrations.tiktok.webhooks")

ORDER_TOPICS = {c.WEBHOOK_ORDER_STATUS, c.WEBHOOK_REVERSE_STATUS, c.WEBHOOK_ADDRESS_UPDATE, c.WEBHOOK_CANCELLATION_STATUS,
                c.WEBHOOK_PACKAGE_UPDATE}
# Topics served by the catalog half's flows: (flow code, params builder).
CATALOG_TOPICS = {
    c.WEBHOOK_RETURN_STATUS: "pull_returns",
    c.WEBHOOK_PRODUCT_STATUS: "pull_products",
    c.WEBHOOK_PRODUCT_INFORMATION: "pull_products",
    c.WEBHOOK_PRODUCT_CREATION: "pull_products",
}


@dataclass(frozen=True)
class WebhookResult:
    status: int  # HTTP status to answer
    note: str = ""
    retry_after: int | None = None  # seconds, with 429


# Integrations verified per delivery: one shop = one integration (binding refuses a second), so this is 1; the
# bound only keeps the cost fixed should a stale duplicate binding exist.
MAX_INTEGRATIONS_PER_SHOP = 2


def _rate_limited(*, scope: str, key: str, limit: int) -> WebhookResult | None:
    verdict = ratelimit.rate_limit_hit(scope=scope, key=key, limit=limit, window_seconds=settings.WEBHOOK_RATE_WINDOW_SECONDS)
    if verdict.allowed:
        return None
    if verdict.count == limit + 1:  # once per key and window, so a flood does not flood the log too
        logger.warning("tiktok.webhook.rate_limited: %s %s over %s requests in %s s", scope, key, limit,
                       settings.WEBHOOK_RATE_WINDOW_SECONDS, extra={"scope": scope, "key": key})
    return WebhookResult(429, f"rate limited ({scope})", retry_after=verdict.retry_after)


def _verified_integration(*, candidates: list[Integration], shop_id: str, body: bytes,
                          signature: str) -> tuple[Integration | None, WebhookResult | None]:
    """The shop's integration, if its app key/secret produce the signature: one decryption, whatever the number
    of shops. An integration whose credentials cannot be decrypted fails only its own shop's webhooks (503, so
    TikTok retries once the key is back)."""
    undecryptable = None
    for integration in candidates:
        try:
            creds = integration.get_credentials()
        except DecryptionError:
            logger.error("tiktok.webhook.credentials_undecryptable: integration %s (shop %s) cannot decrypt its "
                         "credentials with FIELD_ENCRYPTION_KEYS; its webhooks are answered 503",
                         integration.pk, shop_id, extra={"integration": integration.pk, "shop_id": shop_id})
            undecryptable = integration
            continue
        if webhook_verify(app_key=creds.get("app_key", ""), app_secret=creds.get("app_secret", ""), body=body,
                          signature=signature):
            return integration, None
    if undecryptable is not None:
        return None, WebhookResult(503, "credentials cannot be decrypted")
    return None, WebhookResult(401, "invalid signature")


def webhook_receive(*, body: bytes, signature: str, remote_addr: str = "") -> WebhookResult:
    """Per-source rate limit → 429. A body naming no shop → 400. Unknown shop or bad signature (checked with
    the app secret of the shop's own integration only) → 401, nothing stored. A verified body of a shape we
    cannot process → 400, nothing stored. Otherwise store once and queue the work it asks for on the flow's
    outbox in the same transaction (a drain is enqueued after commit; if the broker is down the dispatcher
    picks the outbox up), 200. A redelivery of a stored event is a duplicate unless its work was never queued
    (stored as received only): then it is acted on again."""
    limited = _rate_limited(scope="tiktok-webhook:address", key=remote_addr or "-",
                            limit=settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS)
    if limited:
        return limited
    try:
        raw = webhook_body_parse(body)
        shop_id = webhook_shop_id(raw)
    except WebhookBodyTooLarge as exc:
        return WebhookResult(413, str(exc))
    except WebhookPayloadError as exc:
        return WebhookResult(400, f"malformed payload: {exc}")
    # Indexed lookup of the shop's own integration (one shop = one integration: binding refuses a second).
    candidates = list(Integration.objects.filter(connector="tiktok", remote_account_id=shop_id)
                      .order_by("pk")[:MAX_INTEGRATIONS_PER_SHOP])
    if not candidates:
        return WebhookResult(401, "unknown shop")
    # Counted for known shops only (unknown ones cost one indexed read and leave no counter row).
    limited = _rate_limited(scope="tiktok-webhook:shop", key=shop_id, limit=settings.WEBHOOK_RATE_LIMIT_PER_SHOP)
    if limited:
        return limited
    integration, refused = _verified_integration(candidates=candidates, shop_id=shop_id, body=body, signature=signature)
    if refused:
        return refused
    try:
        payload = webhook_payload_validate(raw)
    except WebhookPayloadError as exc:
        logger.warning("tiktok.webhook.malformed", extra={"integration": integration.pk, "error": str(exc)})
        return WebhookResult(400, f"malformed payload: {exc}")
    notification_id, topic = payload.notification_id, payload.topic
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                tts_notification_id=notification_id, integration=integration, shop_id=shop_id, type=topic, payload=raw,
                status=WebhookEvent.Status.RECEIVED)
            status, note = _act(integration=integration, topic=topic, data=payload.data)
            WebhookEvent.objects.filter(pk=event.pk).update(status=status, note=note[:255])
    except IntegrityError:
        return _redelivered(notification_id=notification_id, topic=topic, payload=raw)
    return WebhookResult(200, "stored")


def _redelivered(*, notification_id: str, topic: int, payload: dict) -> WebhookResult:
    """A delivery we already stored: act on it again only when its work was never queued."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(tts_notification_id=notification_id).first()
        if event is None or event.status != WebhookEvent.Status.RECEIVED or event.integration is None:
            return WebhookResult(200, "duplicate")
        status, note = _act(integration=event.integration, topic=topic, data=payload.get("data") or {})
        WebhookEvent.objects.filter(pk=event.pk).update(status=status, note=note[:255])
    return WebhookResult(200, "stored")


def _act(*, integration: Integration, topic: int, data: dict) -> tuple[str, str]:
    if topic == c.WEBHOOK_DEAUTHORIZATION:
        integration_deauthorized(integration=integration, message=str(data.get("message", "")))
        return WebhookEvent.Status.APPLIED, "integration paused: seller deauthorized the app"
    if topic == c.WEBHOOK_UPCOMING_EXPIRATION:
        authorization_expiring(integration=integration, message=str(data.get("message", "")),
                               expiration_time=data.get("expiration_time"))
        return WebhookEvent.Status.APPLIED, "authorization expiry recorded"
    if topic in ORDER_TOPICS:
        order_ids = _order_ids(topic, data)
        if not order_ids:
            return WebhookEvent.Status.IGNORED, "no order id in payload"
        not_pulled = _not_pulled_yet(integration, topic, data)
        if not_pulled:
            return WebhookEvent.Status.IGNORED, not_pulled
        return _enqueue(integration, "pull_orders", {"order_ids": order_ids})
    if topic in CATALOG_TOPICS:
        params = {k: [str(data[k])] for k in ("order_id", "return_id", "product_id") if data.get(k)}
        return _enqueue(integration, CATALOG_TOPICS[topic], {f"{k}s": v for k, v in params.items()})
    return WebhookEvent.Status.IGNORED, f"topic {topic} not used"


def _not_pulled_yet(integration: Integration, topic: int, data: dict) -> str:
    """Why a status change needs no read ("" = read it). Every new order announces UNPAID and then ON_HOLD (the
    buyer's remorse hour) before AWAITING_SHIPMENT; reading it then costs a Get Order Detail call for an order the
    pull skips. Only those two statuses, whose names the webhook and the order share (§8: the webhook says CANCEL
    where the order says CANCELLED): the change that makes the order pullable sends its own webhook, and the
    scheduled poll reads every order anyway."""
    status = str(data.get("order_status") or "")
    if topic != c.WEBHOOK_ORDER_STATUS or status not in c.PRE_RELEASE_STATUSES:
        return ""
    reason = status_skip_reason(status, pull_filters(integration))
    return f"order {data.get('order_id')} is {status}: not pulled ({reason}), no read" if reason else ""


def _order_ids(topic: int, data: dict) -> list[str]:
    if topic == c.WEBHOOK_PACKAGE_UPDATE:
        ids = [str(o) for pkg in data.get("package_list") or [] for o in pkg.get("order_id_list") or []]
    else:
        ids = [str(data["order_id"])] if data.get("order_id") else []
    return sorted(set(ids))


def _enqueue(integration: Integration, flow: str, params: dict) -> tuple[str, str]:
    if integration.paused_reason:
        return WebhookEvent.Status.IGNORED, f"integration paused: {integration.paused_reason}"[:255]
    state = FlowState.objects.filter(integration=integration, flow=flow, enabled=True).select_related("integration").first()
    if state is None:
        return WebhookEvent.Status.IGNORED, f"flow {flow} is off or does not exist"
    services.flow_targeted_request(flow_state=state, params=params, trigger=SyncRun.Trigger.WEBHOOK)
    return WebhookEvent.Status.ENQUEUED, f"{flow} {params}"[:255]


def integration_deauthorized(*, integration: Integration, message: str = "") -> None:
    """The seller cancelled the authorization: pause every flow, show it in the admin."""
    reason = "TikTok: seller deauthorized the app; connect to TikTok again"
    Integration.objects.filter(pk=integration.pk).update(paused_reason=reason)
    integration.paused_reason = reason
    services.exception_raise(category=OpsException.Category.CONNECTOR, code="deauthorized", integration=integration,
                             dedup_key=f"tiktok:deauthorized:{integration.pk}",
                             message=f"{integration.name}: the seller deauthorized the app. {message}".strip())


def authorization_expiring(*, integration: Integration, message: str = "", expiration_time=None) -> None:
    """Authorization expires soon (30 days ahead, then daily): visible; paused once it has expired."""
    expires = None
    try:
        expires = datetime.fromtimestamp(int(expiration_time), tz=dt_timezone.utc) if expiration_time else None
    except (TypeError, ValueError):
        expires = None
    state = dict(integration.remote_state or {})
    state["authorization_expires_at"] = expires.isoformat() if expires else None
    updates = {"remote_state": state}
    if expires is not None and expires <= timezone.now():
        updates["paused_reason"] = "TikTok: authorization expired; connect to TikTok again"
    Integration.objects.filter(pk=integration.pk).update(**updates)
    for key, value in updates.items():
        setattr(integration, key, value)
    when = expires.strftime("%Y-%m-%d %H:%M UTC") if expires else "soon"
    services.exception_raise(category=OpsException.Category.CONNECTOR, code="authorization_expiring", integration=integration,
                             dedup_key=f"tiktok:auth_expiring:{integration.pk}",
                             message=f"{integration.name}: TikTok authorization expires {when}; re-authorize with “Connect to "
                                     f"TikTok”. {message}".strip())
