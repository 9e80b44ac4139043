"""Request and webhook signatures against the reference's published vectors (§2.4, §10.3)."""
from integrations.connectors.tiktok.signing import sign_request, string_to_sign, webhook_signature, webhook_verify

WEBHOOK_BODY = (b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,'
                b'"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}')
WEBHOOK_GOLDEN = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


def test_request_signature_matches_official_vector():
    query = {"app_key": "29a39d", "timestamp": "1623812664"}
    assert string_to_sign(app_secret="e59af819cc", path="/authorization/202309/shops", query=query) == (
        "e59af819cc/authorization/202309/shopsapp_key29a39dtimestamp1623812664e59af819cc")
    assert sign_request(app_secret="e59af819cc", path="/authorization/202309/shops", query=query) == (
        "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8")


def test_sign_and_access_token_are_left_out_of_the_signature():
    base = {"app_key": "29a39d", "timestamp": "1623812664"}
    with_extra = {**base, "sign": "whatever", "access_token": "tok"}
    assert sign_request(app_secret="e59af819cc", path="/authorization/202309/shops", query=with_extra) == (
        "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8")


def test_body_is_appended_after_sorted_params_as_sent():
    query = {"timestamp": "1696909648", "shop_cipher": "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK", "app_key": "68xu9ks5p4i8"}
    body = '{"address":"https://example.com/hook","event_type":"ORDER_STATUS_CHANGE"}'
    assert string_to_sign(app_secret="s", path="/event/202309/webhooks", query=query, body=body) == (
        "s/event/202309/webhooksapp_key68xu9ks5p4i8shop_cipherROW_xkMbgAAAeVAQra0eZWebFQq5aIKtimestamp1696909648" + body + "s")


def test_multipart_body_is_not_signed():
    query = {"app_key": "k", "timestamp": "1"}
    assert string_to_sign(app_secret="s", path="/p", query=query, body="--xx--", content_type="multipart/form-data; boundary=xx") == (
        "s/papp_kkeytimestamp1s".replace("app_kkey", "app_keyk"))


def test_webhook_signature_matches_golden_vector():
    assert webhook_signature(app_key="abcdef", app_secret="123", body=WEBHOOK_BODY) == WEBHOOK_GOLDEN
    assert webhook_verify(app_key="abcdef", app_secret="123", body=WEBHOOK_BODY, signature=WEBHOOK_GOLDEN) is True


def test_webhook_verify_rejects_tampered_body_wrong_secret_and_empty_header():
    assert webhook_verify(app_key="abcdef", app_secret="123", body=WEBHOOK_BODY + b" ", signature=WEBHOOK_GOLDEN) is False
    assert webhook_verify(app_key="abcdef", app_secret="124", body=WEBHOOK_BODY, signature=WEBHOOK_GOLDEN) is False
    assert webhook_verify(app_key="abcdef", app_secret="123", body=WEBHOOK_BODY, signature="") is False
