"""Katana webhooks (reference §1.5): verify, then ask for a targeted re-fetch of the sales order by id. The body is
never trusted beyond the id (a spoofed delivery can only trigger a re-read); repeated deliveries and the twin
`.updated`/`.delivered` payloads collapse in the flow's outbox (ids are merged)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

from django.conf import settings

from integrations import ratelimit, services
from integrations.crypto import DecryptionError
from integrations.models import FlowState, Integration

logger = logging.getLogger(__name__)
# Katana's event payloads are a few hundred bytes (resource_type, action, object {id, status, href}).
MAX_BODY_BYTES = 64 * 1024

EVENTS = ("sales_order.delivered", "sales_order.updated", "sales_order.deleted", "sales_order.packed")
# Stock moved (reference §1.5 "can trigger a resync"). Assumed contract: `object.id` is the variant id (Katana keys
# inventory by variant and location and documents no id of its own); the variant is re-read by a targeted pull.
INVENTORY_EVENTS = ("current_inventory.product_updated", "current_inventory.product_out_of_stock")


def signature_valid(*, token: str, body: bytes, signature: str) -> bool:
    """x-sha2-signature: hex HMAC-SHA256 of the raw body keyed with the webhook token; optional `sha256=` prefix."""
    if not token or not signature:
        return False
    given = signature.strip()
    if given.startswith("sha256="):
        given = given[len("sha256="):]
    expected = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.lower())


@dataclass
class Outcome:
    status: int
    note: str = ""
    retry_after: int = 0


def _limited(*, scope: str, key: str, limit: int) -> Outcome | None:
    verdict = ratelimit.rate_limit_hit(scope=scope, key=key, limit=limit, window_seconds=settings.WEBHOOK_RATE_WINDOW_SECONDS)
    if verdict.allowed:
        return None
    return Outcome(429, f"rate limited ({scope})", retry_after=verdict.retry_after)


def webhook_receive(*, integration_pk: int, body: bytes, signature: str, remote_addr: str = "") -> Outcome:
    """Per-address and per-integration rate limits → 429; unknown integration or webhooks off → 404; bad signature
    → 401; not JSON → 400; a sales-order event → its id queued for a targeted re-fetch (202), an inventory event → its
    variant queued for a targeted inventory read (202); anything else → 200."""
    limited = _limited(scope="katana-webhook:address", key=remote_addr or "-", limit=settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS)
    if limited:
        return limited
    if len(body) > MAX_BODY_BYTES:
        return Outcome(413, "body too large")
    integration = Integration.objects.filter(pk=integration_pk, connector="katana").first()
    if integration is None or not integration.setting("webhooks_enabled"):
        return Outcome(404, "no Katana integration with webhooks on")
    limited = _limited(scope="katana-webhook:integration", key=str(integration.pk), limit=settings.WEBHOOK_RATE_LIMIT_PER_SHOP)
    if limited:
        return limited
    if integration.setting("webhook_signature_required"):
        try:
            token = integration.get_credentials().get("webhook_token", "")
        except DecryptionError:
            logger.error("katana.webhook.credentials_undecryptable", extra={"integration": integration.pk})
            return Outcome(503, "credentials cannot be decrypted")
        if not signature_valid(token=token, body=body, signature=signature):
            return Outcome(401, "bad signature")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return Outcome(400, "not JSON")
    if not isinstance(payload, dict):
        return Outcome(400, "not an object")
    action, obj = str(payload.get("action") or ""), payload.get("object") or {}
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if action in EVENTS:
        flow, key, off = "pull_fulfillments", "sales_order_ids", "fulfillments pull is off"
    elif action in INVENTORY_EVENTS:
        flow, key, off = "pull_inventory", "variant_ids", "inventory pull is off"
    else:
        return Outcome(200, "ignored")
    if not isinstance(object_id, int) or isinstance(object_id, bool):
        return Outcome(200, "ignored")
    state = FlowState.objects.filter(integration=integration, flow=flow, enabled=True).first()
    if state is None:
        return Outcome(200, off)
    services.flow_targeted_request(flow_state=state, params={key: [str(object_id)]})
    return Outcome(202, "queued")
