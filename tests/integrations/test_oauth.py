"""The generic OAuth authorization code (integrations.oauth): state bound to connector, integration and user,
single-use and expiring; nothing written unless the whole authorization is valid; the change recorded. The connector
tests (katana/test_oauth_webhooks.py, acumatica/test_oauth.py, tiktok/test_oauth*.py) drive the same code through
their own token endpoints."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import oauth, services
from integrations.exceptions import AuthError, TransientError
from integrations.models import Integration, OAuthState, SettingsChange

pytestmark = pytest.mark.django_db
TOKENS = {"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 3600}


@pytest.fixture
def integration(db):
    return services.integration_create(name="Katana OAuth", connector="katana",
                                       credentials={"oauth_client_id": "id-1", "oauth_client_secret": "secret-1"})


def provider(*, exchange=lambda integration, code, uri: dict(TOKENS), calls=None):
    def store(integration, data):
        creds = integration.get_credentials()
        creds.update(access_token=data["access_token"], refresh_token=data["refresh_token"])
        integration.set_credentials(creds)
        integration.save(update_fields=["credentials_encrypted"])

    def recorded(integration, code, uri):
        (calls if calls is not None else []).append((code, uri))
        return exchange(integration, code, uri)

    return oauth.OAuthProvider(connector="katana", label="Remote", connect_label="Connect to Remote",
                               check=lambda integration: None,
                               authorize_url=lambda integration, state, uri: f"https://remote.test/authorize?state={state}",
                               exchange=recorded, store=store, reauthorize_dedup_key="remote:reauthorize:{pk}")


def start(integration, user, p=None) -> str:
    url = oauth.oauth_start(provider=p or provider(), integration=integration, user=user)
    return url.split("state=")[1]


def tokens(integration):
    return Integration.objects.get(pk=integration.pk).get_credentials().get("access_token")


def test_state_is_stored_hashed_and_bound_to_connector_integration_and_user(integration, admin_user):
    state = start(integration, admin_user)
    row = OAuthState.objects.get()
    assert (row.connector, row.integration_id, row.user_id) == ("katana", integration.pk, admin_user.pk)
    assert row.state_hash == oauth.state_hash(state) and row.used_at is None
    assert row.expires_at - row.created_at == oauth.STATE_TTL


def test_complete_stores_tokens_and_records_the_change_once(integration, admin_user):
    calls = []
    p = provider(calls=calls)
    state = start(integration, admin_user, p)
    done = oauth.oauth_complete(provider=p, state=state, code="code-1", user=admin_user)
    assert tokens(done) == "acc-2" and done.status == "connected"
    assert calls == [("code-1", oauth.redirect_uri("katana"))]
    change = SettingsChange.objects.get(integration=integration)
    assert change.summary == "Remote connected (OAuth)" and "acc-2" not in json.dumps(change.diff)
    with pytest.raises(oauth.OAuthError, match="already used"):
        oauth.oauth_complete(provider=p, state=state, code="code-1", user=admin_user)
    assert len(calls) == 1


def test_second_connection_is_recorded_as_a_reauthorization(integration, admin_user):
    p = provider()
    oauth.oauth_complete(provider=p, state=start(integration, admin_user, p), code="c1", user=admin_user)
    oauth.oauth_complete(provider=p, state=start(integration, admin_user, p), code="c2", user=admin_user)
    assert list(SettingsChange.objects.filter(integration=integration).order_by("pk").values_list("summary", flat=True)) == [
        "Remote connected (OAuth)", "Remote re-authorized (OAuth)"]


def test_state_of_another_connector_is_unknown_and_stays_usable(integration, admin_user):
    calls = []
    state = start(integration, admin_user)
    other = oauth.OAuthProvider(**{**provider(calls=calls).__dict__, "connector": "acumatica"})
    with pytest.raises(oauth.OAuthError, match="Unknown authorization state") as exc:
        oauth.oauth_complete(provider=other, state=state, code="code-1", user=admin_user)
    assert exc.value.integration is None and calls == []
    assert OAuthState.objects.get().used_at is None and tokens(integration) is None


def test_expired_state_is_refused_before_any_call(integration, admin_user):
    calls = []
    p = provider(calls=calls)
    state = start(integration, admin_user, p)
    OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(oauth.OAuthError, match="expired; start again from “Connect to Remote”"):
        oauth.oauth_complete(provider=p, state=state, code="code-1", user=admin_user)
    assert calls == [] and tokens(integration) is None


@pytest.mark.parametrize("exchange,message", [
    (lambda i, c, u: (_ for _ in ()).throw(AuthError("invalid_grant")), "Remote refused the authorization code"),
    (lambda i, c, u: (_ for _ in ()).throw(TransientError("503")), "Remote could not be reached to exchange the code"),
    (lambda i, c, u: {"access_token": "acc-only"}, "Remote answered without an access and a refresh token"),
], ids=["_case_refused", "_case_unreachable", "_case_no_refresh_token"])
def test_failed_exchange_changes_nothing(integration, admin_user, exchange, message):
    p = provider(exchange=exchange)
    state = start(integration, admin_user, p)
    with pytest.raises(oauth.OAuthError, match=message) as exc:
        oauth.oauth_complete(provider=p, state=state, code="code-1", user=admin_user)
    assert exc.value.integration.pk == integration.pk and "nothing was changed" in str(exc.value)
    fresh = Integration.objects.get(pk=integration.pk)
    assert (tokens(fresh), fresh.status) == (None, "not_configured")
    assert not SettingsChange.objects.filter(integration=integration).exists()


def test_remote_refusal_in_the_callback_calls_nothing(integration, admin_user):
    calls = []
    p = provider(calls=calls)
    state = start(integration, admin_user, p)
    with pytest.raises(oauth.OAuthError, match=r"Remote did not authorize the connection \(access_denied\)"):
        oauth.oauth_complete(provider=p, state=state, code="", user=admin_user, error="access_denied")
    assert calls == [] and tokens(integration) is None


def test_start_with_missing_credentials_stores_no_state(integration, admin_user):
    def check(integration):
        raise AuthError("Enter the client ID.")

    p = oauth.OAuthProvider(**{**provider().__dict__, "check": check})
    with pytest.raises(oauth.OAuthError, match="Enter the client ID."):
        oauth.oauth_start(provider=p, integration=integration, user=admin_user)
    assert OAuthState.objects.count() == 0
