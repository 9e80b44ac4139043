"""The integration page: a health header computed from the connection and the latest runs, settings in collapsible
sections with changed-from-default marked, a flows table with human dates and the last run linked, bounded queries."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations import selectors, services
from integrations.admin import human_time
from integrations.models import FlowState, Integration, SyncRun

pytestmark = pytest.mark.django_db


def _page(client, integration):
    return client.get(reverse("admin:integrations_integration_change", args=[integration.pk]))


def test_status_is_computed_from_runs_not_the_stored_field(fake_integration, fake_state):
    assert fake_integration.status == "not_configured"
    assert selectors.integration_health(integration=fake_integration)["status"] == "not_configured"
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, last_succeeded_at=timezone.now())
    health = selectors.integration_health(integration=fake_integration)
    assert (health["status"], health["status_label"]) == ("ok", "Working")
    FlowState.objects.filter(pk=fake_state.pk).update(consecutive_failures=2)
    assert selectors.integration_health(integration=fake_integration)["status_label"] == "Failing"
    Integration.objects.filter(pk=fake_integration.pk).update(paused_reason="Re-authorize")
    fake_integration.refresh_from_db()
    assert selectors.integration_health(integration=fake_integration)["status"] == "paused"


def test_header_shows_status_and_last_run_linked(admin_client, fake_integration, fake_state, django_assert_max_num_queries):
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, cursor={"updated_after": 1764600000})
    run = SyncRun.objects.create(flow_state=fake_state, integration=fake_integration, flow=fake_state.flow, trigger="schedule",
                                 status="succeeded", finished_at=timezone.now() + timedelta(seconds=3))
    FlowState.objects.filter(pk=fake_state.pk).update(last_succeeded_at=timezone.now())
    with django_assert_max_num_queries(30):
        response = _page(admin_client, fake_integration)
    body = response.content.decode()
    assert 'id="health-status">Working<' in body
    assert reverse("admin:integrations_syncrun_change", args=[run.pk]) in body
    assert human_time(1764600000) in body and "1764600000" not in body
    assert 'class="collapse' in body or "<details" in body


def test_changed_settings_are_marked_and_counted(admin_client, fake_integration):
    services.integration_update_settings(integration=fake_integration, values={"note": "hello", "pull_things": True})
    body = _page(admin_client, fake_integration).content.decode()
    assert "General — 1 changed from default" in body
    assert "● Changed from the default (blank)." in body


def test_disabled_flow_shows_no_next_run(admin_client, fake_integration, fake_state):
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=False, next_run_at=timezone.now() - timedelta(hours=3))
    body = _page(admin_client, fake_integration).content.decode()
    assert "— (off)" in body


def test_run_now_says_where_to_follow_the_run(admin_client, fake_integration, fake_state, django_capture_on_commit_callbacks):
    url = reverse("admin:integrations_integration_flow_action", args=[fake_integration.pk, fake_state.pk, "run"])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url)
    assert response["Location"].endswith("#flows")
    page = admin_client.get(response["Location"])
    text = " ".join(str(m) for m in page.context["messages"])
    assert "pull_things: 1 flow run(s) queued." in text and "flow__exact=pull_things" in text
    run = SyncRun.objects.get(flow_state=fake_state)
    assert reverse("admin:integrations_syncrun_change", args=[run.pk]) in page.content.decode()


def test_changelist_status_is_computed(admin_client, fake_integration, fake_state, django_assert_max_num_queries):
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, last_succeeded_at=timezone.now())
    with django_assert_max_num_queries(12):
        body = admin_client.get(reverse("admin:integrations_integration_changelist")).content.decode()
    assert 'class="health-ok"' in body and "Working" in body


@pytest.mark.parametrize(("value", "text"), [(1764600000, None), ("2026-12-01T15:00:00Z", None), ("abc", "abc"), (42, "42")])
def test_human_time(value, text):
    out = human_time(value)
    if text is None:
        assert len(out) == 19 and out[4] == "-" and out[13] == ":"
    else:
        assert out == text
