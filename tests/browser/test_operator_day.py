"""The operator's day in a real browser (issue 15): open an order from the dashboard and read its story; fix a carrier
exception group from the exception (add the mapping, re-drive); run a flow and see its result on the integration page;
import a configuration keeping the target's own mappings. Screenshots go to artifacts/screenshots/. Skipped where
chromium is missing (tests/browser/conftest.py)."""
import pytest
from django.urls import reverse

from integrations import services
from integrations.models import FlowState, Integration, Mapping, OpsException
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


def test_fix_a_carrier_exception_group_by_adding_the_mapping(logged_in, site, shot, worker):
    page = logged_in
    demo_seed(traffic=False)
    uk = Integration.objects.get(name="TikTok UK")
    Mapping.objects.filter(integration=uk, kind="carrier", source="USPS").delete()
    for n in range(3):  # as the TikTok push_fulfillments flow raises them
        services.exception_raise(category="fulfillment", code="unsupported_carrier", integration=uk, cause_key="carrier:USPS",
                                 dedup_key=f"tiktok:{uk.pk}:fulfillment:{n}:unsupported_carrier", details={"flow": "push_fulfillments"},
                                 message=f"Carrier “USPS” of order 57600000000000010{n} is not a TikTok shipping provider for this "
                                         "delivery option; add a carrier mapping or turn on the fallback carrier.")
    page.goto(f"{site}{reverse('admin:integrations_opsexception_by_cause')}")
    group = page.locator(".xc-group[data-cause='carrier:USPS']")
    assert group.locator(".xc-count").inner_text() == "3"
    shot(page, "exceptions_by_cause")
    group.locator("a.xc-fix").click()
    page.wait_for_selector("input[name=target]")
    assert page.locator("input[name=source]").input_value() == "USPS"
    page.fill("input[name=target]", "Royal Mail")
    shot(page, "add_mapping")
    page.locator("input[name=_save]").click()
    page.wait_for_selector("#exception-groups")
    assert "Re-drive:" in page.content()
    assert Mapping.objects.get(integration=uk, kind="carrier", source="USPS").target == "Royal Mail"
    assert worker.queue_size() == 1  # the push_fulfillments run that resolves the group once TikTok accepts the carrier
    shot(page, "after_mapping")


def test_run_a_flow_and_see_its_result(logged_in, site, shot, worker):
    page = logged_in
    demo_seed(traffic=False)
    state = FlowState.objects.select_related("integration").get(integration__name="TikTok US", flow="pull_locations")
    page.goto(f"{site}{reverse('admin:integrations_integration_change', args=[state.integration_id])}")
    assert page.locator("#health-status").inner_text() in ("Working", "Not configured", "Failing")
    page.locator("tr", has=page.locator("button[value=run]")).filter(has_text="pull_locations").first.locator("button[value=run]").click()  # the flows table, not the health header
    page.wait_for_load_state()
    assert "Pull_locations: 1 flow run(s) queued." in page.content()  # the admin's message list applies capfirst
    assert worker.queue_size() == 1
    worker.purge_queue()
    run = services.flow_run(flow_state=state, trigger="admin")  # the worker
    page.reload()
    link = page.locator(f"a.flow-last-run[href$='/{run.pk}/change/']")
    assert link.inner_text().startswith(f"#{run.pk} {run.status}")
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
