"""integrations/admin_rows.py: changelist rows byte-for-byte Django's, on the orders list, the exception queue and the
run log, including awkward values (markup in text, empty and NULL values, choices, a filtered list's links)."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import results
from django.test import RequestFactory
from django.urls import resolve, reverse
from django.utils import timezone

from integrations import services
from integrations.admin_rows import fast_result_rows
from integrations.models import OpsException, SyncRun
from orders.models import Order

pytestmark = pytest.mark.django_db


def _rows_both_ways(model, admin_user, query=""):
    path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    request = RequestFactory().get(path + query)
    request.user, request.resolver_match = admin_user, resolve(path)  # as the admin sees it: filters preserved
    cl = admin.site._registry[model].get_changelist_instance(request)
    cl.formset = None
    return ["".join(row) for row in results(cl)], ["".join(row) for row in fast_result_rows(cl)]


@pytest.fixture
def awkward_orders(fake_integration):
    now = timezone.now()
    Order.objects.create(integration=fake_integration, external_id='<b>"O&1"</b>', status="onHold", total=Decimal("1234.5"),
                         hold_until=now + timedelta(hours=3), ordered_at=now - timedelta(days=2), buyer_email="a@b.c")
    Order.objects.create(integration=fake_integration, external_id="O-2", status="delivered", routing_state="routed",
                         currency="  ", total=Decimal("0"), ordered_at=None)
    Order.objects.create(integration=fake_integration, external_id="O-3", status="reviewRequired", routing_state="failed")


@pytest.mark.parametrize("query", ["", "?status__exact=onHold&o=2", "?q=O-2"])
def test_order_rows_are_djangos(admin_user, awkward_orders, query):
    django_rows, fast_rows = _rows_both_ways(Order, admin_user, query)
    assert fast_rows == django_rows and django_rows
    assert '&lt;b&gt;&quot;O&amp;1&quot;&lt;/b&gt;' in "".join(django_rows) or query


def test_order_row_links_keep_the_filters(admin_user, awkward_orders):
    fast_rows = _rows_both_ways(Order, admin_user, "?status__exact=onHold")[1]
    order = Order.objects.get(status="onHold")
    url = reverse("admin:orders_order_change", args=[order.pk])
    assert f'<th class="field-external_id"><a href="{url}?_changelist_filters=status__exact%3DonHold">' in fast_rows[0]
    assert f'name="_selected_action" value="{order.pk}" class="action-select"' in fast_rows[0]


def test_exception_queue_rows_are_djangos(admin_user, fake_integration):
    for i, carrier in enumerate(("USPS", "D<H>L")):
        services.exception_raise(category="fulfillment", code="unsupported_carrier", integration=fake_integration,
                                 cause_key=f"carrier:{carrier}", dedup_key=f"x:{i}", entity=fake_integration,
                                 message=f"Carrier “{carrier}” is not a TikTok shipping provider.")
    services.exception_raise(category="connector", code="never_heard_of", integration=None, cause_key="", dedup_key="y",
                             message="no entity")
    django_rows, fast_rows = _rows_both_ways(OpsException, admin_user, "?status__exact=open")
    assert fast_rows == django_rows and len(django_rows) == 3


def test_run_log_rows_are_djangos(admin_user, fake_state):
    start = timezone.now() - timedelta(minutes=5)
    SyncRun.objects.create(flow_state=fake_state, integration=fake_state.integration, flow=fake_state.flow, trigger="schedule",
                           status="failed", started_at=start, finished_at=start + timedelta(seconds=3),
                           error_class="E<1>", error_message="boom & bust\nTraceback")
    SyncRun.objects.create(flow_state=fake_state, integration=fake_state.integration, flow=fake_state.flow, trigger="manual",
                           status="running", started_at=start, fetched=3, created=1, pages=2)
    django_rows, fast_rows = _rows_both_ways(SyncRun, admin_user)
    assert fast_rows == django_rows and len(django_rows) == 2


def test_editable_lists_fall_back_to_django(admin_client, fake_integration):
    response = admin_client.get(reverse("admin:orders_holdrule_changelist"))  # list_editable: Django's own tag
    assert response.status_code == 200
