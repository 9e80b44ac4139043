import pytest
from django.urls import reverse

from integrations.models import FlowState

pytestmark = pytest.mark.django_db


def test_flow_state_page_does_not_switch_a_flow_that_its_setting_switches(client, admin_user, fake_state):
    # given: pull_things is switched by the setting "Pull things from Fake" (on)
    client.force_login(admin_user)
    url = reverse("admin:integrations_flowstate_change", args=[fake_state.pk])
    # when: the change form posts enabled off
    page = client.get(url)
    client.post(url, {"interval": "00:05:00"})
    # then: enabled is shown read-only and stays on
    assert 'name="enabled"' not in page.content.decode()
    assert FlowState.objects.get(pk=fake_state.pk).enabled is True


def test_flow_state_list_has_no_inline_enabled_editing(client, admin_user, fake_state):
    client.force_login(admin_user)
    page = client.get(reverse("admin:integrations_flowstate_changelist"))
    assert page.status_code == 200
    assert f'name="form-0-enabled"' not in page.content.decode()
