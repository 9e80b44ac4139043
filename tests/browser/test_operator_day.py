"""The operator's day in a real browser (issue 15): open an order from the dashboard and read its story; fix a carrier
exception group from the exception (add the mapping, re-drive); run a flow and see its result on the integration page;
import a configuration keeping the target's own mappings. Screenshots go to artifacts/screenshots/. Skipped where
chromium is missing (tests/browser/conftest.py)."""
import pytest
from django.urls import reverse

from integrations import services
from integrations.models import FlowState, Integration, Mapping, OpsException, SyncRun
from integrations.sandbox.demo import demo_seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(monkeypatch):
    """Work queued from the browser goes to the broker (as in production) and this test plays the worker: running it
    inside the live server's request would make the server call itself on the test's database connection."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def _an_order():
    from orders.interface import OrderIn, OrderLineIn
    from orders.models import Order
    from decimal import Decimal

    us = Integration.objects.get(name="TikTok US")
    from orders import services as order_services

    order_services.orders_upsert_from_channel(integration=us, orders_in=[OrderIn(
        external_id="576000000000000001", status="new", channel_status="AWAITING_SHIPMENT", currency="USD", total=Decimal("39.98"),
        shipping_address={"name": "Jo Doe", "address1": "1 Main St", "city": "Austin", "state": "TX", "postal_code": "78701",
                          "country_code": "US"},
        lines=(OrderLineIn(sku="TEE-BLK-M", quantity=2, unit_price=Decimal("19.99")),))])
    return Order.objects.get(integration=us, external_id="576000000000000001")


def test_open_an_order_from_the_dashboard_and_read_its_story(logged_in, site, shot):
    page = logged_in
    demo_seed(traffic=False)
    order = _an_order()
    page.goto(f"{site}/")
    page.wait_for_selector("#ops-orders")
    page.locator("#ops-orders a").first.click()  # orders of one status
    page.wait_for_selector("#result_list")
    page.goto(f"{site}{reverse('admin:orders_order_changelist')}?q={order.external_id}")
    page.locator("#result_list a", has_text=order.external_id).first.click()
    page.wait_for_selector("#order-summary")
    assert page.locator("#order-status").inner_text() == order.get_status_display()
    assert "1 Main St" in page.locator("#order-address").inner_text()
    assert page.locator("#order-timeline tr.op-event").count() >= 1
    assert "OrderEvent object" not in page.content()
    shot(page, "order_story")
    # correct the address from the page: a form with validation and a timeline entry
    if page.locator("#order-edit-address").count():
        page.locator("#order-edit-address").click()
        page.fill("input[name=address1]", "2 Side St")
        page.locator("input[type=submit][value=Save]").click()
        page.wait_for_selector("#order-summary")
        assert "2 Side St" in page.locator("#order-address").inner_text()
        assert "address" in page.locator("#order-timeline").inner_text()
        shot(page, "order_address_corrected")


def _demo_seeded(broker) -> None:
    """The demo without traffic, and none of the work its seeding queued: the initial stock levels ask each TikTok
    shop's inventory push to run (integrations/inventory_chain.py). The tests below count only what the browser queues."""
    demo_seed(traffic=False)
    broker.purge_queue()


def _play_worker(broker) -> int:
    """Run what the browser queued, as a qcluster worker would; the number of tasks run."""
    from django.utils.module_loading import import_string
    from django_q.signing import SignedPackage

    done = 0
    while broker.queue_size():
        for ack_id, package in broker.dequeue() or []:
            task = SignedPackage.loads(package)
            func = import_string(task["func"]) if isinstance(task["func"], str) else task["func"]
            func(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            done += 1
    return done


def _uk_order_shipped_with_usps():
    """A TikTok UK order pulled from the sandbox, routed, sent and shipped by the 3PL with carrier USPS (no TikTok UK
    shipping provider), then push_fulfillments run: the real unsupported-carrier exception."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.sandbox import services as emu
    from integrations.sandbox.models import EmuShop, EmuSku
    from orders import services as order_services
    from orders.interface import FulfillmentIn, QuantityLineIn
    from orders.models import HoldRule, Order

    Integration.objects.update(created_at=timezone.now() - timedelta(hours=1))
    EmuShop.objects.update(webhooks_enabled=False, pay_after_seconds=0, remorse_seconds=0)
    HoldRule.objects.update(enabled=False)
    shop = EmuShop.objects.get(name="Sandbox Shop UK")
    remote = emu.order_create(shop=shop, items=[(EmuSku.objects.get(product__shop=shop, seller_sku="TEE-BLK-M"), 1)],
                              at=emu.now_ts() - 120)
    uk = Integration.objects.get(name="TikTok UK")
    services.flow_run(flow_state=uk.flow_states.get(flow="pull_orders"), trigger="command")
    order = Order.objects.get(integration=uk, external_id=remote.order_id)
    request = order.shipping_requests.get()
    order_services.shipping_request_mark_sent(shipping_request=request, external_id="3PL-1")
    order_services.fulfillment_record(integration=request.integration, shipping_request=request, fulfillment=FulfillmentIn(
        external_id="3PL-1-F1", carrier="USPS", tracking_numbers=("RM123456789GB",),
        lines=(QuantityLineIn(sku="TEE-BLK-M", quantity=1),)))
    services.flow_run(flow_state=uk.flow_states.get(flow="push_fulfillments"), trigger="command")
    return uk, remote


def test_fix_a_carrier_exception_group_by_adding_the_mapping(logged_in, site, shot, worker):
    page = logged_in
    _demo_seeded(worker)
    Mapping.objects.filter(kind="carrier", source="USPS").delete()
    uk, remote = _uk_order_shipped_with_usps()
    exc = OpsException.objects.get(integration=uk, code="unsupported_carrier", status=OpsException.Status.OPEN)
    assert exc.cause_key == "carrier:USPS"
    page.goto(f"{site}{reverse('admin:integrations_opsexception_by_cause')}")
    group = page.locator(".xc-group[data-cause='carrier:USPS']")
    assert group.locator(".xc-count").inner_text() == "1"
    shot(page, "exceptions_by_cause")
    group.locator("a.xc-fix").click()
    page.wait_for_selector("input[name=target]")
    assert page.locator("input[name=source]").input_value() == "USPS"
    # TikTok UK's shipping providers, remembered when push_fulfillments read them, are suggested
    assert page.locator("#target-choices option[value='Royal Mail']").count() == 1
    page.fill("input[name=target]", "Royal Mail")
    shot(page, "add_mapping")
    page.locator("input[name=_save]").click()
    page.wait_for_selector("#exception-groups")
    assert "Re-drive:" in page.content()
    assert Mapping.objects.get(integration=uk, kind="carrier", source="USPS").target == "Royal Mail"
    # the worker runs the re-driven push_fulfillments: TikTok accepts Royal Mail and the exception resolves
    assert _play_worker(worker) == 1
    exc.refresh_from_db()
    assert exc.status == OpsException.Status.RESOLVED
    remote.refresh_from_db()
    assert remote.packages.get().shipping_provider_id == "6617675021119438901"  # Royal Mail
    page.reload()
    assert page.locator(".xc-group[data-cause='carrier:USPS']").count() == 0
    shot(page, "after_mapping")


def test_run_a_flow_and_see_its_result(logged_in, site, shot, worker):
    page = logged_in
    _demo_seeded(worker)
    state = FlowState.objects.select_related("integration").get(integration__name="TikTok US", flow="pull_locations")
    page.goto(f"{site}{reverse('admin:integrations_integration_change', args=[state.integration_id])}")
    assert page.locator("#health-status").inner_text() in ("Working", "Not configured", "Failing")
    page.locator("tr", has=page.locator("button[value=run]")).filter(has_text="pull_locations").first.locator("button[value=run]").click()  # the flows table, not the health header
    page.wait_for_load_state()
    assert "Pull_locations: 1 flow run(s) queued." in page.content()  # the admin's message list applies capfirst
    cell = page.locator(f".flow-last-run-cell[data-flow-state='{state.pk}']")
    assert "a new run is queued, waiting for a worker" in cell.inner_text()
    shot(page, "flow_queued")
    assert worker.queue_size() == 1
    assert _play_worker(worker) == 1
    run = SyncRun.objects.filter(flow_state=state).latest("pk")
    # the row follows the run by itself (flow_progress.js polls every 3 s): no reload
    link = page.locator(f"a.flow-last-run[href$='/{run.pk}/change/']")
    link.wait_for(timeout=15000)
    assert link.inner_text().startswith(f"#{run.pk} {run.status}")
    assert "queued" not in cell.inner_text()
    shot(page, "flow_result")
    link.click()
    page.wait_for_load_state()
    assert run.status.capitalize()[:5] in page.content()
    shot(page, "run_page")


def test_import_a_configuration_keeping_target_only_mappings(logged_in, site, shot, tmp_path):
    from integrations import configuration

    page = logged_in
    demo_seed(traffic=False)
    us, uk = Integration.objects.get(name="TikTok US"), Integration.objects.get(name="TikTok UK")
    own = set(Mapping.objects.filter(integration=uk).exclude(
        source__in=Mapping.objects.filter(integration=us).values("source")).values_list("kind", "source"))
    if not own:
        Mapping.objects.create(integration=uk, kind="carrier", source="Parcelforce", target="PF")
        own = {("carrier", "Parcelforce")}
    path = tmp_path / "us.json"
    path.write_bytes(configuration.configuration_export(integration=us))
    page.goto(f"{site}{reverse('admin:integrations_integration_configuration_import')}?target={uk.pk}")
    page.set_input_files("input[type=file]", str(path))
    page.locator("input[value='Preview the difference']").click()
    page.wait_for_selector("#mapping-removals")
    assert page.locator("#mode-merge").is_checked()
    shot(page, "import_removals")
    page.locator("input[value='Confirm import']").click()
    page.wait_for_load_state()
    kept = set(Mapping.objects.filter(integration=uk).values_list("kind", "source"))
    assert own <= kept
    shot(page, "imported_merged")


def _preview(page) -> str:
    page.evaluate("document.getElementById('rule-preview').textContent = ''")
    page.locator("#rule-preview-button").click()
    page.wait_for_function("document.getElementById('rule-preview').textContent.startsWith('This rule would have matched')")
    return page.locator("#rule-preview").inner_text()


def test_preview_a_routing_rule_with_unsaved_countries(logged_in, site, shot):
    from orders.models import Order, RoutingRule

    page = logged_in
    demo_seed(traffic=False)
    _an_order()  # shipped to the US
    orders = Order.objects.count()
    rule = RoutingRule.objects.filter(integration__isnull=True, skus=[], tags=[]).order_by("position").first()  # "everything else → OSA"
    saved = (rule.countries, rule.skus)
    page.goto(f"{site}{reverse('admin:orders_routingrule_change', args=[rule.pk])}")
    page.select_option("#id_countries_from", "GB")
    page.locator("#id_countries_add").click()
    uk_only = _preview(page)
    assert f"of the last {orders} orders" in uk_only
    page.select_option("#id_countries_from", "US")
    page.locator("#id_countries_add").click()
    both = _preview(page)
    assert int(both.split()[5]) >= int(uk_only.split()[5]) + 1  # "This rule would have matched N of ..."
    shot(page, "rule_preview")
    rule.refresh_from_db()
    assert (rule.countries, rule.skus) == saved  # nothing saved
