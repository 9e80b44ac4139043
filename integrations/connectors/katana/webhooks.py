"""Katana webhooks (reference §1.5): verify, then ask for a targeted re-fetch of the sales order by id. The body is
never trusted beyond the id (a spoofed delivery can only trigger a re-read); repeated deliveries and the twin
`.updated`/`.delivered` payloads collapse in the flow's outbox (ids are merged)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from integrations import services
from integrations.models import FlowState, Integration

EVENTS = ("sales_order.delivered", "sales_order.updated", "sales_order.deleted", "sales_order.packed")


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


def webhook_receive(*, integration_pk: int, body: bytes, signature: str) -> Outcome:
    integration = Integration.objects.filter(pk=integration_pk, connector="katana").first()
    if integration is None or not integration.setting("webhooks_enabled"):
        return Outcome(404, "no Katana integration with webhooks on")
    if integration.setting("webhook_signature_required"):
        token = integration.get_credentials().get("webhook_token", "")
        if not signature_valid(token=token, body=body, signature=signature):
            return Outcome(401, "bad signature")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return Outcome(400, "not JSON")
    if not isinstance(payload, dict):
        return Outcome(400, "not an object")
    action, obj = str(payload.get("action") or ""), payload.get("object") or {}
    so_id = obj.get("id") if isinstance(obj, dict) else None
    if action not in EVENTS or not isinstance(so_id, int):
        return Outcome(200, "ignored")
    state = FlowState.objects.filter(integration=integration, flow="pull_fulfillments", enabled=True).first()
    if state is None:
        return Outcome(200, "fulfillments pull is off")
    services.flow_targeted_request(flow_state=state, params={"sales_order_ids": [str(so_id)]})
    return Outcome(202, "queued")
