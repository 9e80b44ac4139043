import logging
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from integrations import registry, services
from integrations.models import ExternalRef, FlowState, Integration, OpsException, SettingsChange, SyncRun
from tests.integrations.fake_connector import REMOTE

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-value"


def _change_url(integration):
    return reverse("admin:integrations_integration_change", args=[integration.pk])


def _post_data(integration, **overrides):
    data = {
        "name": integration.name, "is_active": "on",
        "setting__pull_things": "on", "setting__note": "", "setting__statuses": ["a"], "setting__since": "",
        "setting__skus": "",
        "credential__api_key": "", "credential__api_secret": "",
        "flow_states-TOTAL_FORMS": "0", "flow_states-INITIAL_FORMS": "0",
        "flow_states-MIN_NUM_FORMS": "0", "flow_states-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def _connector_integration(code):
    spec = registry.get_connector(code)
    integration = Integration.objects.create(name=f"{code} shop", connector=code, role=spec.role,
                                             environment=spec.environments[0][0] if spec.environments else "")
    services.flow_states_ensure(integration=integration)
    return integration


@pytest.mark.parametrize("code", sorted(registry.CONNECTORS) + ["fake"])
def test_change_page_renders_every_declared_setting_label_and_section(admin_client, code):
    # given
    integration = _connector_integration(code)
    spec = registry.get_connector(code)
    # when
    response = admin_client.get(_change_url(integration))
    # then
    assert response.status_code == 200
    html = response.content.decode()
    for setting in spec.settings:
        label = setting.label.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#x27;").replace("<", "&lt;").replace(">", "&gt;")
        assert label in html, f"{code}: setting label {setting.label!r} missing"
    for section in spec.section_names():
        if any(s.section == section for s in spec.settings):
            section_html = section.replace("&", "&amp;").replace("'", "&#x27;")
            assert section_html in html, f"{code}: section {section!r} missing"
    for cred in spec.credentials:
        assert f'name="credential__{cred.key}"' in html
    for label, url_name in spec.extra.get("admin_links", ()):
        assert f'<a class="button" href="{reverse(url_name, args=[integration.pk])}">{label}</a>' in html


def test_change_page_shows_stored_values_defaults_and_never_the_secret(admin_client, fake_integration):
    # given
    services.integration_update_settings(integration=fake_integration, values={"note": "hello"})
    # when
    html = admin_client.get(_change_url(fake_integration)).content.decode()
    # then
    assert 'value="hello"' in html
    assert "Currently: set." in html
    assert SECRET not in html and "k-123" not in html
    assert fake_integration.credentials_encrypted not in html
    assert 'type="password"' in html


def test_admin_save_updates_settings_and_credentials_and_records_history(admin_client, admin_user, fake_integration, caplog):
    # given
    caplog.set_level(logging.DEBUG)
    url = _change_url(fake_integration)
    # when
    response = admin_client.post(url, _post_data(fake_integration, **{
        "setting__note": "new note", "setting__statuses": ["a", "b"], "setting__skus": "A-1\nB-2",
        "credential__api_secret": "brand-new-secret"}))
    # then
    assert response.status_code == 302
    fake_integration.refresh_from_db()
    assert fake_integration.settings["note"] == "new note"
    assert fake_integration.settings["statuses"] == ["a", "b"]
    assert fake_integration.settings["skus"] == ["A-1", "B-2"]
    assert fake_integration.get_credentials() == {"api_key": "k-123", "api_secret": "brand-new-secret"}
    changes = list(SettingsChange.objects.filter(integration=fake_integration).order_by("at", "pk"))
    assert [c.summary for c in changes] == ["3 setting(s) changed", "credentials changed"]
    assert all(c.user == admin_user for c in changes)
    assert "brand-new-secret" not in str([c.diff for c in changes])
    assert "brand-new-secret" not in caplog.text and SECRET not in caplog.text
    html = admin_client.get(reverse("admin:integrations_integration_history_settings", args=[fake_integration.pk])).content.decode()
    assert "new note" in html and "credentials changed" in html and "brand-new-secret" not in html


def test_blank_credential_keeps_the_stored_value(admin_client, fake_integration):
    before = fake_integration.credentials_encrypted
    response = admin_client.post(_change_url(fake_integration), _post_data(fake_integration))
    assert response.status_code == 302
    fake_integration.refresh_from_db()
    assert fake_integration.credentials_encrypted == before
    assert not SettingsChange.objects.filter(integration=fake_integration, summary="credentials changed").exists()


@pytest.mark.parametrize("field,value,message", [
    ("setting__note", "x" * 21, "Ensure this value has at most 20 characters"),
    ("setting__statuses", ["zzz"], "Select a valid choice"),
    ("setting__since", "not a date", "Enter a valid date/time"),
])
def test_invalid_settings_show_errors_and_change_nothing(admin_client, fake_integration, field, value, message):
    # given
    before_settings, before_creds = dict(fake_integration.settings), fake_integration.credentials_encrypted
    # when
    response = admin_client.post(_change_url(fake_integration), _post_data(
        fake_integration, **{field: value, "credential__api_secret": "should-not-be-saved", "name": "Renamed"}))
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert "should-not-be-saved" not in html
    fake_integration.refresh_from_db()
    assert fake_integration.settings == before_settings
    assert fake_integration.credentials_encrypted == before_creds
    assert fake_integration.name == "Fake A"
    assert SettingsChange.objects.count() == 0


def test_add_view_creates_integration_with_flow_states_and_redirects_to_settings(admin_client):
    response = admin_client.post(reverse("admin:integrations_integration_add"),
                                 {"name": "Fake B", "connector": "fake", "environment": ""})
    integration = Integration.objects.get(name="Fake B")
    assert response.status_code == 302 and response["Location"] == _change_url(integration)
    assert integration.role == "channel"
    assert list(integration.flow_states.values_list("flow", "enabled")) == [("pull_things", True)]


def test_add_view_refuses_environment_the_connector_lacks(admin_client):
    response = admin_client.post(reverse("admin:integrations_integration_add"),
                                 {"name": "Fake B", "connector": "fake", "environment": "nope"})
    assert response.status_code == 200
    assert not Integration.objects.filter(name="Fake B").exists()


def test_admin_links_from_spec_extra_render_as_buttons(admin_client, fake_integration):
    # given: a connector declaring an admin link (what TikTok does for "Connect to TikTok")
    spec = registry.get_connector("fake")
    registry.register(registry.ConnectorSpec(**{**spec.__dict__, "extra": {
        "admin_links": [("Connect to Fake", "admin:integrations_integration_history_settings")]}}))
    try:
        html = admin_client.get(_change_url(fake_integration)).content.decode()
    finally:
        registry.register(spec)
    expected = reverse("admin:integrations_integration_history_settings", args=[fake_integration.pk])
    assert f'<a class="button" href="{expected}">Connect to Fake</a>' in html


def _staff(django_user_model, *perms):
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def test_reset_cursor_action_needs_confirmation_then_records_change(admin_client, admin_user, fake_state):
    # given
    FlowState.objects.filter(pk=fake_state.pk).update(cursor={"page": 3})
    url = reverse("admin:integrations_integration_changelist")
    data = {"action": "action_reset_cursor", "_selected_action": [fake_state.integration_id]}
    # when: first post shows the confirmation page and changes nothing
    response = admin_client.post(url, data)
    # then
    assert response.status_code == 200 and b"Reset cursor: are you sure?" in response.content
    fake_state.refresh_from_db()
    assert fake_state.cursor == {"page": 3}
    # when confirmed
    response = admin_client.post(url, {**data, "confirmed": "yes"})
    assert response.status_code == 302
    fake_state.refresh_from_db()
    assert fake_state.cursor == {}
    change = SettingsChange.objects.get(integration=fake_state.integration)
    assert change.user == admin_user and change.diff == {"cursor": {"pull_things": [{"page": 3}, {}]}}


def test_force_resync_per_flow_state_view_confirms_and_flags_the_flow(admin_client, fake_state):
    url = reverse("admin:integrations_integration_flow_action", args=[fake_state.integration_id, fake_state.pk, "force_resync"])
    assert b"Force resync: are you sure?" in admin_client.get(url).content
    fake_state.refresh_from_db()
    assert fake_state.force_full is False
    response = admin_client.post(url, {"confirmed": "yes"})
    assert response.status_code == 302
    fake_state.refresh_from_db()
    assert fake_state.force_full is True
    assert SettingsChange.objects.get().diff == {"force_resync": "pull_things"}


def test_run_now_per_flow_state_runs_the_flow_and_records_a_run(admin_client, admin_user, fake_state, django_capture_on_commit_callbacks):
    # given: the test broker runs tasks inline (Q_CLUSTER sync)
    REMOTE["pages"] = [[{"id": "a", "value": "1"}]]
    url = reverse("admin:integrations_integration_flow_action", args=[fake_state.integration_id, fake_state.pk, "run"])
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url)
    # then
    assert response.status_code == 302
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.created, run.triggered_by) == ("admin", "succeeded", 1, admin_user)


def test_flow_state_admin_actions_require_run_flow_permission(client, django_user_model, fake_state):
    # given: a staff user who may view and change flow states but not run flows
    user = _staff(django_user_model, "integrations.view_flowstate", "integrations.change_flowstate")
    client.force_login(user)
    FlowState.objects.filter(pk=fake_state.pk).update(cursor={"page": 2})
    url = reverse("admin:integrations_flowstate_changelist")
    # when
    response = client.post(url, {"action": "action_reset_cursor", "_selected_action": [fake_state.pk], "confirmed": "yes"})
    # then: the action is not offered, nothing changed
    fake_state.refresh_from_db()
    assert fake_state.cursor == {"page": 2}
    assert SettingsChange.objects.count() == 0
    flow_url = reverse("admin:integrations_integration_flow_action", args=[fake_state.integration_id, fake_state.pk, "reset_cursor"])
    assert client.post(flow_url, {"confirmed": "yes"}).status_code == 403
    # when granted the permission, the same action works
    user.user_permissions.add(Permission.objects.get(codename="run_flow"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    response = client.post(url, {"action": "action_reset_cursor", "_selected_action": [fake_state.pk], "confirmed": "yes"})
    assert response.status_code == 302
    fake_state.refresh_from_db()
    assert fake_state.cursor == {}


def test_test_connection_action_reports_no_tester(admin_client, fake_integration):
    response = admin_client.post(reverse("admin:integrations_integration_changelist"),
                                 {"action": "action_test_connection", "_selected_action": [fake_integration.pk]}, follow=True)
    assert "Fake remote has no connection test." in response.content.decode()


def test_exception_resolve_and_dismiss_actions(admin_client, admin_user, fake_integration):
    first = services.exception_raise(category="connector", code="x", message="m1", dedup_key="k1", integration=fake_integration)
    second = services.exception_raise(category="connector", code="x", message="m2", dedup_key="k2", integration=fake_integration)
    url = reverse("admin:integrations_opsexception_changelist")
    admin_client.post(url, {"action": "action_resolve", "_selected_action": [first.pk]})
    admin_client.post(url, {"action": "action_dismiss", "_selected_action": [second.pk]})
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, first.resolved_by) == ("resolved", admin_user)
    assert (second.status, second.resolved_by) == ("dismissed", admin_user)


def test_redrive_action_never_crashes(admin_client, fake_integration):
    exc = services.exception_raise(category="ingestion", code="unknown_sku", message="m", dedup_key="k", integration=fake_integration)
    response = admin_client.post(reverse("admin:integrations_opsexception_changelist"),
                                 {"action": "action_redrive", "_selected_action": [exc.pk]}, follow=True)
    assert response.status_code == 200
    assert "Re-drive" in response.content.decode()


def _many_rows(integration, n=60):
    state = integration.flow_states.get()
    now = timezone.now()
    SyncRun.objects.bulk_create([SyncRun(flow_state=state, integration=integration, flow=state.flow, trigger="schedule",
                                         status="succeeded", started_at=now - timedelta(minutes=i),
                                         errors=[{"external_id": f"x{i}", "field": "value", "message": "missing"}])
                                 for i in range(n)])
    ExternalRef.objects.bulk_create([ExternalRef(integration=integration, kind="thing", external_id=f"e{i}") for i in range(n)])
    OpsException.objects.bulk_create([OpsException(category="ingestion", code="c", dedup_key=f"d{i}", message="m",
                                                   integration=integration) for i in range(n)])
    SettingsChange.objects.bulk_create([SettingsChange(integration=integration, source="admin", summary=f"s{i}")
                                        for i in range(n)])


@pytest.mark.parametrize("model", ["syncrun", "externalref", "opsexception", "settingschange", "flowstate", "integration",
                                   "mapping", "outboundpush"])
def test_changelists_use_bounded_queries(admin_client, fake_integration, django_assert_max_num_queries, model):
    _many_rows(fake_integration)
    for i in range(55):
        services.integration_create(name=f"Fake {i:02d}", connector="fake")
    with django_assert_max_num_queries(14):
        response = admin_client.get(reverse(f"admin:integrations_{model}_changelist"))
    assert response.status_code == 200


def test_sync_run_detail_shows_record_errors_readably(admin_client, fake_integration):
    _many_rows(fake_integration, n=1)
    run = SyncRun.objects.get()
    html = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk])).content.decode()
    assert "<td>x0</td><td>value</td><td>missing</td>" in html


def test_location_setting_offers_the_integrations_locations_and_stores_the_code(admin_client, fake_integration):
    # given: a connector with a LOCATION setting and two locations, one of another integration
    from inventory.models import Location

    spec = registry.get_connector("fake")
    location_setting = registry.SettingSpec("ship_from", "Ship from location", "General", registry.LOCATION, default="")
    registry.register(registry.ConnectorSpec(**{**spec.__dict__, "settings": spec.settings + (location_setting,)}))
    other = services.integration_create(name="Other", connector="fake")
    Location.objects.create(integration=fake_integration, code="main-wh", name="Main warehouse")
    Location.objects.create(integration=other, code="other-wh", name="Other warehouse")
    try:
        html = admin_client.get(_change_url(fake_integration)).content.decode()
        assert '<option value="main-wh">Main warehouse (main-wh)</option>' in html
        assert "other-wh" not in html
        # when: another integration's location is posted, it is refused
        response = admin_client.post(_change_url(fake_integration), _post_data(fake_integration, setting__ship_from="other-wh"))
        assert response.status_code == 200
        fake_integration.refresh_from_db()
        assert "ship_from" not in fake_integration.settings
        # when: its own location is posted, the code is stored
        response = admin_client.post(_change_url(fake_integration), _post_data(fake_integration, setting__ship_from="main-wh"))
        assert response.status_code == 302
        fake_integration.refresh_from_db()
        assert fake_integration.settings["ship_from"] == "main-wh"
    finally:
        registry.register(spec)


def test_integration_of_an_uninstalled_connector_still_opens(admin_client):
    integration = Integration.objects.create(name="Old", connector="gone", role="channel")
    response = admin_client.get(_change_url(integration))
    assert response.status_code == 200
    assert "gone (not installed)" in response.content.decode()
    assert admin_client.get(reverse("admin:integrations_integration_changelist")).status_code == 200
