"""The product's promises as reusable checks. Each function returns a list of violations (plain sentences, empty
when the promise holds); `assert_invariants(world)` runs them all after a scenario has been run to quiescence.

Written once, used by every scenario of tests/reliability/. Never weaken one to make a scenario pass: mark the
scenario xfail(strict=True) with the defect it demonstrates instead."""
from __future__ import annotations

from collections import Counter

from integrations.models import FlowState, Integration, OpsException, OutboundPush, SyncRun

ACTIVE_SR = ("readyForFulfillment", "sentToFulfillment", "partialFulfillment", "fulfilled")
CANCELED_SR = ("canceled", "canceledRestock")
# Requests whose units stay committed at their location (review and failed keep them for the re-drive).
COMMITTING_SR = ("readyForFulfillment", "sentToFulfillment", "partialFulfillment", "reviewRequired", "failed")


def remote_records_once_locally(world) -> list[str]:
    """Every order of the emulated TikTok shop exists locally exactly once and no local order lacks its remote;
    every OSA shipment is recorded exactly once as a fulfillment of the right shipping request."""
    from integrations.connectors.osa.models import EmuShipment
    from integrations.sandbox.models import EmuOrder
    from orders.models import Fulfillment, Order

    out = []
    us = world.us
    remote_ids = set(EmuOrder.objects.filter(shop=world.shop).values_list("order_id", flat=True))
    local = Counter(Order.objects.filter(integration=us).values_list("external_id", flat=True))
    out += [f"TikTok order {oid} missing locally" for oid in sorted(remote_ids - set(local))]
    out += [f"TikTok order {oid} stored {n} times" for oid, n in local.items() if n != 1]
    out += [f"local order {oid} has no remote order" for oid in sorted(set(local) - remote_ids)]
    shipped = Counter(Fulfillment.objects.filter(integration=world.osa).values_list("external_id", flat=True))
    for shipment in EmuShipment.objects.filter(account=world.account).select_related("order"):
        n = shipped.get(shipment.osa_id, 0)
        if n != 1:
            out.append(f"OSA shipment {shipment.osa_id} of {shipment.order.reference} recorded {n} times locally")
            continue
        f = Fulfillment.objects.select_related("shipping_request").get(integration=world.osa, external_id=shipment.osa_id)
        if f.shipping_request is None or f.shipping_request.reference != shipment.order.reference:
            out.append(f"OSA shipment {shipment.osa_id} recorded on the wrong shipping request")
        units = sum(int(line["quantity"]) for line in shipment.lines)
        local_units = sum(f.lines.values_list("quantity", flat=True))
        if units != local_units:
            out.append(f"OSA shipment {shipment.osa_id}: {units} units shipped, {local_units} recorded")
    return out


def local_changes_once_remotely(world) -> list[str]:
    """Every shipping request sent to OSA exists there exactly once; every fulfillment of a TikTok order is on
    TikTok exactly once (one package per tracking number, nothing left to push); a hub cancellation reaches
    TikTok at most once."""
    from integrations.connectors.osa.models import EmuOrder as OsaOrder
    from integrations.sandbox.models import EmuCancellation, EmuOrder, EmuPackage
    from orders.models import Fulfillment, ShippingRequest

    out = []
    at_osa = Counter(OsaOrder.objects.filter(account=world.account).values_list("reference", flat=True))
    out += [f"shipping request {ref} created {n} times at OSA" for ref, n in at_osa.items() if n > 1]
    for sr in ShippingRequest.objects.filter(integration=world.osa):
        if sr.external_id and not at_osa.get(sr.reference):
            out.append(f"shipping request {sr.reference} marked sent ({sr.external_id}) but OSA never got it")
        if sr.reference in at_osa and not sr.external_id and sr.status not in CANCELED_SR + ("failed",):
            out.append(f"shipping request {sr.reference} is at OSA but not marked sent (status {sr.status})")
    packages = Counter(EmuPackage.objects.filter(order__shop=world.shop).exclude(tracking_number="")
                       .values_list("order__order_id", "tracking_number"))
    out += [f"TikTok order {o}: tracking {t} pushed {n} times" for (o, t), n in packages.items() if n > 1]
    line_owner: dict[str, str] = {}
    for package in EmuPackage.objects.filter(order__shop=world.shop):
        for line_id in package.line_item_ids:
            if line_id in line_owner and line_owner[line_id] != package.package_id:
                out.append(f"TikTok line item {line_id} shipped in two packages")
            line_owner[line_id] = package.package_id
    emu_orders = {o.order_id: o for o in EmuOrder.objects.filter(shop=world.shop).prefetch_related("packages")}
    for f in Fulfillment.objects.filter(order__integration=world.us).exclude(order__fulfillment_type="platform").select_related("order"):
        remote = emu_orders.get(f.order.external_id)
        if remote is None or remote.status == "CANCELLED":
            continue
        tracking = set(f.tracking_numbers or [])
        n = sum(1 for p in remote.packages.all() if p.tracking_number in tracking)
        if n != 1:
            out.append(f"fulfillment {f.external_id} of order {f.order.external_id} is on TikTok {n} times")
    seller = Counter(EmuCancellation.objects.filter(order__shop=world.shop, role="SELLER")
                     .values_list("order__order_id", flat=True))
    out += [f"TikTok order {o}: hub cancellation pushed {n} times" for o, n in seller.items() if n > 1]
    return out


def no_order_cancelled_and_shipped(world) -> list[str]:
    """An order is never both cancelled and shipped, unless the cancellation is recorded as too late."""
    from integrations.connectors.osa.models import EmuOrder as OsaOrder
    from orders.models import Order, ShippingRequest

    out = []
    too_late_orders = set(ShippingRequest.objects.filter(cancel_state="too_late").values_list("order_id", flat=True))
    for exc in OpsException.objects.filter(code="cancel_too_late").select_related("content_type"):
        if exc.content_type and exc.content_type.model == "order":
            too_late_orders.add(exc.object_id)
        elif exc.content_type and exc.content_type.model == "shippingrequest":
            too_late_orders.update(ShippingRequest.objects.filter(pk=exc.object_id).values_list("order_id", flat=True))
    for order in Order.objects.filter(status="canceled", fulfillments__isnull=False).distinct():
        if order.pk not in too_late_orders:
            out.append(f"order {order.external_id} is canceled and has a fulfillment, no too-late cancellation recorded")
    for sr in ShippingRequest.objects.filter(integration=world.osa, status__in=CANCELED_SR):
        remote = OsaOrder.objects.filter(account=world.account, reference=sr.reference).first()
        if remote is not None and remote.shipments.exists() and sr.cancel_state != "too_late":
            out.append(f"shipping request {sr.reference} is {sr.status} locally but OSA shipped it")
        if remote is not None and remote.status not in ("canceled", "cancelled") and not remote.shipments.exists():
            out.append(f"shipping request {sr.reference} is {sr.status} locally but still {remote.status} at OSA")
    from integrations.sandbox.models import EmuOrder

    cancelled_on_tiktok = set(EmuOrder.objects.filter(shop=world.shop, status="CANCELLED").values_list("order_id", flat=True))
    for order in Order.objects.filter(integration=world.us, external_id__in=cancelled_on_tiktok):
        if order.status != "canceled" and order.pk not in too_late_orders:
            out.append(f"order {order.external_id} was cancelled on TikTok but is {order.status} locally, no too-late recorded")
    for sr in ShippingRequest.objects.filter(order__status="canceled", status__in=("readyForFulfillment", "sentToFulfillment")):
        out.append(f"order {sr.order.external_id} is canceled but its shipping request {sr.reference} is still {sr.status}")
    return out


def stock_equations_hold(world=None, *, allow_negative: bool = False) -> list[str]:
    """available = on hand − committed at every level the hub counts, = the remote's Fulfillable − the hub's
    commitments it has not seen where the remote reports Fulfillable (OSA), and that Fulfillable is OSA's own
    figure once quiet; committed never negative and equal to the units of open shipping requests at the location
    still to ship; nothing negative unless allowed."""
    from django.db.models import F, Sum

    from inventory.models import InventoryLevel
    from orders.models import ShippingRequestLine

    out = []
    open_units = {
        (row["product_id"], row["shipping_request__location_id"]): row["units"]
        for row in ShippingRequestLine.objects.filter(
            shipping_request__status__in=COMMITTING_SR,
            shipping_request__location__isnull=False, product__isnull=False)
        .values("product_id", "shipping_request__location_id").annotate(units=Sum(F("quantity") - F("shipped_quantity")))
    }
    for level in InventoryLevel.objects.select_related("product", "location"):
        label = f"{level.product.sku}@{level.location.code}"
        if level.location.reports_fulfillable:  # the remote's Fulfillable figure minus what it has not seen yet
            if level.fulfillable - level.committed_unseen != level.available:
                out.append(f"{label}: fulfillable {level.fulfillable} − committed unseen {level.committed_unseen} "
                           f"≠ available {level.available}")
        elif level.on_hand - level.committed != level.available:
            out.append(f"{label}: on hand {level.on_hand} − committed {level.committed} ≠ available {level.available}")
        if level.committed < 0:
            out.append(f"{label}: committed {level.committed} < 0")
        if not allow_negative and (level.on_hand < 0 or level.available < 0):
            out.append(f"{label}: negative stock (on hand {level.on_hand}, available {level.available})")
        expected = open_units.get((level.product_id, level.location_id), 0)
        if level.committed != expected:
            out.append(f"{label}: committed {level.committed} but open shipping requests hold {expected}")
    if world is not None:
        out += _osa_figures_match(world)
    return out


def _osa_figures_match(world) -> list[str]:
    from integrations.connectors.osa.models import EmuStock
    from inventory.models import InventoryLevel

    out = []
    remote = {(s.sku, s.location_code): s.on_hand - s.committed for s in EmuStock.objects.filter(account=world.account)}
    for level in InventoryLevel.objects.filter(location__integration=world.osa, location__reports_fulfillable=True).select_related(
            "product", "location"):
        figure = remote.get((level.product.sku, level.location.external_id))
        if figure is not None and figure != level.fulfillable:
            out.append(f"{level.product.sku}@{level.location.code}: OSA says fulfillable {figure}, hub has {level.fulfillable}")
    return out


def no_open_exception_without_cause(world=None) -> list[str]:
    """An open exception whose cause is gone: an outage or rate-limit alert of a flow whose last run succeeded,
    an authorization alert on a connected integration, a shipping-request exception on a request that went out."""
    from orders.models import ShippingRequest

    out = []
    for exc in OpsException.objects.filter(status=OpsException.Status.OPEN):
        key = exc.dedup_key
        if key.startswith("connector:outage:"):
            state = FlowState.objects.filter(pk=int(key.rsplit(":", 1)[1])).first()
            last = state and SyncRun.objects.filter(flow_state=state).exclude(status="skipped").order_by("-pk").first()
            if last is not None and last.status == SyncRun.Status.SUCCEEDED:
                out.append(f"open {exc.code} exception for {state.flow} whose last run succeeded")
        elif key.startswith("connector:auth:") and exc.integration_id:
            if Integration.objects.filter(pk=exc.integration_id, status=Integration.Status.CONNECTED).exists():
                out.append(f"open auth exception on connected integration {exc.integration}")
        elif exc.code in ("tiktok_push_in_doubt", "tiktok_fulfillment_rejected") and exc.content_type_id:
            if _fulfilled_on_tiktok(exc.object_id):
                out.append(f"open {exc.code} exception on order {exc.entity_label} although TikTok has all its packages")
        elif exc.content_type_id and exc.content_type.model == "shippingrequest" and exc.code != "cancel_too_late":
            sr = ShippingRequest.objects.filter(pk=exc.object_id).first()
            if sr is not None and sr.status in ("sentToFulfillment", "partialFulfillment", "fulfilled") and sr.external_id:
                out.append(f"open {exc.code} exception on shipping request {sr.reference} that OSA accepted")
    return out


def katana_records_once(world) -> list[str]:
    """With Katana in the world: every shipping request routed to Katana and marked sent is exactly one live Katana
    sales order (ours by `customer_ref`), no request is at Katana twice or there unmarked, a cancelled request's
    sales order is gone unless the cancellation was too late; every Katana delivery is exactly one hub fulfillment
    of the right request with the same units."""
    if not getattr(world, "katana", False):
        return []
    from integrations.connectors.katana.models import EmuObject
    from orders.models import Fulfillment, ShippingRequest

    out = []
    katana = world.katana_integration
    orders = [o for o in EmuObject.objects.filter(account=world.katana_account, kind="sales_order")]
    live = Counter(o.data.get("customer_ref") for o in orders if not o.deleted)
    by_id = {str(o.data["id"]): o for o in orders}
    out += [f"shipping request {ref} is {n} live Katana sales orders" for ref, n in live.items() if n > 1]
    requests = list(ShippingRequest.objects.filter(integration=katana))
    for sr in requests:
        remote = by_id.get(sr.external_id) if sr.external_id else None
        if sr.external_id and (remote is None or remote.data.get("customer_ref") != sr.reference):
            out.append(f"shipping request {sr.reference} marked sent ({sr.external_id}) but Katana has no such sales order of ours")
        if sr.status in CANCELED_SR:
            if remote is not None and not remote.deleted and sr.cancel_state != "too_late":
                out.append(f"shipping request {sr.reference} is {sr.status} but its Katana sales order still exists")
        elif live.get(sr.reference) and not sr.external_id and sr.status != "failed":
            out.append(f"shipping request {sr.reference} is at Katana but not marked sent (status {sr.status})")
        elif sr.external_id and remote is not None and remote.deleted:
            out.append(f"shipping request {sr.reference} is {sr.status} but Katana deleted its sales order")
    known = {sr.reference for sr in requests}
    out += [f"Katana sales order of unknown request {ref}" for ref in live if ref not in known]
    recorded = Counter(Fulfillment.objects.filter(integration=katana).values_list("external_id", flat=True))
    for f in EmuObject.objects.filter(account=world.katana_account, kind="fulfillment"):
        if f.data.get("status") != "DELIVERED":
            continue
        key = f"katana-fulfillment-{f.data['id']}"
        n = recorded.get(key, 0)
        if n != 1:
            out.append(f"Katana delivery {f.data['id']} recorded {n} times locally")
            continue
        local = Fulfillment.objects.select_related("shipping_request").get(integration=katana, external_id=key)
        so = by_id.get(str(f.data["sales_order_id"]))
        if local.shipping_request is None or so is None or local.shipping_request.reference != so.data.get("customer_ref"):
            out.append(f"Katana delivery {f.data['id']} recorded on the wrong shipping request")
        units = sum(int(r["quantity"]) for r in f.data.get("sales_order_fulfillment_rows", []))
        local_units = sum(local.lines.values_list("quantity", flat=True))
        if units != local_units:
            out.append(f"Katana delivery {f.data['id']}: {units} units delivered, {local_units} recorded")
    return out


def katana_stock_matches(world) -> list[str]:
    """With Katana in the world, once quiet: the hub's Fulfillable at each Katana location is Katana's
    max(0, In stock − Committed) and on hand its In stock (what the hub has not yet seen is `committed_unseen`,
    checked by stock_equations_hold); every incremental Katana pull's cursor is at most where its last successful run started
    (a cursor past it would skip rows updated during the run)."""
    if not getattr(world, "katana", False):
        return []
    from datetime import datetime

    from integrations.connectors.katana.models import EmuObject
    from inventory.models import InventoryLevel

    out = []
    account = world.katana_account
    variants = {o.data["id"]: o.data["sku"] for o in EmuObject.objects.filter(account=account, kind="variant", deleted=False)}
    remote = {}
    for o in EmuObject.objects.filter(account=account, kind="inventory"):
        sku = variants.get(o.data["variant_id"])
        if sku:
            remote[(sku, str(o.data["location_id"]))] = (o.data["in_stock"], max(0, o.data["in_stock"] - o.data["committed"]))
    for level in InventoryLevel.objects.filter(location__integration=world.katana_integration).select_related("product", "location"):
        figure = remote.get((level.product.sku, level.location.external_id))
        if figure is not None and (level.on_hand, level.fulfillable) != figure:
            out.append(f"{level.product.sku}@{level.location.code}: Katana says in stock {figure[0]} / fulfillable {figure[1]}, "
                       f"hub has on hand {level.on_hand} / fulfillable {level.fulfillable}")
    for state in FlowState.objects.filter(integration=world.katana_integration):
        since = (state.cursor or {}).get("since")  # incremental pulls (inventory's `taken_at` is a full snapshot's time)
        last = SyncRun.objects.filter(flow_state=state, status=SyncRun.Status.SUCCEEDED).order_by("-pk").first()
        began = last and world.started.get(last.pk)  # the world's clock (SyncRun.started_at is real time)
        if since and began and datetime.fromisoformat(since) > began:
            out.append(f"Katana {state.flow} cursor {since} is past the start of its last run ({began.isoformat()})")
    return out


def acumatica_records_once(world) -> list[str]:
    """With Acumatica in the world: every shipping request routed to Acumatica and marked sent is exactly one sales
    order of ours (`ExternalRef`), none live there twice or there unmarked, a live request never bound to a Canceled copy, a
    cancelled request's sales order Canceled unless the cancellation was too late; every refund pushed is one live return
    order of ours (a cancelled copy aside), and the one it is bound to; every confirmed shipment is exactly one hub
    fulfillment per sales order with the same units; every Acumatica stock adjustment of ours released."""
    if not getattr(world, "acumatica", False):
        return []
    from integrations.connectors.acumatica.models import EmuRecord
    from orders.models import Fulfillment, ShippingRequest

    out = []
    acu = world.acu_integration
    records = EmuRecord.objects.filter(instance=world.acu_instance)
    orders = {r.key: r.data for r in records.filter(entity="SalesOrder")}
    sales = Counter(d.get("ExternalRef") for d in orders.values()
                    if d.get("OrderType") == "SO" and d.get("Status") != "Canceled")
    out += [f"shipping request {ref} is {n} Acumatica sales orders" for ref, n in sales.items() if n > 1]
    returns = Counter(d.get("ExternalRef") for d in orders.values()
                      if d.get("OrderType") == "RC" and d.get("Status") != "Canceled")
    out += [f"{ref} is {n} live Acumatica return orders" for ref, n in returns.items() if n > 1]
    for push in OutboundPush.objects.filter(integration=acu, kind="acumatica_refund", status=OutboundPush.Status.SENT):
        remote = orders.get(push.remote_id)
        if remote is None or remote.get("ExternalRef") != push.idempotency_key or remote.get("Status") == "Canceled":
            out.append(f"{push.idempotency_key} marked sent ({push.remote_id}) but that is no live return order of ours")
    requests = list(ShippingRequest.objects.filter(integration=acu))
    for sr in requests:
        remote = orders.get(sr.external_id) if sr.external_id else None
        if sr.external_id and (remote is None or remote.get("ExternalRef") != sr.reference):
            out.append(f"shipping request {sr.reference} marked sent ({sr.external_id}) but Acumatica has no such "
                       "sales order of ours")
        if sr.status not in CANCELED_SR and remote is not None and remote.get("Status") == "Canceled":
            out.append(f"shipping request {sr.reference} is {sr.status} but bound to a Canceled sales order ({sr.external_id})")
        if sr.status in CANCELED_SR:
            if remote is not None and remote.get("Status") != "Canceled" and sr.cancel_state != "too_late":
                out.append(f"shipping request {sr.reference} is {sr.status} but its Acumatica sales order is "
                           f"{remote.get('Status')}")
        elif sales.get(sr.reference) and not sr.external_id and sr.status != "failed":
            out.append(f"shipping request {sr.reference} is at Acumatica but not marked sent (status {sr.status})")
    known = {sr.reference for sr in requests}
    out += [f"Acumatica sales order of unknown request {ref}" for ref in sales if ref not in known]
    recorded = Counter(Fulfillment.objects.filter(integration=acu).values_list("external_id", flat=True))
    for shipment in records.filter(entity="Shipment", data__Status="Confirmed"):
        for ref in shipment.data.get("Orders") or []:
            key = f"{shipment.data['ShipmentNbr']}:{ref['OrderType']}/{ref['OrderNbr']}"
            if recorded.get(key, 0) != 1:
                out.append(f"Acumatica shipment {key} recorded {recorded.get(key, 0)} times locally")
                continue
            local = Fulfillment.objects.select_related("shipping_request").get(integration=acu, external_id=key)
            if local.shipping_request is None or local.shipping_request.external_id != f"{ref['OrderType']}/{ref['OrderNbr']}":
                out.append(f"Acumatica shipment {key} recorded on the wrong shipping request")
            units = sum(int(d["ShippedQty"]) for d in shipment.data.get("Details") or [])
            local_units = sum(local.lines.values_list("quantity", flat=True))
            if units != local_units:
                out.append(f"Acumatica shipment {key}: {units} units shipped, {local_units} recorded")
    out += [f"Acumatica adjustment {r.key} ({r.data.get('ExternalRef')}) left {r.data.get('Status')}"
            for r in records.filter(entity="InventoryAdjustment").exclude(data__Status="Released")]
    return out


def _fulfilled_on_tiktok(order_pk: int) -> bool:
    from integrations.sandbox.models import EmuPackage
    from orders.models import Order

    order = Order.objects.filter(pk=order_pk).prefetch_related("fulfillments").first()
    if order is None:
        return False
    fulfillments = list(order.fulfillments.all())
    on_tiktok = set(EmuPackage.objects.filter(order__order_id=order.external_id).values_list("tracking_number", flat=True))
    return bool(fulfillments) and all(set(f.tracking_numbers or []) & on_tiktok for f in fulfillments)


def runs_recorded(world=None) -> list[str]:
    """Every run finished with a final status; no lease is left behind."""
    out = [f"run #{r.pk} of {r.flow} never finished" for r in SyncRun.objects.filter(finished_at__isnull=True)]
    out += [f"run #{r.pk} of {r.flow} still 'running'" for r in SyncRun.objects.filter(status=SyncRun.Status.RUNNING)]
    out += [f"lease on {s.flow} left behind" for s in FlowState.objects.exclude(lease_token="")]
    return out


def fault_recorded(run: SyncRun) -> list[str]:
    """The run that met an injected fault is recorded as failed with the error (or, for a push that records
    outcomes per record, as partial with the failed record in its errors)."""
    run.refresh_from_db()
    per_record = run.status == SyncRun.Status.PARTIAL and run.failed and run.errors
    if not per_record and (run.status != SyncRun.Status.FAILED or not run.error_class):
        return [f"run #{run.pk} of {run.flow} met an injected fault but is {run.status!r} ({run.error_class or 'no error'})"]
    return []


ALL = (remote_records_once_locally, local_changes_once_remotely, no_order_cancelled_and_shipped, stock_equations_hold,
       no_open_exception_without_cause, runs_recorded, katana_records_once, katana_stock_matches, acumatica_records_once)


def violations(world) -> list[str]:
    return [v for check in ALL for v in check(world)]


def assert_invariants(world) -> None:
    found = violations(world)
    assert not found, "invariants violated:\n- " + "\n- ".join(found)
