import json
import time
from urllib.parse import urlencode

import pytest

from integrations.sandbox import services

APP_KEY, APP_SECRET = "sbx_app_key", "sbx_app_secret"
PREFIX = services.SANDBOX_PREFIX


@pytest.fixture
def emu_app(db):
    return services.app_ensure(app_key=APP_KEY, app_secret=APP_SECRET, redirect_url="http://127.0.0.1:8000/cb/")


@pytest.fixture
def emu_shop(emu_app):
    shop = services.shop_create(app=emu_app, name="Sandbox US", region="US", remorse_seconds=60, webhooks_enabled=False)
    services.product_create(shop=shop, title="Basic Tee", skus=[
        {"seller_sku": "TEE-BLK-M", "name": "Black, M", "price": "19.99", "quantity": 50},
        {"seller_sku": "TEE-BLK-L", "name": "Black, L", "price": "19.99", "quantity": 50},
    ])
    return shop


@pytest.fixture
def emu_token(emu_shop):
    return services.token_set_direct(shop=emu_shop)


@pytest.fixture
def tiktok_call(client, emu_shop, emu_token):
    """Signed call as the TikTok client makes it: returns (status, json)."""

    def call(method, path, query=None, body=None, *, token=None, cipher=True, secret=APP_SECRET, ts=None, sign=None):
        q = {"app_key": APP_KEY, "timestamp": str(ts or int(time.time()))}
        if cipher:
            q["shop_cipher"] = emu_shop.cipher
        q.update({k: str(v) for k, v in (query or {}).items()})
        body_text = json.dumps(body, separators=(",", ":")) if body is not None else ""
        q["sign"] = sign or services.sign(app_secret=secret, path=path, query=q, body=body_text)
        url = f"{PREFIX}{path}?{urlencode(q)}"
        headers = {"HTTP_X_TTS_ACCESS_TOKEN": emu_token["access_token"] if token is None else token}
        if method == "GET":
            resp = client.get(url, **headers)
        else:
            resp = getattr(client, method.lower())(url, data=body_text, content_type="application/json", **headers)
        return resp.status_code, resp.json()

    return call
