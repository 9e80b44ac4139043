"""OAuth 2.0 authorization code (reference §2.2): Connect page with the Redirect URI, state bound to integration and
user, forged/replayed/foreign states refused, nothing written unless the whole authorization is valid."""
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from integrations import bootstrap
from integrations.models import OAuthState
from integrations.models import Integration, OpsException, SettingsChange
from tests.integrations.connectors.acumatica.conftest import CLIENT_ID, CLIENT_SECRET, INSTANCE, load_fixture

pytestmark = pytest.mark.django_db
TOKEN_URL = INSTANCE + "/identity/connect/token"


def start(client, integration) -> str:
    response = client.post(reverse("integrations:acumatica:connect", args=[integration.pk]))
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == INSTANCE + "/identity/connect/authorize"
    query = parse_qs(target.query)
    assert query["scope"] == ["api offline_access"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"][0].endswith("/integrations/acumatica/callback/")
    return query["state"][0]


def callback(client, state, code="code-1"):
    return client.get(reverse("integrations:acumatica:callback"), {"state": state, "code": code})


def stored(integration):
    fresh = Integration.objects.get(pk=integration.pk)
    creds = fresh.get_credentials()
    return creds.get("access_token"), creds.get("refresh_token"), fresh.status


@pytest.fixture
def new_integration(db):
    from integrations import services

    return services.integration_create(name="Acu", connector="acumatica",
                                       credentials={"api_url": INSTANCE, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})


def test_connect_page_shows_the_exact_redirect_uri(client, admin_user, new_integration, settings):
    settings.SITE_URL = "https://hub.example.com"
    client.force_login(admin_user)
    page = client.get(reverse("integrations:acumatica:connect", args=[new_integration.pk]))
    assert page.status_code == 200
    assert "https://hub.example.com/integrations/acumatica/callback/" in page.content.decode()
    assert OAuthState.objects.count() == 0  # a GET starts nothing


def test_connect_with_incomplete_credentials_says_what_is_missing(client, admin_user, db):
    from integrations import services

    integration = services.integration_create(name="Acu", connector="acumatica", credentials={"api_url": INSTANCE})
    client.force_login(admin_user)
    page = client.get(reverse("integrations:acumatica:connect", args=[integration.pk]))
    assert "enter API Client ID, API Client Secret" in page.content.decode()
    response = client.post(reverse("integrations:acumatica:connect", args=[integration.pk]))
    assert response.status_code == 302 and OAuthState.objects.count() == 0


def test_full_authorization_stores_both_tokens_and_records_the_change(client, admin_user, new_integration, responses):
    responses.add("POST", TOKEN_URL, json=load_fixture("token.json"))
    client.force_login(admin_user)
    state = start(client, new_integration)
    response = callback(client, state)
    assert response.status_code == 302
    assert stored(new_integration) == ("acc-new-1", "ref-new-1", "connected")
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["code-1"]
    assert form["client_secret"] == [CLIENT_SECRET]
    change = SettingsChange.objects.get(integration=new_integration)
    assert change.summary == "Acumatica connected (OAuth)" and "acc-new-1" not in json.dumps(change.diff)


def test_forged_state_is_refused_and_nothing_is_called_or_written(client, admin_user, new_integration, responses):
    client.force_login(admin_user)
    start(client, new_integration)
    response = callback(client, "forged-state")
    assert response.status_code == 400 and b"Unknown authorization state" in response.content
    assert len(responses.calls) == 0
    assert stored(new_integration)[:2] == (None, None)


def test_code_replay_with_a_used_state_is_refused(client, admin_user, new_integration, responses):
    responses.add("POST", TOKEN_URL, json=load_fixture("token.json"))
    client.force_login(admin_user)
    state = start(client, new_integration)
    callback(client, state)
    responses.add("POST", TOKEN_URL, json={"access_token": "evil", "refresh_token": "evil", "expires_in": 60})
    response = callback(client, state, code="code-2")
    assert response.status_code == 400 and b"already used" in response.content
    assert stored(new_integration)[:2] == ("acc-new-1", "ref-new-1")
    assert len(responses.calls) == 1


def test_state_of_another_user_is_refused(client, admin_user, django_user_model, new_integration, responses):
    client.force_login(admin_user)
    state = start(client, new_integration)
    other = django_user_model.objects.create_superuser("other", "o@example.com", "pw")
    client.force_login(other)
    response = callback(client, state)
    assert response.status_code == 400 and b"started by another user" in response.content
    assert len(responses.calls) == 0 and stored(new_integration)[:2] == (None, None)


def test_refused_code_changes_nothing(client, admin_user, acu_integration, responses):
    responses.add("POST", TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    client.force_login(admin_user)
    state = start(client, acu_integration)
    response = callback(client, state)
    assert response.status_code == 302
    assert stored(acu_integration)[:2] == ("acc-1", "ref-1")
    assert SettingsChange.objects.filter(integration=acu_integration, summary__startswith="Acumatica").count() == 0


def test_staff_without_credentials_permission_cannot_connect(client, django_user_model, acu_integration):
    bootstrap.groups_ensure()
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=bootstrap.OPS_GROUP))
    client.force_login(user)
    assert client.post(reverse("integrations:acumatica:connect", args=[acu_integration.pk])).status_code == 403
    assert client.get(reverse("integrations:acumatica:callback"), {"state": "x", "code": "y"}).status_code == 403
    assert OAuthState.objects.count() == 0


def test_reconnect_clears_the_reauthorize_exception_and_the_pause(client, admin_user, acu_integration, responses):
    from integrations.connectors.acumatica import tokens

    tokens.reauthorize_required(integration=acu_integration, reason="invalid_grant")
    assert OpsException.objects.filter(code=tokens.REAUTHORIZE_CODE, status="open").count() == 1
    responses.add("POST", TOKEN_URL, json=load_fixture("token.json"))
    client.force_login(admin_user)
    callback(client, start(client, acu_integration))
    fresh = Integration.objects.get(pk=acu_integration.pk)
    assert (fresh.status, fresh.paused_reason) == ("connected", "")
    assert OpsException.objects.filter(code=tokens.REAUTHORIZE_CODE, status="open").count() == 0
