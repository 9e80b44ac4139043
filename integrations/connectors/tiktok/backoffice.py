"""What the back office shows from TikTok without calling it: the order's Seller Center link
(ConnectorSpec.extra["order_url"]) and the shipping providers suggested as carrier mapping targets
(ConnectorSpec.extra["mapping_targets"]), remembered from the provider lists push_fulfillments reads."""
from __future__ import annotations

from urllib.parse import quote

from django.db import transaction
from django.utils import timezone

from integrations.models import Integration

PROVIDERS_KEY = "shipping_providers"  # remote_state[...] = {"at": iso, "options": {delivery_option_id: [[id, name], ...]}}
PROVIDERS_KEPT = 50  # delivery options remembered per shop (a shop uses a handful)

# Seller Center hosts by shop region where the host is not seller-<region lowercased>.
SELLER_CENTER_HOSTS = {"GB": "seller-uk.tiktok.com"}


def order_url(order) -> str:
    """The order's page in TikTok Seller Center.

    Confirmed: the shape https://seller-<region>.tiktok.com/order/detail?order_no=<order id>&shop_region=<REGION>
    is what sellers' own tools open (public code for the US, MY, VN and BR Seller Centers; seen in 2026). Not confirmed
    by TikTok documentation (Seller Center pages are not part of the Partner API); the UK host (seller-uk, region
    code GB) follows the Seller Center's own domain. Without a known shop region the US Seller Center is assumed."""
    region = str((order.integration.remote_state or {}).get("shop_region") or "US").upper()
    host = SELLER_CENTER_HOSTS.get(region, f"seller-{region.lower()}.tiktok.com")
    return f"https://{host}/order/detail?order_no={quote(str(order.external_id), safe='')}&shop_region={quote(region, safe='')}"


def shipping_providers_remember(*, integration: Integration, delivery_option_id: str, providers: list[dict]) -> None:
    """Keep the provider list just read (id and name only) for the mapping form. A row-locked read-modify-write of
    remote_state, so a concurrent token refresh's keys are never overwritten by this (it may drop ours: harmless)."""
    if not delivery_option_id or not providers:
        return
    rows = [[str(p.get("id", "")), str(p.get("name", ""))] for p in providers if p.get("id")]
    with transaction.atomic():
        state = dict(Integration.objects.select_for_update().values_list("remote_state", flat=True).get(pk=integration.pk) or {})
        known = dict((state.get(PROVIDERS_KEY) or {}).get("options") or {})
        if known.get(delivery_option_id) == rows:
            return
        known.pop(delivery_option_id, None)
        known[delivery_option_id] = rows
        while len(known) > PROVIDERS_KEPT:
            known.pop(next(iter(known)))
        state[PROVIDERS_KEY] = {"at": timezone.now().isoformat(), "options": known}
        Integration.objects.filter(pk=integration.pk).update(remote_state=state)
    integration.remote_state = state


def mapping_targets(integration: Integration, kind: str) -> list[tuple[str, str]]:
    """Carrier targets: the shipping providers remembered for this shop (name as the value: readable, and
    provider_resolve accepts a name or an id), across its delivery options. Nothing remembered yet: [] (the form
    falls back to free text with help)."""
    if kind != "carrier":
        return []
    options = ((integration.remote_state or {}).get(PROVIDERS_KEY) or {}).get("options") or {}
    names: dict[str, str] = {}
    for rows in options.values():
        for provider_id, name in rows:
            names.setdefault(name or provider_id, provider_id)
    return [(name, f"{name} (provider {provider_id})") for name, provider_id in sorted(names.items(), key=lambda kv: kv[0].lower())]
