"""One truth for a flow's on/off: flows switched by a setting (FlowSpec.enable_setting) show `enabled` read-only
in the Integration admin's flow-state inline; only flows without such a setting are switched there."""
import dataclasses
from datetime import timedelta

import pytest
from django.urls import reverse

from integrations import registry, services
from integrations.models import FlowState, SettingsChange
from tests.integrations import fake_connector

pytestmark = pytest.mark.django_db

HELP = "switched by the setting &#x27;Pull things from Fake&#x27;"


@pytest.fixture
def two_flows():
    """The fake connector plus a flow with no on/off setting."""
    extra = registry.FlowSpec("push_things", "Push things", "push", "things", "tests.integrations.fake_connector.PullThings",
                              default_interval=timedelta(minutes=1))
    registry.register(dataclasses.replace(fake_connector.SPEC, flows=fake_connector.SPEC.flows + (extra,)))
    yield
    registry.register(fake_connector.SPEC)


@pytest.fixture
def integration(two_flows):
    integration = services.integration_create(name="Fake A", connector="fake", credentials={"api_key": "k", "api_secret": "s"})
    services.flow_states_ensure(integration=integration)
    return integration


def _url(integration):
    return reverse("admin:integrations_integration_change", args=[integration.pk])


def _post(integration, *, setting_on: bool, enabled: dict[str, bool]):
    states = list(integration.flow_states.order_by("pk"))
    data = {
        "name": integration.name, "is_active": "on", "setting__note": "", "setting__statuses": ["a"], "setting__since": "",
        "setting__skus": "", "credential__api_key": "", "credential__api_secret": "",
        "flow_states-TOTAL_FORMS": str(len(states)), "flow_states-INITIAL_FORMS": str(len(states)),
        "flow_states-MIN_NUM_FORMS": "0", "flow_states-MAX_NUM_FORMS": "1000",
    }
    if setting_on:
        data["setting__pull_things"] = "on"
    for i, state in enumerate(states):
        data[f"flow_states-{i}-id"] = str(state.pk)
        data[f"flow_states-{i}-integration"] = str(integration.pk)
        data[f"flow_states-{i}-interval"] = "00:01:00"
        if enabled.get(state.flow):
            data[f"flow_states-{i}-enabled"] = "on"
    return data


def _enabled(integration):
    return dict(integration.flow_states.values_list("flow", "enabled"))


def test_inline_shows_enabled_read_only_for_a_flow_switched_by_a_setting(admin_client, integration):
    # when the change page opens
    html = admin_client.get(_url(integration)).content.decode()
    # then the switched flow's checkbox is disabled with the reason; the other flow's is editable
    states = {s.flow: i for i, s in enumerate(integration.flow_states.order_by("pk"))}
    switched, free = states["pull_things"], states["push_things"]
    assert HELP in html and html.count("switched by the setting") == 1
    switched_input = html.split(f'name="flow_states-{switched}-enabled"')[1].split(">")[0]
    free_input = html.split(f'name="flow_states-{free}-enabled"')[1].split(">")[0]
    assert "disabled" in switched_input
    assert "disabled" not in free_input


def test_posted_enabled_cannot_override_the_setting(admin_client, integration):
    # given the setting is on and the switched flow is enabled
    assert _enabled(integration)["pull_things"] is True
    # when the inline posts the switched flow as off while the setting stays on
    response = admin_client.post(_url(integration), _post(integration, setting_on=True, enabled={"push_things": False}))
    # then the setting wins: still enabled
    assert response.status_code == 302
    assert _enabled(integration)["pull_things"] is True


def test_setting_switches_the_flow_even_if_the_inline_posts_on(admin_client, integration):
    # when the setting is turned off while the inline posts the switched flow as on
    response = admin_client.post(_url(integration), _post(integration, setting_on=False, enabled={"pull_things": True}))
    # then the flow follows the setting
    assert response.status_code == 302
    assert _enabled(integration)["pull_things"] is False


def test_flow_without_a_setting_is_switched_in_the_inline_and_recorded(admin_client, integration):
    # given the flow without an on/off setting
    before = _enabled(integration)["push_things"]
    # when the inline switches it
    response = admin_client.post(_url(integration), _post(integration, setting_on=True, enabled={"pull_things": True,
                                                                                                  "push_things": not before}))
    # then it changes, the switched flow is untouched, and the change is in the settings history
    assert response.status_code == 302
    assert _enabled(integration) == {"pull_things": True, "push_things": not before}
    change = SettingsChange.objects.filter(integration=integration, summary__contains="flow schedule").get()
    assert change.diff == {"flows": {"push_things": {"enabled": [str(before), str(not before)]}}}
    assert FlowState.objects.filter(integration=integration).count() == 2


@pytest.mark.parametrize("interval", ["00:00:00", "-00:00:05", "00:00:29"])
def test_inline_refuses_an_interval_under_30_seconds_and_saves_nothing(admin_client, integration, interval):
    before = dict(integration.flow_states.values_list("flow", "interval"))
    data = _post(integration, setting_on=True, enabled={})
    data["flow_states-0-interval"] = interval
    response = admin_client.post(_url(integration), data)
    assert response.status_code == 200  # the form again, with the error
    assert "The interval must be at least 30 seconds." in response.content.decode()
    assert dict(integration.flow_states.values_list("flow", "interval")) == before
    assert not SettingsChange.objects.filter(summary__contains="flow schedule").exists()
