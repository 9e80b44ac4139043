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
    earlier = SyncRun.objects.create(flow_state=fake_state, integration=fake_integration, flow=fake_state.flow, trigger="schedule",
                                     status="succeeded", finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url)
    # the page follows this flow until a run newer than the one shown when Run now was pressed has finished
    assert response["Location"] == reverse("admin:integrations_integration_change", args=[fake_integration.pk]) + \
        f"?follow={fake_state.pk}&after={earlier.pk}#flows"
    page = admin_client.get(response["Location"])
    text = " ".join(str(m) for m in page.context["messages"])
    assert "pull_things: 1 flow run(s) queued." in text and "flow__exact=pull_things" in text
    assert "updated until it finishes" in text
    run = SyncRun.objects.exclude(pk=earlier.pk).get(flow_state=fake_state)
    body = page.content.decode()
    assert reverse("admin:integrations_syncrun_change", args=[run.pk]) in body
    assert f'data-flow-state="{fake_state.pk}" data-run="{run.pk}"' in body
    assert "integrations/flow_progress.js" in body
    assert f'data-progress-url="{reverse("admin:integrations_integration_flow_progress", args=[fake_integration.pk])}"' in body


def test_flow_progress_json_gives_each_flows_latest_run(admin_client, fake_integration, fake_state, django_assert_max_num_queries):
    url = reverse("admin:integrations_integration_flow_progress", args=[fake_integration.pk])
    assert admin_client.get(url).json() == {"flows": [{"id": fake_state.pk, "flow": "pull_things", "run": None}]}
    SyncRun.objects.create(flow_state=fake_state, integration=fake_integration, flow=fake_state.flow, trigger="admin",
                           status="failed", error_message="boom\ntrace", finished_at=timezone.now())
    running = SyncRun.objects.create(flow_state=fake_state, integration=fake_integration, flow=fake_state.flow, trigger="admin",
                                     status="running", pages=2, fetched=150)
    SyncRun.objects.create(flow_state=fake_state, integration=fake_integration, flow=fake_state.flow, trigger="webhook",
                           status="skipped")
    with django_assert_max_num_queries(6):
        [flow] = admin_client.get(url).json()["flows"]
    run = flow["run"]
    assert (run["id"], run["status"], run["detail"], run["error"]) == (running.pk, "running", "page 2, 150 fetched so far", "")
    assert run["url"] == reverse("admin:integrations_syncrun_change", args=[running.pk])
    SyncRun.objects.filter(pk=running.pk).update(status="failed", error_message="boom\ntrace", finished_at=running.started_at + timedelta(seconds=3))
    run = admin_client.get(url).json()["flows"][0]["run"]
    assert (run["status"], run["detail"], run["error"]) == ("failed", "3.0 s", "boom")


def test_flow_progress_needs_view_permission(client, django_user_model, fake_integration):
    from django.contrib.auth.models import Permission

    url = reverse("admin:integrations_integration_flow_progress", args=[fake_integration.pk])
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_integration"))
    client.force_login(django_user_model.objects.get(pk=staff.pk))
    assert client.get(url).status_code == 200


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
