"""Shared TikTok fixtures (both halves of the connector use them).

- `tiktok_integration`: a connected TikTok integration bound to shop SHOP_ID (cipher SHOP_CIPHER), with
  app key/secret and a valid token pair in its encrypted credentials, token expiry 7 days ahead.
- `tiktok_api`: the `responses` mock with helpers to answer TikTok endpoints in the envelope shape:
  `tiktok_api.ok("POST", "/order/202309/orders/search", data={...})`,
  `tiktok_api.error("GET", path, code=105002, message="...", status=200)`,
  `tiktok_api.fixture("GET", path, "orders_detail__standard.json")` (file under fixtures/), and
  `tiktok_api.calls_to(path)` → the intercepted calls for a path.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from integrations import services
from integrations.connectors.tiktok import constants as c

FIXTURES = Path(__file__).parent / "fixtures"
APP_KEY, APP_SECRET, SERVICE_ID = "29a39d", "e59af819cc", "svc-7001"
SHOP_ID, SHOP_CIPHER, SHOP_REGION = "7494049642642441621", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK", "US"
ACCESS_TOKEN, REFRESH_TOKEN = "TTP_access_token_1", "TTP_refresh_token_1"


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def envelope(data: dict | None = None, *, code: int = 0, message: str = "Success") -> dict:
    return {"code": code, "message": message, "request_id": "20250611081532010258114220000000", "data": data or {}}


class TikTokApi:
    """Thin helper over `responses` for the TikTok business and auth hosts."""

    def __init__(self, mock, base_url: str = c.API_BASE_URL, auth_base_url: str = c.AUTH_BASE_URL):
        self.mock, self.base_url, self.auth_base_url = mock, base_url, auth_base_url

    def _url(self, path: str):
        host = self.auth_base_url if path.startswith("/api/v2/token") else self.base_url
        return re.compile(re.escape(f"{host}{path}") + r"(\?.*)?$")

    def ok(self, method: str, path: str, data: dict | None = None, **kwargs):
        return self.mock.add(method, self._url(path), json=envelope(data), **kwargs)

    def error(self, method: str, path: str, *, code: int, message: str = "error", status: int = 200, **kwargs):
        return self.mock.add(method, self._url(path), json=envelope(None, code=code, message=message), status=status, **kwargs)

    def fixture(self, method: str, path: str, name: str, **kwargs):
        return self.mock.add(method, self._url(path), json=load_fixture(name), **kwargs)

    def calls_to(self, path: str) -> list:
        return [call for call in self.mock.calls if urlsplit(call.request.url).path.endswith(path)]

    @staticmethod
    def query(call) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}

    @staticmethod
    def body(call) -> dict:
        return json.loads(call.request.body) if call.request.body else {}


@pytest.fixture(autouse=True)
def _fast_request_budget(settings):
    """The per-shop budget would sleep in tests making many calls; keep it but make it roomy."""
    settings.TIKTOK_QPS = 1000.0


@pytest.fixture
def tiktok_api(responses):
    return TikTokApi(responses)


@pytest.fixture
def tiktok_integration(db):
    integration = services.integration_create(
        name="TikTok US", connector="tiktok", environment="production",
        credentials={"app_key": APP_KEY, "app_secret": APP_SECRET, "service_id": SERVICE_ID,
                     "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN},
    )
    expires = timezone.now() + timedelta(days=7)
    integration.remote_state = {
        "shop_id": SHOP_ID, "shop_cipher": SHOP_CIPHER, "shop_region": SHOP_REGION, "shop_name": "Test Shop US",
        "access_token_expires_at": expires.isoformat(),
        "refresh_token_expires_at": (timezone.now() + timedelta(days=365)).isoformat(),
    }
    integration.remote_account_id = SHOP_ID
    integration.auth_expires_at = expires
    integration.status = integration.Status.CONNECTED
    # Connected an hour ago: a pull's first window runs from the creation time to SAFETY_LAG before the run
    # (paging.py), so right after creation it would be empty.
    integration.created_at = timezone.now() - timedelta(hours=1)
    integration.save()
    return integration


# --- product images (images.py): image hosts and TikTok's Upload Product Image ---

def png_bytes(width: int = 600, height: int = 600) -> bytes:
    """A PNG header TikTok's checks read (signature + IHDR with the size); enough for magic bytes and dimensions."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def uploaded_uri(filename: str, use_case: str) -> str:
    return f"tos-useast5-i/{use_case.lower()}/{filename}"


@pytest.fixture
def tiktok_images(tiktok_api):
    """Every https://cdn.example/* URL answers a 600x600 PNG; Upload Product Image answers
    uri `uploaded_uri(<filename>, <use_case>)`; Get Brands answers no brand."""
    from integrations.connectors.tiktok import endpoints_catalog as ep

    mock = tiktok_api.mock
    mock.add("GET", re.compile(r"https://cdn\.example/.*"), body=png_bytes(), content_type="image/png")

    def upload(request):
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        filename = re.search(rb'filename="([^"]+)"', body).group(1).decode()
        use_case = re.search(rb'name="use_case"\r\n\r\n([A-Z_]+)', body).group(1).decode()
        data = {"uri": uploaded_uri(filename, use_case), "url": f"https://p16.tiktokcdn.com/{filename}", "width": 600,
                "height": 600, "use_case": use_case}
        return 200, {}, json.dumps(envelope(data))

    mock.add_callback("POST", tiktok_api._url(ep.PATH_IMAGES_UPLOAD), callback=upload, content_type="application/json")
    tiktok_api.ok("GET", ep.PATH_BRANDS, data={"brands": [], "next_page_token": ""})
    return tiktok_api
