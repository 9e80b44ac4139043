"""Pure shape checks of a TikTok webhook body (reference §10.2). No I/O, no Django.

A body is refused whole (`WebhookPayloadError`, answered 400) when any part we store or act on cannot be
processed: the endpoint stores nothing partial. Topics we only store are checked for storability only."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from integrations.connectors.tiktok import constants as c

# TikTok webhook bodies are a few hundred bytes (package updates list a few packages); 256 KiB is generous.
MAX_BODY_BYTES = 256 * 1024
# Nesting deeper than this is no TikTok payload (they nest 3 levels); refused before any recursion.
MAX_DEPTH = 16
# WebhookEvent.type is a PostgreSQL integer column.
MAX_TOPIC = 2 ** 31 - 1
# 9999-12-31T23:59:59Z, the last second a Python datetime holds.
MAX_TIMESTAMP = 253_402_300_799
# Ids (notification, shop, order, package, return, product) are numeric strings in TikTok's docs; the columns
# holding them (WebhookEvent.tts_notification_id, shop_id) are 64 characters.
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

ORDER_ID_TOPICS = frozenset({c.WEBHOOK_ORDER_STATUS, c.WEBHOOK_REVERSE_STATUS, c.WEBHOOK_ADDRESS_UPDATE,
                             c.WEBHOOK_CANCELLATION_STATUS})
CATALOG_ID_TOPICS = frozenset({c.WEBHOOK_RETURN_STATUS, c.WEBHOOK_PRODUCT_STATUS, c.WEBHOOK_PRODUCT_INFORMATION,
                               c.WEBHOOK_PRODUCT_CREATION})
CATALOG_ID_FIELDS = ("order_id", "return_id", "product_id")


class WebhookPayloadError(ValueError):
    """The body cannot be processed; the message names the field (never echoes values)."""


class WebhookBodyTooLarge(WebhookPayloadError):
    pass


@dataclass(frozen=True)
class WebhookPayload:
    notification_id: str
    topic: int
    shop_id: str
    data: dict
    raw: dict


def _refuse_constant(name: str):
    raise WebhookPayloadError(f"{name} is not JSON")


def webhook_body_parse(body: bytes) -> dict:
    """The body as a JSON object whose every value a JSON column can store (no NaN/Infinity, no NUL, no lone
    surrogate, bounded size and depth)."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookBodyTooLarge(f"body over {MAX_BODY_BYTES} bytes")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except WebhookPayloadError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookPayloadError("body is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise WebhookPayloadError("body is not a JSON object")
    _check_storable(value)
    return value


def _check_storable(root: dict) -> None:
    stack = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WebhookPayloadError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise WebhookPayloadError("number out of range")


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise WebhookPayloadError("NUL character in a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise WebhookPayloadError("invalid Unicode in a string") from None


def _id(value, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise WebhookPayloadError(f"{field} is not an id")
    text = str(value)
    if not _ID.fullmatch(text):
        raise WebhookPayloadError(f"{field} is not an id")
    return text


def _optional_id(data: dict, field: str) -> None:
    if data.get(field) not in (None, ""):
        _id(data[field], f"data.{field}")


def webhook_shop_id(payload: dict) -> str:
    """The shop the body names: the key to the one integration whose app secret verifies it."""
    if payload.get("shop_id") in (None, ""):
        raise WebhookPayloadError("shop_id missing")
    return _id(payload["shop_id"], "shop_id")


def webhook_payload_validate(payload: dict) -> WebhookPayload:
    """Top-level fields, and the `data` fields of the topics we act on (reference §10.2)."""
    if payload.get("tts_notification_id") in (None, ""):
        raise WebhookPayloadError("tts_notification_id missing")
    notification_id = _id(payload["tts_notification_id"], "tts_notification_id")
    topic = payload.get("type")
    if isinstance(topic, bool) or not isinstance(topic, int) or not 0 <= topic <= MAX_TOPIC:
        raise WebhookPayloadError("type is not a topic id")
    data = payload.get("data")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise WebhookPayloadError("data is not an object")
    _check_topic_data(topic, data)
    return WebhookPayload(notification_id=notification_id, topic=topic, shop_id=webhook_shop_id(payload), data=data,
                          raw=payload)


def _check_topic_data(topic: int, data: dict) -> None:
    if topic in ORDER_ID_TOPICS:
        _optional_id(data, "order_id")
    elif topic == c.WEBHOOK_PACKAGE_UPDATE:
        packages = data.get("package_list")
        if packages is not None and not isinstance(packages, list):
            raise WebhookPayloadError("data.package_list is not a list")
        for package in packages or []:
            if not isinstance(package, dict):
                raise WebhookPayloadError("data.package_list item is not an object")
            order_ids = package.get("order_id_list")
            if order_ids is not None and not isinstance(order_ids, list):
                raise WebhookPayloadError("data.package_list.order_id_list is not a list")
            for order_id in order_ids or []:
                _id(order_id, "data.package_list.order_id_list item")
    elif topic in CATALOG_ID_TOPICS:
        for field in CATALOG_ID_FIELDS:
            _optional_id(data, field)
    elif topic in (c.WEBHOOK_DEAUTHORIZATION, c.WEBHOOK_UPCOMING_EXPIRATION):
        if data.get("message") is not None and not isinstance(data["message"], str):
            raise WebhookPayloadError("data.message is not text")
        if topic == c.WEBHOOK_UPCOMING_EXPIRATION:
            _check_timestamp(data.get("expiration_time"), "data.expiration_time")


def _check_timestamp(value, field: str) -> None:
    if value in (None, ""):
        return
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIMESTAMP:
        raise WebhookPayloadError(f"{field} is not a Unix time")
