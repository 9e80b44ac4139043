"""The public webhook endpoint under hostile or odd input: cost constant in the number of shops, one broken
integration fails only its own webhooks, odd bodies are refused whole (400, nothing stored), per-source rate limit."""
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations import crypto, services
from integrations.connectors.tiktok.models import WebhookEvent
from integrations.connectors.tiktok.signing import webhook_signature
from integrations.models import FlowState, Integration, OpsException, RateLimitCounter
from tests.integrations.connectors.tiktok.conftest import APP_KEY, APP_SECRET, SHOP_ID

pytestmark = pytest.mark.django_db
URL = "/integrations/tiktok/webhook/"
OTHER_SECRET = "other-app-secret-7f3a"


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "flow_targeted_request", lambda **kw: calls.append((kw["flow_state"].flow, kw["params"])))
    return calls


def raw_body(payload) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def body_for(topic, data, notification_id="7327112393057371910", shop_id=SHOP_ID) -> bytes:
    return raw_body({"type": topic, "tts_notification_id": notification_id, "shop_id": shop_id, "timestamp": 1644412885,
                     "data": data})


def post(client, body: bytes, *, app_key=APP_KEY, app_secret=APP_SECRET, remote_addr="203.0.113.7"):
    sig = webhook_signature(app_key=app_key, app_secret=app_secret, body=body)
    return client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=sig, REMOTE_ADDR=remote_addr)


def other_shops(n: int) -> None:
    """n more TikTok integrations, each bound to its own shop, with their own app secret."""
    token = crypto.encrypt_json({"app_key": "k-other", "app_secret": OTHER_SECRET})
    Integration.objects.bulk_create([
        Integration(name=f"Shop {i}", connector="tiktok", role="channel", remote_account_id=f"80000{i}",
                    credentials_encrypted=token) for i in range(n)])


def undecryptable_integration(shop_id: str = "900001") -> Integration:
    foreign = Fernet(Fernet.generate_key()).encrypt(json.dumps({"app_key": "k", "app_secret": "lost"}).encode()).decode()
    return Integration.objects.create(name="Broken keys", connector="tiktok", role="channel", remote_account_id=shop_id,
                                      credentials_encrypted=foreign)


def nothing_stored() -> bool:
    return (WebhookEvent.objects.exists() is False and OpsException.objects.exists() is False
            and FlowState.objects.exclude(pending_params={}).exists() is False)


# --- 1. cost constant in the number of shops; a broken integration fails only its own webhooks ----------------

@pytest.mark.parametrize("others_case", [0, 49])
def test_verification_decrypts_only_the_shops_own_integration(client, tiktok_integration, enqueued, monkeypatch, others_case):
    # given: 1 or 50 TikTok integrations
    other_shops(others_case)
    decrypted = []
    real = crypto.decrypt_json
    monkeypatch.setattr(crypto, "decrypt_json", lambda token: decrypted.append(token) or real(token))
    # when
    response = post(client, body_for(1, {"order_id": "576"}))
    # then: one decryption, whatever the number of shops
    assert response.status_code == 200
    assert decrypted == [tiktok_integration.credentials_encrypted]
    assert enqueued == [("pull_orders", {"order_ids": ["576"]})]


def test_webhook_query_count_is_the_same_for_1_and_50_integrations(client, tiktok_integration, enqueued):
    # given
    with CaptureQueriesContext(connection) as one:
        assert post(client, body_for(1, {"order_id": "576"}, notification_id="a1")).status_code == 200
    other_shops(49)
    # when
    with CaptureQueriesContext(connection) as fifty:
        assert post(client, body_for(1, {"order_id": "576"}, notification_id="a2")).status_code == 200
    # then
    assert len(fifty.captured_queries) == len(one.captured_queries)


def test_undecryptable_integration_does_not_break_other_shops(client, tiktok_integration, enqueued):
    # given: another shop whose credentials were encrypted under a key no longer configured
    undecryptable_integration()
    # when
    response = post(client, body_for(1, {"order_id": "576"}))
    # then
    assert response.status_code == 200
    assert WebhookEvent.objects.get().integration == tiktok_integration
    assert enqueued == [("pull_orders", {"order_ids": ["576"]})]


def test_undecryptable_integration_fails_its_own_webhooks_visibly_and_stores_nothing(client, tiktok_integration, enqueued, caplog):
    # given
    broken = undecryptable_integration(shop_id="900001")
    body = body_for(1, {"order_id": "576"}, shop_id="900001")
    # when
    with caplog.at_level(logging.ERROR, logger="integrations.tiktok.webhooks"):
        response = post(client, body, app_key="k", app_secret="lost")
    # then: a 503 TikTok retries later, logged with the integration and without any secret or signature
    assert response.status_code == 503
    assert nothing_stored() and enqueued == []
    record = next(r for r in caplog.records if r.name == "integrations.tiktok.webhooks")
    assert record.levelno == logging.ERROR and str(broken.pk) in record.getMessage()
    text = caplog.text
    assert "lost" not in text and webhook_signature(app_key="k", app_secret="lost", body=body) not in text


def test_signature_of_another_shops_app_is_refused(client, tiktok_integration, enqueued):
    # given: shop 800000 has its own app secret
    other_shops(1)
    # when: a body for shop 800000 signed with tiktok_integration's secret
    response = post(client, body_for(1, {"order_id": "576"}, shop_id="800000"))
    # then
    assert response.status_code == 401 and nothing_stored()


def test_unknown_shop_is_401_and_nothing_stored(client, tiktok_integration, enqueued):
    response = post(client, body_for(1, {"order_id": "1"}, shop_id="111"))
    assert response.status_code == 401 and nothing_stored() and enqueued == []
    # unknown shop ids (attacker-chosen) leave no per-shop counter row behind
    assert list(RateLimitCounter.objects.values_list("scope", flat=True)) == ["tiktok-webhook:address"]


# --- 3. odd shapes with a valid signature: 400, nothing stored -----------------------------------------------

def _base(**overrides):
    payload = {"type": 1, "tts_notification_id": "7327112393057371910", "shop_id": SHOP_ID, "timestamp": 1644412885,
               "data": {"order_id": "576"}}
    payload.update(overrides)
    return raw_body(payload)


ODD_BODIES = [
    pytest.param(_base(data=["576"]), id="data_list"),
    pytest.param(_base(data="576"), id="data_string"),
    pytest.param(_base(data=5), id="data_number"),
    pytest.param(body_for(4, {"package_list": [1, 2]}), id="package_item_not_object"),
    pytest.param(body_for(4, {"package_list": ["p1"]}), id="package_item_string"),
    pytest.param(body_for(4, {"package_list": {"package_id": "p1"}}), id="package_list_object"),
    pytest.param(body_for(4, {"package_list": [{"package_id": "p1", "order_id_list": 5}]}), id="order_id_list_number"),
    pytest.param(body_for(4, {"package_list": [{"package_id": "p1", "order_id_list": [{"id": 1}]}]}), id="package_order_id_object"),
    pytest.param(_base(type=2 ** 63), id="type_huge"),
    pytest.param(_base(type=2 ** 40), id="type_over_int32"),
    pytest.param(_base(type=-1), id="type_negative"),
    pytest.param(_base(type=True), id="type_bool"),
    pytest.param(_base(type=1.5), id="type_float"),
    pytest.param(body_for(7, {"message": "m", "expiration_time": 10 ** 20}), id="expiration_huge"),
    pytest.param(body_for(7, {"message": "m", "expiration_time": 10 ** 12}), id="expiration_year_33658"),
    pytest.param(body_for(7, {"message": "m", "expiration_time": -5}), id="expiration_negative"),
    pytest.param(body_for(7, {"message": "m", "expiration_time": "soon"}), id="expiration_string"),
    pytest.param(body_for(6, {"message": {"a": 1}}), id="message_object"),
    pytest.param(_base(data={"order_id": {"x": 1}}), id="order_id_object_in_data"),
    pytest.param(_base(data={"order_id": "576\u0000"}), id="nul_in_string"),
    pytest.param(_base(data={"note": "\ud800"}), id="lone_surrogate"),
    pytest.param(_base(data={"order_id": "576"}).replace(b'"timestamp":1644412885', b'"timestamp":NaN'), id="nan"),
    pytest.param(_base(tts_notification_id="9" * 65), id="notification_id_too_long"),
    pytest.param(_base(tts_notification_id={"id": 1}), id="notification_id_object"),
    pytest.param(_base(tts_notification_id=""), id="notification_id_empty"),
    pytest.param(b'{"type":1,"tts_notification_id":"1","shop_id":"' + SHOP_ID.encode() + b'","data":' + b'[' * 50000
                 + b']' * 50000 + b'}', id="deep_nesting"),
    pytest.param(b'[1, 2]', id="array"),
    pytest.param(b'{"type": 1}', id="no_shop"),
    pytest.param(b"\xff\xfe{", id="not_utf8"),
]


@pytest.mark.parametrize("body", ODD_BODIES)
def test_odd_body_with_valid_signature_is_400_and_stores_nothing(client, tiktok_integration, enqueued, body):
    # when
    response = post(client, body)
    # then
    assert response.status_code == 400
    assert nothing_stored() and enqueued == []
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.paused_reason == "" and "authorization_expires_at" not in tiktok_integration.remote_state


def test_odd_body_with_invalid_signature_is_401(client, tiktok_integration, enqueued):
    response = post(client, _base(data=["576"]), app_secret="wrong")
    assert response.status_code == 401 and nothing_stored()


def test_well_formed_edge_values_are_accepted(client, tiktok_integration, enqueued):
    # numeric ids and a null data object are TikTok-compatible shapes
    assert post(client, _base(type=1, data={"order_id": 576486316948490001})).status_code == 200
    assert post(client, _base(type=14, tts_notification_id="n2", data=None)).status_code == 200
    assert enqueued == [("pull_orders", {"order_ids": ["576486316948490001"]})]
    assert sorted(WebhookEvent.objects.values_list("status", flat=True)) == ["enqueued", "ignored"]


# --- 2. per-source rate limit ----------------------------------------------------------------------------------

def test_per_address_limit_answers_429_with_retry_after_and_stores_nothing_more(client, tiktok_integration, enqueued,
                                                                              settings, monkeypatch, caplog):
    # given
    settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS, settings.WEBHOOK_RATE_LIMIT_PER_SHOP, settings.WEBHOOK_RATE_WINDOW_SECONDS = 3, 0, 60
    for i in range(3):
        assert post(client, body_for(1, {"order_id": str(i)}, notification_id=f"n{i}")).status_code == 200
    decrypted = []
    monkeypatch.setattr(crypto, "decrypt_json", lambda token: decrypted.append(token) or {})
    # when
    with caplog.at_level(logging.WARNING, logger="integrations.tiktok.webhooks"):
        response = post(client, body_for(1, {"order_id": "9"}, notification_id="n9"))
        assert post(client, body_for(1, {"order_id": "9"}, notification_id="n9")).status_code == 429
    # then: refused before any parsing or decryption, logged once per window
    assert len([r for r in caplog.records if "rate_limited" in r.getMessage()]) == 1
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert decrypted == [] and WebhookEvent.objects.count() == 3 and len(enqueued) == 3
    # another source is not affected
    monkeypatch.undo()
    assert post(client, body_for(1, {"order_id": "9"}, notification_id="n9"), remote_addr="198.51.100.1").status_code == 200


def test_per_shop_limit_counts_every_address(client, tiktok_integration, enqueued, settings):
    # given
    settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS, settings.WEBHOOK_RATE_LIMIT_PER_SHOP = 0, 2
    assert post(client, body_for(1, {"order_id": "1"}, notification_id="n1"), remote_addr="198.51.100.1").status_code == 200
    assert post(client, body_for(1, {"order_id": "2"}, notification_id="n2"), remote_addr="198.51.100.2").status_code == 200
    # when
    response = post(client, body_for(1, {"order_id": "3"}, notification_id="n3"), remote_addr="198.51.100.3")
    # then
    assert response.status_code == 429 and response.has_header("Retry-After")
    assert WebhookEvent.objects.count() == 2
    # other shops have their own counter
    assert post(client, body_for(1, {"order_id": "3"}, shop_id="111"), remote_addr="198.51.100.3").status_code == 401


def test_forwarded_for_header_is_not_trusted_by_default(client, tiktok_integration, enqueued, settings):
    # given: one client rotating X-Forwarded-For
    settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS, settings.WEBHOOK_RATE_LIMIT_PER_SHOP = 1, 0
    body = body_for(1, {"order_id": "1"})
    sig = webhook_signature(app_key=APP_KEY, app_secret=APP_SECRET, body=body)
    statuses = [client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=sig,
                            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}", REMOTE_ADDR="203.0.113.7").status_code for i in range(2)]
    # then
    assert statuses == [200, 429]


def test_configured_proxy_header_names_the_client(client, tiktok_integration, enqueued, settings):
    # given: the reverse proxy overwrites X-Real-IP
    settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS, settings.WEBHOOK_RATE_LIMIT_PER_SHOP = 1, 0
    settings.WEBHOOK_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    statuses = []
    for i, real_ip in enumerate(["198.51.100.1", "198.51.100.2", "198.51.100.2"]):
        body = body_for(1, {"order_id": str(i)}, notification_id=f"n{i}")
        sig = webhook_signature(app_key=APP_KEY, app_secret=APP_SECRET, body=body)
        statuses.append(client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=sig,
                                    HTTP_X_REAL_IP=real_ip, REMOTE_ADDR="10.0.0.1").status_code)
    # then
    assert statuses == [200, 200, 429]


def test_oversized_body_is_413_and_stores_nothing(client, tiktok_integration, enqueued):
    body = body_for(1, {"order_id": "1", "pad": "x" * (300 * 1024)})
    assert post(client, body).status_code == 413 and nothing_stored()
