"""The OSA integration in the back office: every article setting rendered, the secret never shown,
and Test connection marking the integration."""

import pytest
from django.urls import reverse

from integrations.models import Integration

from .conftest import SECRET
from .test_spec import ARTICLE_LABELS

pytestmark = pytest.mark.django_db


def test_change_page_shows_every_setting_and_hides_the_secret(client, admin_user, osa_integration):
    # given
    client.force_login(admin_user)
    # when
    response = client.get(reverse("admin:integrations_integration_change", args=[osa_integration.pk]))
    # then
    html = response.content.decode()
    assert response.status_code == 200
    missing = [label for label in ARTICLE_LABELS if label.replace("&", "&amp;") not in html and label not in html]
    assert missing == []
    assert SECRET not in html


def test_connection_failure_from_the_admin_shows_error(client, admin_user, osa_integration, osa_api):
    # given
    client.force_login(admin_user)
    osa_api.fixture("GET", "/account", "error__invalid_credentials.json", status=401)
    # when
    client.post(reverse("admin:integrations_integration_test_connection", args=[osa_integration.pk]))
    # then
    osa_integration.refresh_from_db()
    assert osa_integration.status == Integration.Status.ERROR and "API Key or API Secret is wrong" in osa_integration.last_error


def test_one_environment_control(admin_client, osa_integration):
    """"Select OSA environment" is the Environment field itself; saving clears the separate setting."""
    from django.urls import reverse

    from integrations.models import Integration

    url = reverse("admin:integrations_integration_change", args=[osa_integration.pk])
    response = admin_client.get(url)
    form = response.context["adminform"].form
    assert "setting__osa_environment" not in form.fields
    assert form.fields["environment"].label == "Select OSA environment"
    assert form.initial["environment"] == osa_integration.settings["osa_environment"]
    assert response.content.decode().count("Select OSA environment") == 1
