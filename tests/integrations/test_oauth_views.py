"""The generic connect/callback views (integrations.oauth_views) as Katana and Acumatica mount them: the credentials
permission, the connector in the URL must match the integration's, and a state only completes at its own connector's
callback."""
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from integrations import services
from integrations.models import OAuthState

pytestmark = pytest.mark.django_db


@pytest.fixture
def katana(db):
    return services.integration_create(name="Katana OAuth", connector="katana",
                                       credentials={"oauth_client_id": "id-1", "oauth_client_secret": "secret-1"})


def test_connect_of_another_connector_is_not_found(client, admin_user, katana):
    client.force_login(admin_user)
    assert client.post(reverse("integrations:acumatica:connect", args=[katana.pk])).status_code == 404
    assert OAuthState.objects.count() == 0


def test_katana_state_is_refused_at_the_acumatica_callback(client, admin_user, katana, responses):
    client.force_login(admin_user)
    start = client.get(reverse("integrations:katana:connect", args=[katana.pk]))
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = client.get(reverse("integrations:acumatica:callback"), {"state": state, "code": "code-1"})
    assert response.status_code == 400
    assert response.content.decode() == ("Acumatica authorization failed: Unknown authorization state; start again "
                                         "from “Connect to Acumatica”.")
    assert len(responses.calls) == 0 and OAuthState.objects.get().used_at is None


def test_callback_without_login_goes_to_the_admin_login(client):
    response = client.get(reverse("integrations:katana:callback"), {"state": "s", "code": "c"})
    assert response.status_code == 302 and "/login/" in response["Location"]
