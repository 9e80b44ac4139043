"""What the back office suggests from Acumatica without calling it (ConnectorSpec.extra["mapping_targets"]): Ship Via
codes and payment methods the tenant is known to accept — those on its recent shipments and those already mapped."""
from __future__ import annotations

from integrations.models import Integration, Mapping

RECENT_SHIPMENTS = 2000  # fulfillments read for Ship Via codes (newest first): bounded at any history size


def mapping_targets(integration: Integration, kind: str) -> list[tuple[str, str]]:
    from orders.models import Fulfillment

    if kind not in (Mapping.Kind.SHIPPING_METHOD, Mapping.Kind.PAYMENT_METHOD):
        return []
    labels: dict[str, str] = {}
    if kind == Mapping.Kind.SHIPPING_METHOD:
        seen = (Fulfillment.objects.filter(integration=integration).exclude(shipping_method="")
                .order_by("-id").values_list("shipping_method", flat=True)[:RECENT_SHIPMENTS])
        labels.update((code, f"{code} (Ship Via on Acumatica shipments)") for code in seen)
    for code in Mapping.objects.filter(integration=integration, kind=kind).values_list("target", flat=True):
        labels.setdefault(code, f"{code} (already mapped)")
    return sorted(labels.items(), key=lambda kv: kv[0].lower())
