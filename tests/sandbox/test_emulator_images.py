"""TikTok emulator: Upload Product Image (multipart, body not signed) and Get Brands."""
import struct
import time
import zlib
from urllib.parse import urlencode

from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.sandbox import services

from .conftest import APP_KEY, APP_SECRET, PREFIX

UPLOAD = "/product/202309/images/upload"


def png(width=600, height=600) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def upload(client, token, *, content, use_case="MAIN_IMAGE", secret=APP_SECRET, cipher=None):
    q = {"app_key": APP_KEY, "timestamp": str(int(time.time()))}
    if cipher:
        q["shop_cipher"] = cipher
    q["sign"] = services.sign(app_secret=secret, path=UPLOAD, query=q, content_type="multipart/form-data")
    data = {"use_case": use_case}
    if content is not None:
        data["data"] = SimpleUploadedFile("tee.png", content, content_type="image/png")
    resp = client.post(f"{PREFIX}{UPLOAD}?{urlencode(q)}", data=data, HTTP_X_TTS_ACCESS_TOKEN=token["access_token"])
    return resp.status_code, resp.json()


def test_upload_returns_a_deterministic_uri_for_the_bytes(client, emu_token):
    status, first = upload(client, emu_token, content=png(640, 480))
    _, again = upload(client, emu_token, content=png(640, 480))
    _, other = upload(client, emu_token, content=png(800, 800), use_case="ATTRIBUTE_IMAGE")

    assert status == 200 and first["code"] == 0, first
    data = first["data"]
    assert data["uri"].startswith("tos-emu-i-sandbox/") and (data["width"], data["height"]) == (640, 480)
    assert data["use_case"] == "MAIN_IMAGE"
    assert again["data"]["uri"] == data["uri"]
    assert other["data"]["uri"] != data["uri"] and other["data"]["use_case"] == "ATTRIBUTE_IMAGE"


def test_upload_with_a_bad_signature_is_rejected(client, emu_token):
    status, payload = upload(client, emu_token, content=png(), secret="wrong")

    assert (status, payload["code"], payload["data"]) == (401, 106001, {})


def test_upload_refuses_shop_cipher_bad_use_case_missing_file_and_non_images(client, emu_shop, emu_token):
    assert upload(client, emu_token, content=png(), cipher=emu_shop.cipher)[1]["code"] == 36009004
    assert upload(client, emu_token, content=png(), use_case="BANNER")[1]["code"] == 12019001
    assert upload(client, emu_token, content=None)[1]["code"] == 12019001
    assert upload(client, emu_token, content=b"GIF89a....")[1]["code"] == 12019002


def test_brands_filtered_by_name(tiktok_call):
    status, payload = tiktok_call("GET", "/product/202309/brands", {"brand_name": "acme", "page_size": 100})

    assert status == 200 and payload["code"] == 0
    assert [b["name"] for b in payload["data"]["brands"]] == ["Acme"]
    assert payload["data"]["brands"][0]["id"] == "7082427311584347906"


def test_client_uploads_to_the_emulator_through_its_multipart_path(live_server, settings, emu_shop, emu_token):
    from integrations.connectors.tiktok.client import TikTokClient

    client = TikTokClient(app_key=APP_KEY, app_secret=APP_SECRET, access_token=emu_token["access_token"],
                          shop_cipher=emu_shop.cipher, base_url=f"{live_server.url}{PREFIX}")

    data = client.upload_product_image(content=png(), filename="tee.png", use_case="MAIN_IMAGE")
    found = client.get_brands(brand_name="Switchyard Basics")

    assert data["uri"].startswith("tos-emu-i-sandbox/") and data["width"] == 600
    assert [b["id"] for b in found["brands"]] == ["7082427311584347905"]
