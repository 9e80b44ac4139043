"""Plain words for exceptions: what is wrong, what fixes it, and a link to the fix. Pure functions over an
exception's code, cause key and integration (no queries), so the queue and the by-cause page stay bounded.

Cause keys (see orders/CONTRACT.md and the connectors): ``carrier:<carrier>``, ``shipping_method:<integration pk>:<method>``,
``sku:<sku>``, ``address:<order pk>``, ``routing:<code>``. Connectors add their codes to EXPLAIN through
``ConnectorSpec.extra["exception_help"]`` ({code: (what, fix)}) so this module never imports a connector."""
from __future__ import annotations

from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

from integrations import registry

# code → (what is wrong, what fixes it)
EXPLAIN: dict[str, tuple[str, str]] = {
    "unknown_sku": ("An order has a SKU Switchyard does not know.",
                    "Create the product (or map the channel SKU to a product), then Re-drive."),
    "bad_address": ("The shipping address lacks what a carrier needs.",
                    "Correct the address on the order page (or at the channel); the order then moves on by itself."),
    "unsupported_carrier": ("The carrier of a shipment is not a shipping provider the channel accepts for the order.",
                            "Add a carrier mapping to one of the channel's providers (or turn on the fallback carrier), "
                            "then Re-drive."),
    "unmapped_shipping_method": ("The 3PL does not know the order's shipping method.",
                                 "Add a shipping-method mapping on the fulfillment integration, then Re-drive."),
    "missing_tracking": ("A shipment has no tracking number and the channel requires one.",
                         "Get the tracking number recorded at the 3PL; the next fulfillment push sends it."),
    "no_location": ("No routing rule sends the order anywhere.",
                    "Add or widen a routing rule (countries, SKUs, tags), then Re-drive."),
    "out_of_stock": ("No location has enough available stock for the order.",
                     "Receive stock or allow split shipments; waiting orders route by themselves when stock arrives."),
    "cancel_too_late": ("The 3PL had already shipped when the cancellation arrived.",
                        "Arrange a return with the buyer, then resolve the exception."),
    "canceled_by_fulfillment": ("The 3PL cancelled a shipping request.",
                                "Check why at the 3PL; Re-drive routes what it held again."),
    "3pl_rejected": ("The 3PL refused a shipping request.", "Read the 3PL's message, fix the order or mapping, then Re-drive."),
    "duplicate_order_id": ("The channel sent two different orders under one order id.", "Check the channel; resolve when settled."),
    "record_skipped": ("A remote record could not be read and was skipped (the rest of the run went on).",
                       "Fix the cause shown in the message; Re-drive retries just that record."),
    "deauthorized": ("The remote account revoked Switchyard's access; its flows are paused.",
                     "Reconnect the integration from its page."),
    "authorization_expiring": ("The integration's authorization expires soon.", "Reconnect the integration from its page."),
    "auth": ("The remote system refused the credentials.", "Check the credentials on the integration page and Test connection."),
    "outage": ("A flow keeps failing against the remote system.", "It retries with back-off; check the remote's status."),
    "location_not_linked": ("A 3PL location is not linked to a channel location; its stock is not published.",
                            "Link the location (Inventory → Location links)."),
    "shipped_more_than_on_hand": ("The 3PL shipped more than Switchyard counted on hand.",
                                  "Check the location's stock; the next inventory pull corrects it."),
}
GENERIC = ("Something blocks this record.", "Read the message; once the cause is fixed, Re-drive (or it resolves by itself).")


def explain(code: str, connector: str = "") -> tuple[str, str]:
    spec = registry.CONNECTORS.get(connector)
    extra = (spec.extra.get("exception_help") or {}) if spec is not None else {}
    if code in extra:
        return extra[code]
    if code in EXPLAIN:
        return EXPLAIN[code]
    for suffix in ("_rejected", "_in_doubt"):
        if code.endswith(suffix):
            return ("The remote system refused a push." if suffix == "_rejected" else
                    "A push may or may not have reached the remote system.",
                    "Read the message; fix the data and Re-drive." if suffix == "_rejected" else
                    "The next run reads the remote back and settles it; Re-drive to do it now.")
    return GENERIC


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def fix_link(*, code: str, cause_key: str, integration_id: int | None) -> tuple[str, str] | None:
    """(label, url) of the page where the cause is fixed, or None. The mapping link carries the cause so saving the
    mapping re-drives the group (MappingAdmin.response_add)."""
    link = _fix_link(code=code, cause_key=cause_key or "", integration_id=integration_id)
    return link if link and link[1] and not link[1].startswith("?") else None


def _fix_link(*, code: str, cause_key: str, integration_id: int | None) -> tuple[str, str] | None:
    kind, _, rest = cause_key.partition(":")
    if kind == "carrier" and rest and integration_id:
        return "Add mapping", _url("admin:integrations_mapping_add") + "?" + urlencode(
            {"integration": integration_id, "kind": "carrier", "source": rest, "_redrive_cause": cause_key})
    if kind == "shipping_method" and rest:
        pk, _, method = rest.partition(":")
        if pk.isdigit():
            return "Add mapping", _url("admin:integrations_mapping_add") + "?" + urlencode(
                {"integration": pk, "kind": "shipping_method", "source": method, "_redrive_cause": cause_key})
    if kind == "sku" and rest:
        return "Add product", _url("admin:catalog_product_add") + "?" + urlencode({"sku": rest, "name": rest})
    if kind == "address" and rest.isdigit():
        return "Correct address", _url("admin:orders_order_edit", int(rest), "address")
    if kind == "routing":
        return "Routing rules", _url("admin:orders_routingrule_changelist")
    if code in ("deauthorized", "authorization_expiring", "auth") and integration_id:
        return "Open integration", _url("admin:integrations_integration_change", integration_id)
    if code == "location_not_linked":
        return "Location links", _url("admin:inventory_locationlink_changelist")
    return None


def entity_url(*, app_label: str, model: str, object_id) -> str:
    """The admin page of an exception's entity, from its content type's natural key (no query)."""
    if not (app_label and model and object_id):
        return ""
    return _url(f"admin:{app_label}_{model}_change", object_id)
