"""Connect/callback authorization (issue #11, critical 3): only users holding the credentials permission of
Integration admins connect a shop; nothing is written unless the whole authorization is valid; every
connection is recorded in the settings history; TikTok refusing the code, a 503 or an answer without
tokens give a clear message on the integration page and change nothing."""
import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse

from integrations import bootstrap
from integrations.connectors.tiktok import constants as c
from integrations.models import Integration, OAuthState, SettingsChange
from integrations.oauth_views import change_url
from tests.integrations.connectors.tiktok.conftest import ACCESS_TOKEN, REFRESH_TOKEN, SHOP_CIPHER, SHOP_ID
from tests.integrations.connectors.tiktok.test_oauth import answer_tokens_and_shops, callback, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(django_user_model, client):
    bootstrap.groups_ensure()

    def make(group: str | None):
        user = django_user_model.objects.create_user(f"user-{group}", password="pw", is_staff=True)
        if group:
            user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        return user
    return make


def tokens(integration):
    return tuple(Integration.objects.get(pk=integration.pk).get_credentials().get(k) for k in ("access_token", "refresh_token"))


@pytest.mark.parametrize("group", [None, bootstrap.OPS_GROUP])
def test_staff_without_the_credentials_permission_cannot_connect(login, client, tiktok_integration, tiktok_api, group):
    login(group)
    assert client.get(reverse("integrations:tiktok:connect", args=[tiktok_integration.pk])).status_code == 403
    assert OAuthState.objects.count() == 0


@pytest.mark.parametrize("group", [None, bootstrap.OPS_GROUP])
def test_staff_without_the_credentials_permission_cannot_complete_a_callback(login, client, admin_user, tiktok_integration,
                                                                              tiktok_api, group):
    answer_tokens_and_shops(tiktok_api)
    client.force_login(admin_user)
    state = start(client, tiktok_integration)
    user = login(group)
    OAuthState.objects.update(user=user)  # even a state of their own
    response = callback(client, state)
    assert response.status_code == 403
    assert tiktok_api.mock.calls == [] or len(tiktok_api.calls_to(c.PATH_TOKEN_GET)) == 0
    assert tokens(tiktok_integration) == (ACCESS_TOKEN, REFRESH_TOKEN)
    assert SettingsChange.objects.count() == 0
    assert client.post(reverse("integrations:tiktok:select_shop", args=[tiktok_integration.pk]),
                       {"shop_id": SHOP_ID}).status_code == 403


def test_integration_admin_connects_and_it_is_recorded(login, client, tiktok_integration, tiktok_api):
    user = login(bootstrap.ADMIN_GROUP)
    answer_tokens_and_shops(tiktok_api, "two")
    response = callback(client, start(client, tiktok_integration))
    assert response.status_code == 302 and response["Location"] == change_url(tiktok_integration)
    assert tokens(tiktok_integration) == ("TTP_new_access", "TTP_new_refresh")
    change = SettingsChange.objects.get()
    assert (change.user, change.source) == (user, "admin")
    assert SHOP_ID in change.summary and "TTP_new" not in str(change.diff)


def test_refused_reauthorization_keeps_the_old_tokens(login, client, tiktok_integration, tiktok_api):
    login(bootstrap.ADMIN_GROUP)
    tiktok_api.fixture("GET", c.PATH_TOKEN_GET, "token_get__ok.json")
    tiktok_api.ok("GET", c.PATH_AUTHORIZED_SHOPS, data={"shops": [{"id": "999", "cipher": "x", "region": "US"}]})
    response = callback(client, start(client, tiktok_integration))
    assert response.status_code == 302
    assert "bound to shop" in " ".join(m.message for m in get_messages(response.wsgi_request))
    assert tokens(tiktok_integration) == (ACCESS_TOKEN, REFRESH_TOKEN)
    assert Integration.objects.get(pk=tiktok_integration.pk).remote_state["shop_cipher"] == SHOP_CIPHER
    assert SettingsChange.objects.count() == 0


def test_shop_bound_elsewhere_stores_no_token(login, client, tiktok_integration, tiktok_api):
    from integrations import services
    from tests.integrations.connectors.tiktok.conftest import APP_KEY, APP_SECRET, SERVICE_ID

    login(bootstrap.ADMIN_GROUP)
    other = services.integration_create(name="TikTok New", connector="tiktok",
                                        credentials={"app_key": APP_KEY, "app_secret": APP_SECRET, "service_id": SERVICE_ID})
    answer_tokens_and_shops(tiktok_api)
    response = callback(client, start(client, other))
    assert response.status_code == 302
    assert "already connected" in " ".join(m.message for m in get_messages(response.wsgi_request))
    assert tokens(other) == (None, None) and Integration.objects.get(pk=other.pk).remote_account_id == ""


@pytest.mark.parametrize("answer,expected", [
    (lambda api: api.error("GET", c.PATH_TOKEN_GET, code=36004004, message="auth code invalid", status=200), "refused"),
    (lambda api: api.mock.add("GET", api._url(c.PATH_TOKEN_GET), status=503, body="down"), "could not be reached"),
    (lambda api: api.ok("GET", c.PATH_TOKEN_GET, data={"open_id": "x"}), "no tokens"),
    (lambda api: api.ok("GET", c.PATH_TOKEN_GET, data={"access_token": "a-tok-1", "refresh_token": ""}), "no tokens"),
], ids=["refused_code", "503", "no_tokens", "empty_refresh_token"])
def test_token_exchange_failures_answer_a_clear_message_and_change_nothing(login, client, tiktok_integration, tiktok_api,
                                                                           answer, expected, settings):
    settings.DEBUG = True
    client.raise_request_exception = False
    login(bootstrap.ADMIN_GROUP)
    answer(tiktok_api)
    before = Integration.objects.get(pk=tiktok_integration.pk)
    response = callback(client, start(client, tiktok_integration))
    assert response.status_code == 302 and response["Location"] == change_url(tiktok_integration)
    text = " ".join(m.message for m in get_messages(response.wsgi_request))
    assert expected in text and "TikTok" in text
    after = Integration.objects.get(pk=tiktok_integration.pk)
    assert tokens(after) == (ACCESS_TOKEN, REFRESH_TOKEN)
    assert (after.remote_state, after.status, after.auth_expires_at) == (before.remote_state, before.status, before.auth_expires_at)
    assert SettingsChange.objects.count() == 0
    assert len(tiktok_api.calls_to(c.PATH_AUTHORIZED_SHOPS)) == 0
