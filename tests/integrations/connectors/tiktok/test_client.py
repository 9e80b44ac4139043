"""The signed client: wire format, error classes (§3.2), token refresh, base URLs, request budget."""
import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok import tokens, transport
from integrations.connectors.tiktok.client import TikTokClient, base_urls, budget_for
from integrations.connectors.tiktok.signing import sign_request
from integrations.exceptions import AuthError, PermanentError, RateLimitedError, TransientError
from tests.integrations.connectors.tiktok.conftest import ACCESS_TOKEN, APP_KEY, APP_SECRET, REFRESH_TOKEN, SHOP_CIPHER, SHOP_ID

pytestmark = pytest.mark.django_db

NEW_TOKENS = {"access_token": "TTP_access_token_2", "access_token_expire_in": 1893456000,
              "refresh_token": "TTP_refresh_token_2", "refresh_token_expire_in": 1924992000,
              "open_id": "open-1", "seller_name": "Seller", "seller_base_region": "US", "user_type": 0}


def _client(integration, clock=lambda: 1700000000):
    client = TikTokClient.for_integration(integration)
    client.clock = clock
    return client


def test_api_signs_query_and_body_and_sends_token_header(tiktok_integration, tiktok_api):
    # given
    tiktok_api.ok("POST", c.PATH_ORDERS_SEARCH, data={"orders": [], "next_page_token": ""})
    # when
    data = _client(tiktok_integration).orders_search(body={"update_time_ge": 1, "update_time_lt": 2})
    # then
    assert data == {"orders": [], "next_page_token": ""}
    call = tiktok_api.calls_to(c.PATH_ORDERS_SEARCH)[0]
    query = tiktok_api.query(call)
    assert query["app_key"] == APP_KEY and query["shop_cipher"] == SHOP_CIPHER and query["timestamp"] == "1700000000"
    assert query["page_size"] == "100" and query["sort_field"] == "update_time" and query["sort_order"] == "ASC"
    assert call.request.headers["x-tts-access-token"] == ACCESS_TOKEN
    body_text = call.request.body.decode()
    assert json.loads(body_text) == {"update_time_ge": 1, "update_time_lt": 2}
    unsigned = {k: v for k, v in query.items() if k != "sign"}
    assert query["sign"] == sign_request(app_secret=APP_SECRET, path=c.PATH_ORDERS_SEARCH, query=unsigned, body=body_text)


def test_array_query_values_are_comma_joined_and_shop_free_calls_have_no_cipher(tiktok_integration, tiktok_api):
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [{"id": "1"}, {"id": "2"}]})
    tiktok_api.ok("GET", c.PATH_AUTHORIZED_SHOPS, data={"shops": [{"id": "9"}]})
    client = _client(tiktok_integration)
    assert [o["id"] for o in client.orders_get(ids=["1", "2"])] == ["1", "2"]
    assert client.authorized_shops() == [{"id": "9"}]
    assert tiktok_api.query(tiktok_api.calls_to(c.PATH_ORDERS_DETAIL)[0])["ids"] == "1,2"
    assert "shop_cipher" not in tiktok_api.query(tiktok_api.calls_to(c.PATH_AUTHORIZED_SHOPS)[0])


@pytest.mark.parametrize("status,code,message,error_class", [
    (429, 36009002, "Too many requests", RateLimitedError),
    (200, 36009002, "Too many requests", RateLimitedError),
    (503, 36009003, "Internal error", TransientError),
    (200, 36009003, "Internal error", TransientError),
    (401, 106001, "Invalid sign", AuthError),
    (200, 105005, "Access denied: missing scope", AuthError),
    (200, 36009004, "Invalid app_key", AuthError),
    (200, 25001021, "Reason not match order status", PermanentError),
    (400, 12052055, "quantity out of limits", PermanentError),
])
def test_error_classes(tiktok_integration, tiktok_api, status, code, message, error_class):
    tiktok_api.error("POST", c.PATH_CANCEL_ORDER, code=code, message=message, status=status)
    with pytest.raises(error_class) as info:
        _client(tiktok_integration).order_cancel(order_id="1", cancel_reason="seller_cancel_reason_out_of_stock")
    assert info.type is error_class or issubclass(info.type, error_class)
    assert info.value.code == code
    if error_class is not RateLimitedError:
        assert message in str(info.value)


def test_rate_limit_keeps_retry_after(tiktok_integration, tiktok_api):
    tiktok_api.error("POST", c.PATH_CANCEL_ORDER, code=36009002, status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitedError) as info:
        _client(tiktok_integration).order_cancel(order_id="1", cancel_reason="x")
    assert info.value.retry_after == 7.0


def test_expired_token_is_refreshed_once_and_the_call_retried(tiktok_integration, tiktok_api):
    # given: first answer says the token expired, the retry succeeds
    tiktok_api.error("GET", c.PATH_AUTHORIZED_SHOPS, code=105002, message="Expired access token")
    tiktok_api.ok("GET", c.PATH_AUTHORIZED_SHOPS, data={"shops": [{"id": "9"}]})
    tiktok_api.ok("GET", c.PATH_TOKEN_REFRESH, data=NEW_TOKENS)
    # when
    shops = _client(tiktok_integration).authorized_shops()
    # then: both tokens persisted, retry used the new token
    assert shops == [{"id": "9"}]
    refresh_call = tiktok_api.calls_to(c.PATH_TOKEN_REFRESH)
    assert len(refresh_call) == 1
    assert tiktok_api.query(refresh_call[0]) == {"app_key": APP_KEY, "app_secret": APP_SECRET, "refresh_token": REFRESH_TOKEN,
                                                 "grant_type": "refresh_token"}
    calls = tiktok_api.calls_to(c.PATH_AUTHORIZED_SHOPS)
    assert [call.request.headers["x-tts-access-token"] for call in calls] == [ACCESS_TOKEN, "TTP_access_token_2"]
    tiktok_integration.refresh_from_db()
    creds = tiktok_integration.get_credentials()
    assert (creds["access_token"], creds["refresh_token"]) == ("TTP_access_token_2", "TTP_refresh_token_2")
    assert tiktok_integration.auth_expires_at.timestamp() == 1893456000
    assert "TTP_access_token_2" not in tiktok_integration.credentials_encrypted  # encrypted at rest


def test_expired_token_twice_gives_auth_error_after_one_refresh(tiktok_integration, tiktok_api):
    tiktok_api.error("GET", c.PATH_AUTHORIZED_SHOPS, code=105002, message="Expired access token")
    tiktok_api.ok("GET", c.PATH_TOKEN_REFRESH, data=NEW_TOKENS)
    with pytest.raises(AuthError):
        _client(tiktok_integration).authorized_shops()
    assert len(tiktok_api.calls_to(c.PATH_TOKEN_REFRESH)) == 1
    assert len(tiktok_api.calls_to(c.PATH_AUTHORIZED_SHOPS)) == 2


def test_token_is_refreshed_ahead_of_expiry(tiktok_integration, tiktok_api):
    # given: the access token expires in 2 hours (inside the 24 h margin)
    tiktok_integration.auth_expires_at = timezone.now() + timedelta(hours=2)
    tiktok_integration.save(update_fields=["auth_expires_at"])
    tiktok_api.ok("GET", c.PATH_TOKEN_REFRESH, data=NEW_TOKENS)
    tiktok_api.ok("GET", c.PATH_AUTHORIZED_SHOPS, data={"shops": []})
    # when
    _client(tiktok_integration).authorized_shops()
    # then: refreshed before the call, which used the new token
    assert len(tiktok_api.calls_to(c.PATH_TOKEN_REFRESH)) == 1
    assert tiktok_api.calls_to(c.PATH_AUTHORIZED_SHOPS)[0].request.headers["x-tts-access-token"] == "TTP_access_token_2"


def test_token_far_from_expiry_is_not_refreshed(tiktok_integration, tiktok_api):
    tiktok_api.ok("GET", c.PATH_AUTHORIZED_SHOPS, data={"shops": []})
    _client(tiktok_integration).authorized_shops()
    assert tiktok_api.calls_to(c.PATH_TOKEN_REFRESH) == []


def test_refresh_rejected_is_auth_error_and_keeps_old_tokens(tiktok_integration, tiktok_api):
    tiktok_api.error("GET", c.PATH_TOKEN_REFRESH, code=105002, message="refresh token expired")
    with pytest.raises(AuthError):
        tokens.token_refresh(integration=tiktok_integration, stale_access_token=ACCESS_TOKEN)
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.get_credentials()["refresh_token"] == REFRESH_TOKEN


def test_unbound_integration_refuses_shop_calls(tiktok_integration, tiktok_api):
    tiktok_integration.remote_state = {}
    with pytest.raises(AuthError, match="not bound to a shop"):
        TikTokClient.for_integration(tiktok_integration).orders_get(ids=["1"])
    assert len(tiktok_api.mock.calls) == 0


def test_base_urls_production_override_and_sandbox(tiktok_integration):
    assert base_urls(tiktok_integration) == (c.API_BASE_URL, c.AUTH_BASE_URL)
    tiktok_integration.remote_state["api_base_url"] = "http://127.0.0.1:9000/tts/"
    assert base_urls(tiktok_integration) == ("http://127.0.0.1:9000/tts", "http://127.0.0.1:9000/tts")
    tiktok_integration.environment = "sandbox"
    with override_settings(SANDBOX_ENABLED=True, SITE_URL="http://127.0.0.1:8000"):
        assert base_urls(tiktok_integration) == ("http://127.0.0.1:8000/integrations/sandbox/tiktok",) * 2


def test_every_request_takes_a_slot_of_the_shops_shared_rate_limit(tiktok_integration, tiktok_api, monkeypatch):
    # given: two clients of one shop (as two workers would build them)
    slots = []
    monkeypatch.setattr(transport, "outbound_slot_acquire", lambda **kw: slots.append(kw) or 0.0)
    tiktok_api.ok("POST", c.PATH_ORDERS_SEARCH, data={"orders": [], "next_page_token": ""})
    # when
    for _ in range(2):
        TikTokClient.for_integration(tiktok_integration).orders_search(body={"update_time_ge": 1, "update_time_lt": 2})
    # then: one slot per request, under one key per shop, at the configured QPS (tests' TIKTOK_QPS: conftest)
    assert slots == [{"key": f"tiktok:{SHOP_ID}", "limit": 1000, "per_seconds": 1}] * 2


def test_default_rate_is_the_connector_default_and_a_slow_rate_spreads_over_seconds(tiktok_integration, settings, monkeypatch):
    del settings.TIKTOK_QPS
    assert budget_for(tiktok_integration).rate_per_second == c.DEFAULT_QPS
    slots = []
    monkeypatch.setattr(transport, "outbound_slot_acquire", lambda **kw: slots.append(kw) or 0.0)
    transport.ShopRateLimit(key="k", qps=0.5).acquire()
    assert slots == [{"key": "k", "limit": 1, "per_seconds": 2}]


def test_rate_limited_answer_with_retry_after_pauses_the_shop_for_every_worker(tiktok_integration, tiktok_api, monkeypatch):
    pauses = []
    monkeypatch.setattr(transport, "outbound_pause", lambda **kw: pauses.append(kw))
    tiktok_api.error("POST", c.PATH_ORDERS_SEARCH, code=36009002, status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitedError):
        TikTokClient.for_integration(tiktok_integration).orders_search(body={})
    assert pauses == [{"key": f"tiktok:{SHOP_ID}", "seconds": 7.0}]


def test_per_item_errors_inside_a_success_answer_are_exposed(tiktok_integration, tiktok_api):
    tiktok_api.ok("POST", c.PATH_CANCEL_ORDER, data={"errors": [{"code": 12052055, "message": "quantity out of limits",
                                                                 "detail": {"sku_id": "1"}}]})
    data = _client(tiktok_integration).order_cancel(order_id="1", cancel_reason="x")
    assert TikTokClient.item_errors(data) == [{"code": 12052055, "message": "quantity out of limits", "detail": {"sku_id": "1"}}]
    assert TikTokClient.item_errors({}) == []


def test_cancel_reason_adapts_to_status_and_market():
    from integrations.connectors.tiktok.flows_orders import cancel_reason_for

    default = "seller_cancel_reason_out_of_stock"
    assert cancel_reason_for(reason="", default=default, order_status="AWAITING_SHIPMENT", region="US") == default
    assert cancel_reason_for(reason="seller_cancel_reason_wrong_price", default=default, order_status="AWAITING_SHIPMENT",
                             region="US") == "seller_cancel_reason_wrong_price"
    assert cancel_reason_for(reason="free text", default=default, order_status="UNPAID", region="US") == (
        "seller_cancel_unpaid_reason_out_of_stock")
    assert cancel_reason_for(reason="", default=default, order_status="ON_HOLD", region="GB") == "seller_cancel_reason_out_of_stock_uk"


def test_budget_throttles_calls_beyond_the_per_shop_rate(tiktok_integration, tiktok_api):
    from integrations.http import RequestBudget

    slept = []
    tiktok_api.ok("GET", c.PATH_AUTHORIZED_SHOPS, data={"shops": []})
    client = _client(tiktok_integration)
    client.budget = RequestBudget(rate_per_second=2.0, sleep=slept.append, clock=lambda: 100.0)
    for _ in range(4):
        client.authorized_shops()
    assert slept == [0.5, 0.5]  # 2 in the bucket, then wait for each further token


def test_token_calls_never_log_the_secret_or_tokens(tiktok_integration, tiktok_api, caplog):
    import logging

    tiktok_api.ok("GET", c.PATH_TOKEN_REFRESH, data=NEW_TOKENS)
    with caplog.at_level(logging.DEBUG):
        tokens.token_refresh(integration=tiktok_integration, stale_access_token=ACCESS_TOKEN)
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert APP_SECRET not in text and REFRESH_TOKEN not in text and "TTP_access_token_2" not in text
