"""Routing: turn what is left of a ready order into shipping requests, committing stock."""
from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import BundleComponent, Product
from integrations import registry
from integrations.models import Integration, OpsException
from integrations.services import exception_raise, exceptions_resolve
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.models import Location
from orders.models import Order, OrderEvent, OrderLine, RoutingRule, RoutingState, ShippingRequest, ShippingRequestLine
from orders.services.lifecycle import (
    ROUTING_RETRY, S, SR, SR_ACTIVE, SR_UNSENT, OrderActionError, _event, order_lock, order_transition, _save, _user_actor,
)
from orders.services.checks import address_problems, _raise_bad_address
from orders.services.shipping_requests import shipping_request_cancel
from orders.services.lines import _parent_ids


# Order statuses with units that may still need routing: ready, or partially shipped after a partial cancellation
# cancelled the rest of a request (what is left and paid for is routed again).
ROUTABLE = (S.READY_FOR_FULFILLMENT, S.PARTIAL_FULFILLMENT)
# Routing exception codes (one open per order at a time).
ROUTING_FAILURES = ("no_location", "out_of_stock")


def order_match_facts(order: Order, lines=None) -> dict:
    """What routing rules filter on: SKUs, tags, ship-to countries and regions (upper-cased). `lines`: the order's
    lines when the caller already has them (a preview over many orders)."""
    skus = {ln.sku for ln in (lines if lines is not None else order.lines.all())}
    address = order.shipping_address or {}
    # Channels give names and/or codes ("United States" / "US", "California" / "CA"): a rule matches either.
    countries = {str(address.get(k) or "").upper() for k in ("country", "country_code")} - {""}
    regions = {str(address.get(k) or "").upper() for k in ("region", "state", "state_code", "province", "region_code")} - {""}
    return {"integration_id": order.integration_id, "skus": skus, "tags": set(order.tags or []), "countries": countries,
            "regions": regions}


def routing_rule_matches(rule: RoutingRule, facts: dict) -> bool:
    """Whether the rule's filters (integration, SKUs, tags, countries, regions; empty = any) accept the order."""
    if rule.integration_id and rule.integration_id != facts["integration_id"]:
        return False
    if rule.skus and not facts["skus"] & set(rule.skus):
        return False
    if rule.tags and not facts["tags"] & set(rule.tags):
        return False
    if rule.countries and not facts["countries"] & {c.upper() for c in rule.countries}:
        return False
    if rule.regions and not facts["regions"] & {r.upper() for r in rule.regions}:
        return False
    return True


def routing_rule_for(*, order: Order) -> RoutingRule | None:
    facts = order_match_facts(order)
    rules = RoutingRule.objects.filter(enabled=True).filter(Q(integration__isnull=True) | Q(integration=order.integration_id))
    for rule in rules.order_by("position", "name"):
        if routing_rule_matches(rule, facts):
            return rule
    return None


def _fulfillment_locations(location: Location) -> list[Location]:
    """A candidate reaches a fulfillment integration directly (it owns the location) or through links
    from a channel location to the fulfillment locations that feed it."""
    if not location.is_active:
        return []
    if location.integration is not None and location.integration.role == registry.FULFILLMENT:
        return [location]
    return [link.source for link in location.links_in.select_related("source__integration")
            if link.source.is_active and link.source.integration is not None
            and link.source.integration.role == registry.FULFILLMENT]


def _managed_routing(integration: Integration) -> bool:
    key = integration.spec.extra.get("managed_routing_setting") if integration.spec.extra else None
    return bool(key) and bool(integration.setting(key))


def _demand(order: Order, existing: dict[int, int]) -> list[tuple[OrderLine, int]]:
    """(line, units still to route) for each line."""
    out = []
    lines = list(order.lines.all())
    parents = _parent_ids(lines)
    for line in lines:
        if line.pk in parents:
            continue  # an ordered bundle line: its component lines are routed
        units = line.quantity - line.canceled_quantity - existing.get(line.pk, 0)
        if units > 0:
            out.append((line, units))
    return out


def _expand(line: OrderLine, units: int, location: Location | None, components: dict) -> list[tuple[int, str, int]]:
    """[(product_id, sku, quantity)] one line ships as at a location: components unless bundles are preserved."""
    if line.product is not None and line.product.kind == Product.Kind.BUNDLE and components.get(line.product_id) and not (
            location is not None and location.preserve_bundles):
        return [(cid, sku, qty * units) for cid, sku, qty in components[line.product_id]]
    return [(line.product_id, line.sku, units)]


def _max_units(line: OrderLine, location: Location, components: dict, avail: dict) -> int:
    parts = _expand(line, 1, location, components)
    return max(0, min(avail.get((location.pk, pid), 0) // qty for pid, _, qty in parts)) if parts else 0


@transaction.atomic
def order_route(*, order: Order, run=None, user=None, actor: str = "routing") -> list[ShippingRequest]:
    """Route what is left of a readyForFulfillment (or partially shipped) order into shipping requests, committing
    stock; decided on the order's locked row, not on the caller's copy. No
    rule, no location or no stock → routing exception and the order waits; nothing is sent anywhere."""
    order = Order.objects.select_for_update(of=("self",)).select_related("integration").get(pk=order.pk)
    if order.status not in ROUTABLE or order.cancel_requested_at:
        return []
    routed = _routed_units(order)
    demand = _demand(order, routed)
    if not demand:
        return []
    if any(line.product_id is None for line, _ in demand):
        return []
    if address_problems(order.shipping_address):
        # Checked here, where every path meets before anything is sent: channels may withhold the address
        # until their own hold ends (TikTok ON_HOLD), so an order cannot be judged at creation.
        order.review_reason = "bad_address"
        _save(order, "review_reason")
        _raise_bad_address(order)
        order_transition(order=order, to_status=S.REVIEW_REQUIRED, actor=actor, run=run, user=user,
                         message="incomplete shipping address")
        return []
    rule = routing_rule_for(order=order)
    candidates: list[Location] = []
    if rule is not None:
        for cand in rule.candidates.select_related("location__integration").order_by("rank", "id"):
            for loc in _fulfillment_locations(cand.location):
                if loc not in candidates:
                    candidates.append(loc)
    if not candidates:
        return _routing_failed(order, code="no_location", run=run,
                               message="no routing rule matches" if rule is None else f"rule {rule.name} has no usable location")
    components = _components_for([line for line, _ in demand])
    managed = next((loc for loc in candidates if _managed_routing(loc.integration)), None)
    if managed is not None and managed == candidates[0]:
        # The 3PL picks its own warehouse: the whole order goes there, stock is committed at the 3PL location.
        plan = {managed: [(line, units) for line, units in demand]}
        return _create_requests(order, plan, components, rule=rule, run=run, user=user, actor=actor, managed=True, check=False)
    if not rule.check_inventory:
        plan = {candidates[0]: list(demand)}
        return _create_requests(order, plan, components, rule=rule, run=run, user=user, actor=actor, check=False)
    product_ids = {pid for line, units in demand for loc in candidates for pid, _, _ in _expand(line, units, loc, components)}
    avail = inventory_selectors.available_by_location(product_ids=product_ids, location_ids=[c.pk for c in candidates])
    for loc in candidates:
        if all(_max_units(line, loc, components, avail) >= units for line, units in demand) and _fits(demand, loc, components, avail):
            return _create_requests(order, {loc: list(demand)}, components, rule=rule, run=run, user=user, actor=actor, check=True)
    if rule.allow_split:
        plan = _split_plan(demand, candidates, components, avail)
        if plan is not None:
            return _create_requests(order, plan, components, rule=rule, run=run, user=user, actor=actor, check=True)
    short = sorted({line.sku for line, _ in demand})
    return _routing_failed(order, code="out_of_stock", run=run, pending=True,
                           message=f"not enough stock for {', '.join(short)} at {', '.join(c.name for c in candidates)}")


def _routed_units(order: Order) -> dict[int, int]:
    """Units of each order line already taken care of: every unit on an active shipping request, and the units
    shipped on a finished or cancelled one (a request cancelled after a partial shipment shipped those).
    Bundle component lines count as bundle units: a bundle unit shipped when every component of it shipped."""
    rows: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for sr_id, status, line_id, units, quantity, shipped in ShippingRequestLine.objects.filter(
            shipping_request__order=order, order_line__isnull=False).values_list(
            "shipping_request_id", "shipping_request__status", "order_line_id", "units", "quantity", "shipped_quantity"):
        rows[(sr_id, line_id)].append((status, units or quantity, quantity, shipped))
    out: dict[int, int] = defaultdict(int)
    for (_, line_id), sr_lines in rows.items():
        status, units = sr_lines[0][0], sr_lines[0][1]
        if status in SR_ACTIVE:
            out[line_id] += units
        else:
            out[line_id] += min((shipped * units) // quantity if quantity else 0 for _, _, quantity, shipped in sr_lines)
    return out


def _fits(demand, loc, components, avail) -> bool:
    need: dict[int, int] = defaultdict(int)
    for line, units in demand:
        for pid, _, qty in _expand(line, units, loc, components):
            need[pid] += qty
    return all(avail.get((loc.pk, pid), 0) >= qty for pid, qty in need.items())


def _split_plan(demand, candidates, components, avail) -> dict | None:
    """Greedy by rank: each line takes as many units as the best-ranked location can give, the rest
    goes down the list. None if the candidates together cannot cover the order."""
    left = dict(avail)
    plan: dict[Location, list] = defaultdict(list)
    for line, units in demand:
        remaining = units
        for loc in candidates:
            if remaining == 0:
                break
            take = min(remaining, _max_units(line, loc, components, left))
            if take <= 0:
                continue
            for pid, _, qty in _expand(line, take, loc, components):
                left[(loc.pk, pid)] = left.get((loc.pk, pid), 0) - qty
            plan[loc].append((line, take))
            remaining -= take
        if remaining:
            return None
    return dict(plan)


def _components_for(lines: list[OrderLine]) -> dict[int, list[tuple[int, str, int]]]:
    bundle_ids = [ln.product_id for ln in lines if ln.product is not None and ln.product.kind == Product.Kind.BUNDLE]
    out: dict[int, list] = defaultdict(list)
    for bc in BundleComponent.objects.filter(bundle_id__in=bundle_ids).select_related("component"):
        out[bc.bundle_id].append((bc.component_id, bc.component.sku, bc.quantity))
    return dict(out)


def _create_requests(order: Order, plan: dict, components: dict, *, rule, run, user, actor: str, check: bool,
                     managed: bool = False) -> list[ShippingRequest]:
    try:
        return inventory_services.with_deadlock_retry(lambda: _create_requests_now(
            order, plan, components, rule=rule, run=run, user=user, actor=actor, check=check, managed=managed))
    except inventory_services.InsufficientInventory as exc:
        # Another worker committed the same stock between our read and our commit: wait like any shortage.
        return _routing_failed(order, code="out_of_stock", run=run, pending=True, message=str(exc))


def _create_requests_now(order: Order, plan: dict, components: dict, *, rule, run, user, actor: str, check: bool,
                         managed: bool = False) -> list[ShippingRequest]:
    created = []
    n = order.shipping_requests.count()
    # Lock every level this routing writes up front, in the global order (level id): no deadlock with other writers.
    inventory_services.inventory_levels_lock(pairs=[(loc.pk, pid) for loc, items in plan.items() for line, units in items
                                                    for pid, _, _ in _expand(line, units, loc, components)])
    for loc, items in plan.items():
        n += 1
        sr = ShippingRequest.objects.create(order=order, integration=loc.integration, location=loc, reference=f"SY-{order.pk}-{n}",
                                            status=SR.READY_FOR_FULFILLMENT, managed_routing=managed,
                                            shipping_method=order.shipping_method)
        lines = []
        for line, units in items:
            for pid, sku, qty in _expand(line, units, loc, components):
                lines.append(ShippingRequestLine(shipping_request=sr, order_line=line, product_id=pid, sku=sku, quantity=qty,
                                                 units=units))
        ShippingRequestLine.objects.bulk_create(lines)
        for sr_line in lines:
            inventory_services.inventory_commit(location=loc, product=Product(pk=sr_line.product_id, sku=sr_line.sku),
                                                quantity=sr_line.quantity, reference=sr.reference, run=run, allow_negative=not check)
        created.append(sr)
    order.routing_state, order.routing_next_at = RoutingState.ROUTED, None
    _save(order, "routing_state", "routing_next_at")
    exceptions_resolve(dedup_keys=routing_exception_keys(order), note="order routed")
    _event(order, "routed", f"rule {rule.name if rule else '—'} → " + ", ".join(f"{sr.reference} @ {sr.location}" for sr in created),
           actor, user=user, run=run)
    return created


def routing_exception_keys(order: Order) -> list[str]:
    return [f"order:{order.pk}:routing:{code}" for code in ROUTING_FAILURES]


def _routing_failed(order: Order, *, code: str, message: str, run=None, pending: bool = False) -> list:
    state = RoutingState.PENDING_INVENTORY if pending else RoutingState.FAILED
    order.routing_state = state
    order.routing_attempts += 1
    order.routing_next_at = timezone.now() + ROUTING_RETRY
    _save(order, "routing_state", "routing_attempts", "routing_next_at")
    # One routing exception per order: the cause it names now replaces one named before (no rule → no stock).
    exceptions_resolve(dedup_keys=[k for k in routing_exception_keys(order) if not k.endswith(f":{code}")],
                       note=f"routing now fails for another reason ({code})")
    exception_raise(category=OpsException.Category.ROUTING, code=code, integration=order.integration, entity=order,
                    cause_key=f"routing:{code}", dedup_key=f"order:{order.pk}:routing:{code}",
                    message=f"Order {order.external_id} could not be routed: {message}.")
    if order.routing_attempts == 1 or not OrderEvent.objects.filter(order=order, kind="routing_failed", message=message).exists():
        _event(order, "routing_failed", message, "routing", run=run)
    return []


def orders_recheck_pending(*, product_ids) -> int:
    """Stock arrived: try again the orders waiting for it."""
    ids = list(product_ids)
    orders = Order.objects.filter(status__in=ROUTABLE, routing_state=RoutingState.PENDING_INVENTORY).filter(
        Q(lines__product_id__in=ids) | Q(lines__product__components__component_id__in=ids)).distinct()
    return sum(1 for order in orders.order_by("created_at")[:200] if order_route(order=order, actor="stock arrived"))


def orders_retry_routing(*, now=None) -> int:
    """Scheduled: retry failed or pending routing whose retry time came."""
    now = now or timezone.now()
    orders = Order.objects.filter(status__in=ROUTABLE, routing_state__in=[RoutingState.FAILED, RoutingState.PENDING_INVENTORY],
                                  routing_next_at__lte=now).order_by("routing_next_at")[:200]
    return sum(1 for order in orders if order_route(order=order, actor="routing retry"))


def order_reroute(*, order: Order, user=None, restock: bool = True) -> list[ShippingRequest]:
    """Cancel the order's unsent shipping requests and route it again."""
    with transaction.atomic():
        order_lock(order)
        if order.status != S.READY_FOR_FULFILLMENT:
            raise OrderActionError(f"order {order.external_id} is {order.status}; only orders not sent can be re-routed")
        for sr in order.shipping_requests.filter(status__in=SR_UNSENT):
            shipping_request_cancel(shipping_request=sr, restock=restock, actor=_user_actor(user), user=user)
        order.routing_state = ""
        _save(order, "routing_state")
        return order_route(order=order, user=user, actor=_user_actor(user))
