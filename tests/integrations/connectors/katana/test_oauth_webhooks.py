"""OAuth (connect/callback: permission, state bound to integration and user, nothing written unless valid), token
refresh single-flight (two workers on PostgreSQL), refused refresh → re-authorize, and webhooks (signature vector,
targeted re-fetch, duplicates merged)."""

import hashlib
import hmac
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, connections
from django.urls import reverse

from integrations import services
from integrations.connectors.katana import tokens, webhooks
from integrations.connectors.katana.settings import TOKEN_URL
from integrations.exceptions import AuthError
from integrations.models import FlowState, Integration, OpsException, SettingsChange

from .conftest import settings_set

NEW = {"access_token": "kat-access-2", "refresh_token": "kat-refresh-2", "expires_in": 3600, "token_type": "Bearer"}


@pytest.fixture
def oauth_integration(db):
    integration = services.integration_create(
        name="Katana OAuth", connector="katana", environment="production",
        settings={"push_orders": True, "pull_fulfillments": True},
        credentials={"oauth_client_id": "client-1", "oauth_client_secret": "secret-1", "access_token": "kat-access-1",
                     "refresh_token": "kat-refresh-1"})
    return integration


class RotatingTokenEndpoint:
    """Katana's token endpoint: a refresh token works once (reuse is refused)."""

    def __init__(self, while_first_call_runs=lambda: None):
        self.used, self.lock, self.while_first_call_runs = set(), threading.Lock(), while_first_call_runs

    def __call__(self, request):
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        token = form["refresh_token"][0]
        with self.lock:
            first = token not in self.used
            self.used.add(token)
        if not first:
            return 403, {}, json.dumps({"error": "invalid_grant"})
        self.while_first_call_runs()
        return 200, {}, json.dumps(NEW)


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
def test_two_workers_refreshing_at_once_make_one_refresh_and_both_use_the_new_token(oauth_integration, responses):
    results: dict = {}
    b_done = threading.Event()

    def worker_b():
        try:
            results["b"] = tokens.token_refresh(integration=Integration.objects.get(pk=oauth_integration.pk),
                                                stale_access_token="kat-access-1")
        except Exception as exc:  # surfaced by the assertions
            results["b"] = exc
        finally:
            connections.close_all()
            b_done.set()

    def while_a_calls_katana():
        threading.Thread(target=worker_b).start()
        for _ in range(2000):
            if b_done.is_set() or _lock_waiters() > 0:
                break
            time.sleep(0.01)

    responses.add_callback("POST", TOKEN_URL, callback=RotatingTokenEndpoint(while_a_calls_katana))
    results["a"] = tokens.token_refresh(integration=Integration.objects.get(pk=oauth_integration.pk),
                                        stale_access_token="kat-access-1")
    assert b_done.wait(timeout=30)
    assert results == {"a": "kat-access-2", "b": "kat-access-2"}
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 1
    creds = Integration.objects.get(pk=oauth_integration.pk).get_credentials()
    assert (creds["access_token"], creds["refresh_token"]) == ("kat-access-2", "kat-refresh-2")
    assert OpsException.objects.count() == 0


@pytest.mark.django_db
def test_401_refreshes_once_and_retries_with_the_new_token(oauth_integration, responses, katana_api):
    responses.add_callback("POST", TOKEN_URL, callback=RotatingTokenEndpoint())
    katana_api.error("GET", "/locations", status=401)
    katana_api.listing("/locations", [])
    from integrations.connectors.katana.client import make_client

    listing = make_client(oauth_integration).locations_list()
    assert listing.items == []
    auths = [c.request.headers["Authorization"] for c in katana_api.calls_to("/locations")]
    assert auths == ["Bearer kat-access-1", "Bearer kat-access-2"]
    form = parse_qs(responses.calls[1].request.body)
    assert form["grant_type"] == ["refresh_token"] and form["client_secret"] == ["secret-1"]


@pytest.mark.django_db
def test_refused_refresh_pauses_flows_with_a_reauthorize_exception(oauth_integration, responses):
    responses.add("POST", TOKEN_URL, json={"error": "invalid_grant"}, status=403)
    with pytest.raises(AuthError, match="^Re-authorize Katana"):
        tokens.token_refresh(integration=oauth_integration, stale_access_token="kat-access-1")
    oauth_integration.refresh_from_db()
    assert oauth_integration.status == "error" and oauth_integration.paused_reason.startswith("Re-authorize Katana")
    exc = OpsException.objects.get(code="katana_reauthorize")
    assert reverse("integrations:katana:connect", args=[oauth_integration.pk]) in exc.message
    assert oauth_integration.get_credentials()["refresh_token"] == "kat-refresh-1"


@pytest.mark.django_db
def test_connect_needs_the_credentials_permission(client, oauth_integration, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)
    response = client.get(reverse("integrations:katana:connect", args=[oauth_integration.pk]))
    assert response.status_code == 403


@pytest.mark.django_db
def test_oauth_round_trip_binds_state_to_user_and_stores_both_tokens(client, admin_user, oauth_integration, responses,
                                                                      django_user_model):
    from integrations.models import OAuthState

    client.force_login(admin_user)
    response = client.get(reverse("integrations:katana:connect", args=[oauth_integration.pk]))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith("https://login.katanamrp.com/authorize?")
    assert query["scope"] == ["offline_access"] and query["client_id"] == ["client-1"]
    state = query["state"][0]
    assert OAuthState.objects.get().state_hash == hashlib.sha256(state.encode()).hexdigest()
    # another user cannot use the state: nothing written
    other = django_user_model.objects.create_superuser("other", "o@example.com", "pw")
    client.force_login(other)
    bad = client.get(reverse("integrations:katana:callback"), {"state": state, "code": "code-1"})
    assert bad.status_code == 400 and len(responses.calls) == 0
    # the right user completes it
    responses.add("POST", TOKEN_URL, json=NEW)
    OAuthState.objects.update(used_at=None)
    client.force_login(admin_user)
    ok = client.get(reverse("integrations:katana:callback"), {"state": state, "code": "code-1"})
    assert ok.status_code == 302
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["code-1"]
    oauth_integration.refresh_from_db()
    creds = oauth_integration.get_credentials()
    assert (creds["access_token"], creds["refresh_token"]) == ("kat-access-2", "kat-refresh-2")
    assert oauth_integration.status == "connected" and oauth_integration.auth_expires_at is not None
    change = SettingsChange.objects.filter(integration=oauth_integration, summary="Katana connected (OAuth)").get()
    assert "kat-access-2" not in json.dumps(change.diff)
    # the state is single-use
    again = client.get(reverse("integrations:katana:callback"), {"state": state, "code": "code-1"})
    assert again.status_code == 400 and len(responses.calls) == 1


@pytest.mark.django_db
def test_refused_code_changes_nothing(client, admin_user, oauth_integration, responses):
    client.force_login(admin_user)
    state = parse_qs(urlsplit(client.get(reverse("integrations:katana:connect", args=[oauth_integration.pk]))["Location"]).query)["state"][0]
    responses.add("POST", TOKEN_URL, json={"error": "invalid_grant"}, status=403)
    client.get(reverse("integrations:katana:callback"), {"state": state, "code": "bad"})
    oauth_integration.refresh_from_db()
    assert oauth_integration.get_credentials()["access_token"] == "kat-access-1"
    assert not SettingsChange.objects.filter(summary="Katana connected (OAuth)").exists()


def test_signature_known_vector():
    body = b'{"resource_type":"sales_order","action":"sales_order.delivered","object":{"id":1}}'
    expected = hmac.new(b"tok", body, hashlib.sha256).hexdigest()
    assert webhooks.signature_valid(token="tok", body=body, signature=expected)
    assert webhooks.signature_valid(token="tok", body=body, signature="sha256=" + expected)
    assert not webhooks.signature_valid(token="tok", body=body + b" ", signature=expected)
    assert not webhooks.signature_valid(token="", body=body, signature=expected)


@pytest.mark.django_db
def test_webhook_queues_a_targeted_refetch_and_duplicates_merge(client, katana_integration):
    settings_set(katana_integration, webhooks_enabled=True)
    creds = katana_integration.get_credentials() | {"webhook_token": "tok"}
    katana_integration.set_credentials(creds)
    katana_integration.save()
    url = reverse("integrations:katana:webhook", args=[katana_integration.pk])

    def post(action, token="tok"):
        body = json.dumps({"resource_type": "sales_order", "action": action, "webhook_id": 9,
                           "object": {"id": 98765, "status": "DELIVERED", "href": "https://evil.example/x"}}).encode()
        sig = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
        return client.post(url, data=body, content_type="application/json", HTTP_X_SHA2_SIGNATURE=sig)

    assert post("sales_order.delivered").status_code == 202
    assert post("sales_order.updated").status_code == 202  # the twin payload
    state = FlowState.objects.get(integration=katana_integration, flow="pull_fulfillments")
    assert state.pending_params == {"sales_order_ids": ["98765"]}
    assert post("sales_order.delivered", token="wrong").status_code == 401
    assert post("product.created").status_code == 200


@pytest.mark.django_db
def test_webhook_off_is_refused(client, katana_integration):
    url = reverse("integrations:katana:webhook", args=[katana_integration.pk])
    assert client.post(url, data=b"{}", content_type="application/json").status_code == 404


@pytest.mark.django_db
def test_webhook_flood_from_one_address_is_rate_limited(client, katana_integration, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS = 2
    settings_set(katana_integration, webhooks_enabled=True)
    url = reverse("integrations:katana:webhook", args=[katana_integration.pk])
    codes = [client.post(url, data=b"{}", content_type="application/json").status_code for _ in range(3)]
    assert codes[:2] == [401, 401] and codes[2] == 429
