"""Pure shape checks of webhook bodies (no database)."""
import json

import pytest

from integrations.connectors.tiktok.webhook_payload import (
    MAX_BODY_BYTES, WebhookBodyTooLarge, WebhookPayload, WebhookPayloadError, webhook_body_parse, webhook_payload_validate,
    webhook_shop_id,
)
from tests.integrations.connectors.tiktok.test_signing import WEBHOOK_BODY


def test_golden_body_parses_to_its_fields():
    raw = webhook_body_parse(WEBHOOK_BODY.encode() if isinstance(WEBHOOK_BODY, str) else WEBHOOK_BODY)
    assert webhook_shop_id(raw) == "7495540735365777507"
    assert webhook_payload_validate(raw) == WebhookPayload(
        notification_id="7380066284010030890", topic=1, shop_id="7495540735365777507", raw=raw,
        data={"is_on_hold_order": True, "order_id": "576653688135258178", "order_status": "UNPAID", "update_time": 1718305585})


@pytest.mark.parametrize("body, message", [
    (b"[]", "body is not a JSON object"),
    (b'{"a": Infinity}', "Infinity is not JSON"),
    (b'{"a": 1e400}', "number out of range"),
    (json.dumps({"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}).encode(), "nested deeper than 16 levels"),
    (b'{"a\\u0000": 1}', "NUL character in a string"),
], ids=["array_case", "infinity_case", "overflowing_float_case", "depth_case", "nul_in_key_case"])
def test_body_parse_refuses(body, message):
    with pytest.raises(WebhookPayloadError) as exc:
        webhook_body_parse(body)
    assert str(exc.value) == message


def test_body_over_the_cap_is_too_large():
    with pytest.raises(WebhookBodyTooLarge):
        webhook_body_parse(b" " * (MAX_BODY_BYTES + 1))


@pytest.mark.parametrize("expiration_case", [None, "", 0, 1_900_000_000, "1900000000", 253_402_300_799])
def test_expiration_times_that_a_datetime_holds_are_accepted(expiration_case):
    payload = {"type": 7, "tts_notification_id": "1", "shop_id": "2", "data": {"expiration_time": expiration_case}}
    assert webhook_payload_validate(payload).topic == 7


@pytest.mark.parametrize("expiration_case", [253_402_300_800, -1, 1.5, True, "1e9", "x"])
def test_expiration_times_out_of_range_are_refused(expiration_case):
    payload = {"type": 7, "tts_notification_id": "1", "shop_id": "2", "data": {"expiration_time": expiration_case}}
    with pytest.raises(WebhookPayloadError, match="data.expiration_time is not a Unix time"):
        webhook_payload_validate(payload)
