"""The run log: seconds in times, durations, outcome filters, readable errors, delete for superusers only, bounded queries."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from integrations.admin import duration_text
from integrations.models import SyncRun

pytestmark = pytest.mark.django_db


def _run(state, status="succeeded", seconds=12.5, **kw):
    start = timezone.now() - timedelta(minutes=5)
    return SyncRun.objects.create(flow_state=state, integration=state.integration, flow=state.flow, trigger="schedule",
                                  status=status, started_at=start, finished_at=start + timedelta(seconds=seconds), **kw)


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (0.42, "0.4 s"), (59.94, "59.9 s"), (245, "4 min 05 s"), (7380, "2 h 03 min")])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_run_log_shows_seconds_duration_and_readable_error(admin_client, fake_state, django_assert_num_queries):
    for _ in range(40):
        _run(fake_state, fetched=3, created=1)
    bad = _run(fake_state, "failed", seconds=3, error_class="TransientError", error_message="503 Service Unavailable\nTraceback ...")
    with django_assert_num_queries(8):  # pinned: session, user, filters, date hierarchy, count, rows; none per row
        response = admin_client.get(reverse("admin:integrations_syncrun_changelist"))
    body = response.content.decode()
    assert timezone.localtime(bad.started_at).strftime("%Y-%m-%d %H:%M:%S") in body
    assert "12.5 s" in body and "3.0 s" in body
    assert "<strong>TransientError</strong>: 503 Service Unavailable" in body and "Traceback" not in body
    assert "3 fetched, 1 new" in body


@pytest.mark.parametrize(("outcome", "expected"), [("problems", {"failed", "partial"}), ("changed", {"changed"}),
                                                   ("quiet", {"quiet"}), ("skipped", {"skipped"}), ("folded", {"folded"})])
def test_outcome_filter(admin_client, fake_state, outcome, expected):
    runs = {"failed": _run(fake_state, "failed"), "partial": _run(fake_state, "partial", failed=1),
            "changed": _run(fake_state, updated=2), "quiet": _run(fake_state, unchanged=5),
            "skipped": _run(fake_state, "skipped"), "folded": _run(fake_state, coalesced=3, created=1)}
    if outcome == "changed":
        expected = {"changed", "folded"}
    response = admin_client.get(reverse("admin:integrations_syncrun_changelist"), {"outcome": outcome})
    shown = {r.pk for r in response.context["cl"].result_list}
    assert shown == {runs[name].pk for name in expected}


def test_run_page_is_read_only_with_the_full_error(admin_client, fake_state):
    run = _run(fake_state, "failed", error_class="PermanentError", error_message="400 bad request: field x",
               errors=[{"external_id": "A1", "field": "sku", "message": "unknown"}])
    body = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk])).content.decode()
    assert "400 bad request: field x" in body and "A1" in body and "unknown" in body
    assert 'name="_save"' not in body


def test_only_superusers_delete_runs(client, admin_client, django_user_model, fake_state):
    run = _run(fake_state)
    staff = django_user_model.objects.create_user("s", password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_syncrun", "delete_syncrun"]))
    client.force_login(staff)
    assert client.get(reverse("admin:integrations_syncrun_delete", args=[run.pk])).status_code == 403
    assert client.get(reverse("admin:integrations_syncrun_changelist")).context["action_form"] is None  # no "Delete selected"
    assert admin_client.get(reverse("admin:integrations_syncrun_delete", args=[run.pk])).status_code == 200
