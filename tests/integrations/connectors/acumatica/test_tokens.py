"""Token refresh: ahead of expiry, both tokens stored in one write, single-flight across workers (PostgreSQL), a
refused refresh (revoked/expired grant) → Error + Re-authorize + flows paused, nothing lost."""
import json
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.db import connection, connections
from django.utils import timezone

from integrations.connectors.acumatica import tokens
from integrations.exceptions import AuthError
from integrations.models import Integration, OpsException
from tests.integrations.connectors.acumatica.conftest import INSTANCE, connect_tokens, run_flow

TOKEN_URL = INSTANCE + "/identity/connect/token"
NEW = {"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 3600, "token_type": "Bearer"}


def test_valid_token_is_used_without_a_call(acu_integration, responses):
    assert tokens.token_refresh(integration=acu_integration) == "acc-1"
    assert len(responses.calls) == 0


def test_token_near_expiry_is_refreshed_and_both_tokens_rotate(acu_integration, responses):
    Integration.objects.filter(pk=acu_integration.pk).update(auth_expires_at=timezone.now() + timedelta(minutes=2))
    acu_integration.refresh_from_db()
    responses.add("POST", TOKEN_URL, json=NEW)
    assert tokens.token_refresh(integration=acu_integration) == "acc-2"
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["ref-1"]
    creds = Integration.objects.get(pk=acu_integration.pk).get_credentials()
    assert (creds["access_token"], creds["refresh_token"]) == ("acc-2", "ref-2")


def test_second_worker_with_the_old_token_reuses_the_new_one(acu_integration, responses):
    responses.add("POST", TOKEN_URL, json=NEW)
    assert tokens.token_refresh(integration=Integration.objects.get(pk=acu_integration.pk), stale_access_token="acc-1") == "acc-2"
    assert tokens.token_refresh(integration=acu_integration, stale_access_token="acc-1") == "acc-2"
    assert len(responses.calls) == 1


def test_revoked_grant_puts_the_integration_in_error_with_reauthorize_and_pauses_flows(acu_integration, responses, acu_api):
    responses.add("POST", TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    with pytest.raises(AuthError, match="^Re-authorize Acumatica"):
        tokens.token_refresh(integration=acu_integration, stale_access_token="acc-1")
    fresh = Integration.objects.get(pk=acu_integration.pk)
    assert fresh.status == "error" and fresh.paused_reason.startswith("Re-authorize Acumatica")
    exc = OpsException.objects.get(code=tokens.REAUTHORIZE_CODE, status="open")
    assert f"/integrations/acumatica/connect/{acu_integration.pk}/" in exc.message
    assert fresh.get_credentials()["refresh_token"] == "ref-1"  # nothing thrown away
    run = run_flow(fresh, "push_orders")
    assert run.status in ("skipped", "failed") and len(acu_api.calls_to("/SalesOrder")) == 0


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
def test_two_workers_refreshing_at_once_make_one_refresh_call(responses, db):
    from integrations import services

    integration = services.integration_create(name="Acu", connector="acumatica", credentials={
        "api_url": INSTANCE, "client_id": "c@T", "client_secret": "s"})
    connect_tokens(integration, expires_in=-10)
    results: dict = {}
    b_done = threading.Event()
    used = set()

    def worker_b():
        try:
            results["b"] = tokens.token_refresh(integration=Integration.objects.get(pk=integration.pk), stale_access_token="acc-1")
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertions
            results["b"] = exc
        finally:
            connections.close_all()
            b_done.set()

    def endpoint(request):
        refresh = parse_qs(request.body)["refresh_token"][0]
        if refresh in used:  # rotation: a refresh token works once
            return 400, {}, json.dumps({"error": "invalid_grant"})
        used.add(refresh)
        threading.Thread(target=worker_b).start()
        for _ in range(2000):
            if b_done.is_set() or _lock_waiters() > 0:
                break
            time.sleep(0.01)
        return 200, {}, json.dumps(NEW)

    responses.add_callback("POST", TOKEN_URL, callback=endpoint, content_type="application/json")
    results["a"] = tokens.token_refresh(integration=Integration.objects.get(pk=integration.pk), stale_access_token="acc-1")
    assert b_done.wait(timeout=30)
    assert results == {"a": "acc-2", "b": "acc-2"}
    assert len(responses.calls) == 1
    fresh = Integration.objects.get(pk=integration.pk)
    assert fresh.get_credentials()["refresh_token"] == "ref-2" and fresh.paused_reason == ""
