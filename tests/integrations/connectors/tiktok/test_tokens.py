"""Token refresh: one refresh per integration across workers (row lock held across the call), and the
re-authorize path when TikTok refuses the refresh token (e.g. it consumed it but the answer was lost)."""
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection, connections
from django.urls import reverse

from integrations import services
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok import tokens
from integrations.connectors.tiktok.auth import shop_bind
from integrations.exceptions import AuthError, TransientError
from integrations.models import FlowState, Integration, OpsException, SyncRun
from tests.integrations.connectors.tiktok.conftest import ACCESS_TOKEN, REFRESH_TOKEN, SHOP_CIPHER, SHOP_ID, envelope

NEW_TOKENS = {"access_token": "TTP_access_token_2", "access_token_expire_in": 1893456000,
              "refresh_token": "TTP_refresh_token_2", "refresh_token_expire_in": 1924992000,
              "open_id": "open-1", "seller_name": "Seller", "seller_base_region": "US", "user_type": 0}
REFUSED = envelope(None, code=36004004, message="The refresh_token is invalid or expired.")


class SingleUseRefreshEndpoint:
    """TikTok's refresh endpoint: a refresh token works once; `while_first_call_runs` runs inside the
    first (successful) call, i.e. while that worker holds whatever it holds during the HTTP call."""

    def __init__(self, while_first_call_runs=lambda: None):
        self.used: set[str] = set()
        self.lock = threading.Lock()
        self.while_first_call_runs = while_first_call_runs

    def __call__(self, request):
        token = parse_qs(urlsplit(request.url).query)["refresh_token"][0]
        with self.lock:
            first = token not in self.used
            self.used.add(token)
        if not first:
            return 200, {}, json.dumps(REFUSED)
        self.while_first_call_runs()
        return 200, {}, json.dumps(envelope(NEW_TOKENS))


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
def test_two_workers_refreshing_at_once_make_one_refresh_call_and_both_use_the_new_token(tiktok_integration, tiktok_api):
    # given: while worker A's refresh call is in flight (as slow as it likes), worker B needs a refresh too
    results: dict = {}
    b_done = threading.Event()

    def worker_b():
        try:
            results["b"] = tokens.token_refresh(integration=Integration.objects.get(pk=tiktok_integration.pk),
                                                stale_access_token=ACCESS_TOKEN)
        except Exception as exc:  # surfaced by the assertions
            results["b"] = exc
        finally:
            connections.close_all()
            b_done.set()

    def while_a_calls_tiktok():
        threading.Thread(target=worker_b).start()
        for _ in range(2000):  # until B waits on A's lock (or B finished without waiting: the defect)
            if b_done.is_set() or _lock_waiters() > 0:
                break
            time.sleep(0.01)

    endpoint = SingleUseRefreshEndpoint(while_first_call_runs=while_a_calls_tiktok)
    tiktok_api.mock.add_callback("GET", tiktok_api._url(c.PATH_TOKEN_REFRESH), callback=endpoint, content_type="application/json")
    # when
    results["a"] = tokens.token_refresh(integration=Integration.objects.get(pk=tiktok_integration.pk),
                                        stale_access_token=ACCESS_TOKEN)
    assert b_done.wait(timeout=30)
    # then: one refresh call; both workers use the new token; both new tokens stored; still connected
    assert results == {"a": "TTP_access_token_2", "b": "TTP_access_token_2"}
    assert len(tiktok_api.calls_to(c.PATH_TOKEN_REFRESH)) == 1
    stored = Integration.objects.get(pk=tiktok_integration.pk)
    creds = stored.get_credentials()
    assert (creds["access_token"], creds["refresh_token"]) == ("TTP_access_token_2", "TTP_refresh_token_2")
    assert (stored.status, stored.paused_reason) == ("connected", "")
    assert OpsException.objects.count() == 0


def test_a_second_worker_with_the_old_token_reuses_the_stored_one_without_calling_tiktok(tiktok_integration, tiktok_api):
    # given: worker A already refreshed and stored the new pair
    endpoint = SingleUseRefreshEndpoint()
    tiktok_api.mock.add_callback("GET", tiktok_api._url(c.PATH_TOKEN_REFRESH), callback=endpoint, content_type="application/json")
    assert tokens.token_refresh(integration=Integration.objects.get(pk=tiktok_integration.pk),
                                stale_access_token=ACCESS_TOKEN) == "TTP_access_token_2"
    # when: worker B, still holding the old access token, asks for a refresh
    token = tokens.token_refresh(integration=tiktok_integration, stale_access_token=ACCESS_TOKEN)
    # then
    assert token == "TTP_access_token_2"
    assert tiktok_integration.get_credentials()["refresh_token"] == "TTP_refresh_token_2"  # caller's copy updated
    assert len(tiktok_api.calls_to(c.PATH_TOKEN_REFRESH)) == 1


def test_lost_refresh_answer_leads_to_reauthorize_exception_paused_flows_and_recovery(tiktok_integration, tiktok_api):
    # given: TikTok consumes the refresh token, but the answer is lost on the way back
    tiktok_api.mock.add("GET", tiktok_api._url(c.PATH_TOKEN_REFRESH), body=requests.ConnectionError("connection reset"))
    tiktok_api.mock.add("GET", tiktok_api._url(c.PATH_TOKEN_REFRESH), json=REFUSED)
    with pytest.raises(TransientError):
        tokens.token_refresh(integration=tiktok_integration, stale_access_token=ACCESS_TOKEN)
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.get_credentials()["refresh_token"] == REFRESH_TOKEN  # nothing stored, nothing changed
    assert (tiktok_integration.status, tiktok_integration.paused_reason) == ("connected", "")
    assert OpsException.objects.count() == 0
    # when: the next refresh sends the consumed token and TikTok refuses it
    with pytest.raises(AuthError, match="^Re-authorize TikTok"):
        tokens.token_refresh(integration=tiktok_integration, stale_access_token=ACCESS_TOKEN)
    # then: Error, paused, one open exception naming the way out; the old tokens are kept
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.status == "error"
    assert tiktok_integration.paused_reason == "Re-authorize TikTok: the token refresh was refused"
    problem = OpsException.objects.get(code=tokens.REAUTHORIZE_CODE, status=OpsException.Status.OPEN)
    assert problem.integration_id == tiktok_integration.pk
    assert problem.message.startswith("Re-authorize TikTok: open " + reverse("integrations:tiktok:connect", args=[tiktok_integration.pk]))
    assert "The refresh_token is invalid or expired." in problem.message
    assert tiktok_integration.get_credentials()["refresh_token"] == REFRESH_TOKEN
    # and every flow is paused: a run is skipped and calls nothing
    calls_before = len(tiktok_api.mock.calls)
    run = services.flow_run(flow_state=FlowState.objects.select_related("integration").get(integration=tiktok_integration,
                                                                                           flow="pull_orders"))
    assert (run.status, run.note) == (SyncRun.Status.SKIPPED, "integration paused: Re-authorize TikTok: the token refresh was refused")
    assert len(tiktok_api.mock.calls) == calls_before
    # when: the shop is connected again (the OAuth callback binds it)
    shop_bind(integration=tiktok_integration, shop={"id": SHOP_ID, "cipher": SHOP_CIPHER, "region": "US", "name": "Test Shop US"})
    # then: everything clears by itself
    tiktok_integration.refresh_from_db()
    assert (tiktok_integration.status, tiktok_integration.paused_reason) == ("connected", "")
    assert OpsException.objects.filter(status=OpsException.Status.OPEN).count() == 0
    assert OpsException.objects.get(code=tokens.REAUTHORIZE_CODE).resolution_note == "re-authorized"
