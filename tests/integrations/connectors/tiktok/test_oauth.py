"""Connect to TikTok: state (single-use, user-bound, expiring), code exchange, shop binding, re-authorization."""
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations import services
from integrations.connectors.tiktok import constants as c
from integrations.models import Integration, OAuthState, OpsException
from integrations.oauth_views import change_url
from tests.integrations.connectors.tiktok.conftest import APP_KEY, APP_SECRET, SERVICE_ID, SHOP_CIPHER, SHOP_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_integration(db):
    return services.integration_create(name="TikTok New", connector="tiktok",
                                       credentials={"app_key": APP_KEY, "app_secret": APP_SECRET, "service_id": SERVICE_ID})


@pytest.fixture
def staff(admin_user, client):
    client.force_login(admin_user)
    return client


def start(client, integration) -> str:
    response = client.get(reverse("integrations:tiktok:connect", args=[integration.pk]))
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == c.AUTHORIZE_URL
    query = parse_qs(url.query)
    assert query["service_id"] == [SERVICE_ID]
    return query["state"][0]


def callback(client, state, code="auth-code-1", **kwargs):
    return client.get(reverse("integrations:tiktok:callback"), {"code": code, "state": state}, **kwargs)


def answer_tokens_and_shops(tiktok_api, shops="one"):
    tiktok_api.fixture("GET", c.PATH_TOKEN_GET, "token_get__ok.json")
    tiktok_api.fixture("GET", c.PATH_AUTHORIZED_SHOPS, f"authorized_shops__{shops}.json")


def test_connect_requires_staff(client, new_integration):
    response = client.get(reverse("integrations:tiktok:connect", args=[new_integration.pk]))
    assert response.status_code == 302 and "login" in response["Location"]
    assert OAuthState.objects.count() == 0


def test_good_state_exchanges_code_and_binds_the_only_shop(staff, new_integration, tiktok_api):
    answer_tokens_and_shops(tiktok_api)
    state = start(staff, new_integration)
    stored = OAuthState.objects.get()
    assert stored.state_hash != state and len(stored.state_hash) == 64  # the raw state is not stored
    response = callback(staff, state)
    assert response.status_code == 302
    assert response["Location"] == change_url(new_integration)
    assert tiktok_api.query(tiktok_api.calls_to(c.PATH_TOKEN_GET)[0]) == {
        "app_key": APP_KEY, "app_secret": APP_SECRET, "auth_code": "auth-code-1", "grant_type": "authorized_code"}
    new_integration.refresh_from_db()
    creds = new_integration.get_credentials()
    assert (creds["access_token"], creds["refresh_token"]) == ("TTP_new_access", "TTP_new_refresh")
    assert (new_integration.remote_account_id, new_integration.status) == (SHOP_ID, "connected")
    assert new_integration.remote_state["shop_cipher"] == SHOP_CIPHER
    assert new_integration.remote_state["shop_region"] == "US"
    assert new_integration.auth_expires_at.timestamp() == 1893456000


def test_replayed_state_is_rejected(staff, new_integration, tiktok_api):
    answer_tokens_and_shops(tiktok_api)
    state = start(staff, new_integration)
    assert callback(staff, state).status_code == 302
    response = callback(staff, state, code="auth-code-2")
    assert response.status_code == 400 and b"already used" in response.content
    assert len(tiktok_api.calls_to(c.PATH_TOKEN_GET)) == 1


def test_bad_state_is_rejected_and_nothing_changes(staff, new_integration, tiktok_api):
    start(staff, new_integration)
    response = callback(staff, "not-a-state")
    assert response.status_code == 400 and b"Unknown authorization state" in response.content
    new_integration.refresh_from_db()
    assert new_integration.get_credentials().get("access_token") is None and new_integration.remote_account_id == ""
    assert len(tiktok_api.mock.calls) == 0


def test_expired_state_is_rejected(staff, new_integration, tiktok_api):
    state = start(staff, new_integration)
    OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = callback(staff, state)
    assert response.status_code == 400 and b"expired" in response.content
    assert len(tiktok_api.mock.calls) == 0


def test_state_of_another_user_is_rejected(staff, new_integration, tiktok_api, django_user_model, client):
    state = start(staff, new_integration)
    other = django_user_model.objects.create_user("eve", password="pw", is_staff=True, is_superuser=True)
    client.force_login(other)
    response = callback(client, state)
    assert response.status_code == 400 and b"another user" in response.content
    assert len(tiktok_api.mock.calls) == 0


def test_denied_authorization_is_reported(staff, new_integration, tiktok_api):
    state = start(staff, new_integration)
    response = staff.get(reverse("integrations:tiktok:callback"), {"code": "null", "state": state, "error": "auth_denied"},
                         follow=True)
    assert response.status_code == 200 and b"auth_denied" in response.content
    assert len(tiktok_api.mock.calls) == 0


def test_several_shops_ask_for_a_choice_then_bind_the_chosen_one(staff, new_integration, tiktok_api):
    answer_tokens_and_shops(tiktok_api, "two")
    response = callback(staff, start(staff, new_integration))
    assert response["Location"] == reverse("integrations:tiktok:select_shop", args=[new_integration.pk])
    page = staff.get(response["Location"])
    assert page.status_code == 200 and b"Test Shop UK" in page.content
    new_integration.refresh_from_db()
    assert new_integration.remote_account_id == ""
    staff.post(response["Location"], {"shop_id": "7495000000000000001"})
    new_integration.refresh_from_db()
    assert (new_integration.remote_account_id, new_integration.remote_state["shop_cipher"]) == ("7495000000000000001", "ROW_ukCipherAAAA")
    assert "pending_shops" not in new_integration.remote_state
    assert staff.post(response["Location"], {"shop_id": "nope"}).status_code == 400


def test_reauthorize_keeps_cursors_and_unpauses(staff, tiktok_integration, tiktok_api):
    # given: a bound, paused (deauthorized) integration with a cursor
    from integrations.connectors.tiktok.webhooks import integration_deauthorized

    state_row = tiktok_integration.flow_states.get(flow="pull_orders")
    state_row.cursor = {"updated_since": 1749630000}
    state_row.save()
    integration_deauthorized(integration=tiktok_integration)
    answer_tokens_and_shops(tiktok_api, "two")
    # when: re-authorized (two shops granted, the bound one among them → no selection)
    response = callback(staff, start(staff, tiktok_integration))
    # then
    assert response.status_code == 302
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.paused_reason == "" and tiktok_integration.remote_account_id == SHOP_ID
    assert tiktok_integration.flow_states.get(flow="pull_orders").cursor == {"updated_since": 1749630000}
    assert OpsException.objects.get(code="deauthorized").status == "resolved"


def test_reauthorize_without_the_bound_shop_is_refused(staff, tiktok_integration, tiktok_api):
    tiktok_api.fixture("GET", c.PATH_TOKEN_GET, "token_get__ok.json")
    tiktok_api.ok("GET", c.PATH_AUTHORIZED_SHOPS, data={"shops": [{"id": "999", "cipher": "x", "region": "US"}]})
    response = callback(staff, start(staff, tiktok_integration), follow=True)
    assert response.status_code == 200 and b"bound to shop" in response.content
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.remote_state["shop_cipher"] == SHOP_CIPHER


def test_a_shop_bound_elsewhere_is_refused(staff, tiktok_integration, new_integration, tiktok_api):
    answer_tokens_and_shops(tiktok_api)
    response = callback(staff, start(staff, new_integration), follow=True)
    assert response.status_code == 200 and b"already connected" in response.content
    assert Integration.objects.get(pk=new_integration.pk).remote_account_id == ""


def test_connect_without_credentials_shows_an_error(staff, db):
    integration = services.integration_create(name="Empty", connector="tiktok")
    response = staff.get(reverse("integrations:tiktok:connect", args=[integration.pk]))
    assert response.status_code == 302 and OAuthState.objects.count() == 0


def test_connection_test_checks_the_bound_shop(tiktok_integration, tiktok_api):
    tiktok_api.fixture("GET", c.PATH_AUTHORIZED_SHOPS, "authorized_shops__one.json")
    ok, message = services.integration_test_connection(integration=tiktok_integration)
    assert ok and SHOP_ID in message


def test_spec_declares_environments_credentials_and_admin_link():
    from integrations import registry

    spec = registry.get_connector("tiktok")
    assert spec.environments == (("production", "Production"), ("sandbox", "Switchyard sandbox"))
    assert [(cr.key, cr.label, cr.secret) for cr in spec.credentials] == [
        ("app_key", "App key", False), ("app_secret", "App secret", True), ("service_id", "Service ID", False)]
    assert spec.extra["admin_links"] == [("Connect to TikTok", "integrations:tiktok:connect")]
