"""Operations dashboard on the admin index: content and a query bound independent of data size."""
from datetime import timedelta

from django.utils import timezone

from integrations import dashboard
from integrations.models import FlowState, Integration, OpsException, SyncRun
from orders.models import Order, OrderStatus


def _data(n_integrations=2, n_orders=5, n_runs=5, start=0):
    now = timezone.now()
    for i in range(start, start + n_integrations):
        integ = Integration.objects.create(name=f"Shop {i}", connector="fake", role="channel", status="connected",
                                           auth_expires_at=now + timedelta(days=1))
        fs = FlowState.objects.create(integration=integ, flow="pull_orders", enabled=True, last_succeeded_at=now,
                                      consecutive_failures=i)
        for j in range(n_runs):
            SyncRun.objects.create(flow_state=fs, integration=integ, flow="pull_orders", trigger="schedule",
                                   status="failed" if j == 0 else "succeeded", started_at=now - timedelta(hours=j))
        SyncRun.objects.create(flow_state=fs, integration=integ, flow="pull_orders", trigger="admin", status="running", pages=3)
        for k in range(n_orders):
            Order.objects.create(integration=integ, external_id=f"{i}-{k}", status=OrderStatus.ON_HOLD if k % 2 else OrderStatus.NEW,
                                 hold_until=now - timedelta(minutes=1) if k % 2 else None)
        OpsException.objects.create(category="routing", code="no_location", integration=integ, dedup_key=f"x{i}", message="m")


def test_selectors_values(db):
    _data(n_integrations=1, n_orders=4, n_runs=3)
    status = dashboard.integrations_status()
    assert status[0]["status"] == "Connected" and status[0]["token_expiring"] is True
    assert status[0]["flows"][0]["failed_24h"] == 1
    summary = dashboard.orders_summary()
    assert summary["total"] == 4 and summary["held"]["total"] == 2 and summary["held"]["due"] == 2
    assert dashboard.exceptions_summary()[0]["count"] == 1
    chart = dashboard.charts()
    assert len(chart["labels"]) == 24 and sum(chart["orders"]) == 4 and sum(chart["runs_failed"]) == 1
    assert sum(chart["runs_ok"]) == 3  # 2 succeeded + 1 running
    assert [r.pages for r in dashboard.running_runs()] == [3]


def test_admin_index_renders_dashboard_and_app_list(admin_client):
    _data(n_integrations=1)
    resp = admin_client.get("/")
    html = resp.content.decode()
    assert resp.status_code == 200
    assert 'id="ops-dashboard"' in html and "Shop 0" in html and "Running now" in html
    assert "dashboard/dashboard.js" in html and 'id="ops-chart-data"' in html
    assert "app-integrations" in html or "Integrations" in html  # the app list is kept


def test_admin_index_query_count_is_bounded(admin_client, django_assert_max_num_queries):
    _data(n_integrations=1, n_orders=2, n_runs=2)
    with django_assert_max_num_queries(20) as small:
        admin_client.get("/")
    _data(n_integrations=6, n_orders=20, n_runs=10, start=1)
    # the same bound holds with many more integrations, runs and orders
    with django_assert_max_num_queries(len(small.captured_queries)):
        admin_client.get("/")


def test_estimated_counts_are_marked(db, monkeypatch):
    """Finished statuses from PostgreSQL's statistics carry `estimated`: the dashboard shows them as ≈ (and says why)."""
    from django.template.loader import render_to_string

    summary = {"by_status": [{"status": "delivered", "label": "Delivered", "count": 812345, "estimated": True},
                             {"status": "onHold", "label": "On hold", "count": 12, "estimated": False}],
               "total": 812357, "held": {"total": 12, "due": 0, "next_due": None}, "estimated": True}
    html = render_to_string("admin/dashboard/dashboard.html", {"orders_summary": summary})
    assert "(≈ 812357)" in html
    assert 'ops-num ops-estimated" title="estimated from the database statistics' in html and "≈ 812345</td>" in html
    assert ">12</td>" in html and "≈ 12<" not in html
    exact = render_to_string("admin/dashboard/dashboard.html", {"orders_summary": {**summary, "estimated": False, "by_status": summary["by_status"][1:]}})
    assert "≈" not in exact
