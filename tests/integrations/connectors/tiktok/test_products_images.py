"""Product images (Upload Product Image, multipart signing, cache) and brand resolution in the product push."""
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok import images as img
from integrations.connectors.tiktok.client import TikTokClient
from integrations.connectors.tiktok.signing import sign_request
from integrations.models import OutboundPush

from .conftest import ACCESS_TOKEN, APP_KEY, APP_SECRET, SHOP_CIPHER, png_bytes

FX = "catalog/"
CATEGORY = "601226"
TEE_URL = "https://cdn.example/tee.jpg"


def run(integration, *, dry_run=False):
    return services.flow_run(flow_state=integration.flow_states.get(flow="push_products"), dry_run=dry_run)


def configure(integration, **values):
    services.integration_update_settings(integration=integration, values=values)
    integration.refresh_from_db()


@pytest.fixture
def tee(db):
    parent = Product.objects.create(
        sku="TEE", kind="parent", name="Organic Cotton Tee with a striped pattern for every day", category=CATEGORY,
        description_html="<p>Soft organic cotton.</p><ul><li>Striped</li></ul>", images=[TEE_URL],
        price=Decimal("19.99"), weight=Decimal("0.40"), weight_unit="lb", custom_fields={"material": "Organic Cotton", "pattern": "Striped"})
    red = Product.objects.create(sku="TEE-RED-M", kind="variant", parent=parent, name="Tee red", price=Decimal("19.99"),
                                 variant_options={"color": "Red"}, images=["https://cdn.example/red.png"])
    return parent, red


@pytest.fixture
def catalog_api(tiktok_api):
    tiktok_api.fixture("GET", ep.PATH_CATEGORY_ATTRIBUTES.format(category_id=CATEGORY), FX + "category_attributes__tshirts.json")
    tiktok_api.fixture("GET", ep.PATH_CATEGORY_RULES.format(category_id=CATEGORY), FX + "category_rules__none_required.json")
    tiktok_api.fixture("POST", ep.PATH_PRODUCTS, FX + "product_create__ok.json")
    return tiktok_api


@pytest.fixture
def api(catalog_api, tiktok_images):
    return tiktok_images


def image_pushes(integration):
    return list(OutboundPush.objects.filter(integration=integration, kind=img.KIND_IMAGE_UPLOAD).order_by("pk"))


# --- client: multipart signing ---

def test_upload_product_image_is_multipart_signed_without_body_and_without_shop_cipher(tiktok_api):
    tiktok_api.ok("POST", ep.PATH_IMAGES_UPLOAD, data={"uri": "tos-x/abc", "url": "https://p16/abc", "width": 600,
                                                       "height": 600, "use_case": "MAIN_IMAGE"})
    client = TikTokClient(app_key=APP_KEY, app_secret=APP_SECRET, access_token=ACCESS_TOKEN, shop_cipher=SHOP_CIPHER,
                          clock=lambda: 1700000000)

    data = client.upload_product_image(content=png_bytes(), filename="tee.png", use_case="MAIN_IMAGE")

    assert data["uri"] == "tos-x/abc"
    (call,) = tiktok_api.calls_to(ep.PATH_IMAGES_UPLOAD)
    query = tiktok_api.query(call)
    assert "shop_cipher" not in query
    assert query["timestamp"] == "1700000000" and query["app_key"] == APP_KEY
    assert call.request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert call.request.headers["x-tts-access-token"] == ACCESS_TOKEN
    unsigned = {k: v for k, v in query.items() if k != "sign"}
    assert query["sign"] == sign_request(app_secret=APP_SECRET, path=ep.PATH_IMAGES_UPLOAD, query=unsigned)
    body = call.request.body
    assert b'name="use_case"\r\n\r\nMAIN_IMAGE' in body
    assert b'name="data"; filename="tee.png"' in body and png_bytes() in body
    assert query["sign"] != sign_request(app_secret=APP_SECRET, path=ep.PATH_IMAGES_UPLOAD, query=unsigned,
                                         body=body.decode("latin-1"))


def test_upload_product_image_rejects_an_unknown_use_case(tiktok_api):
    client = TikTokClient(app_key=APP_KEY, app_secret=APP_SECRET)

    with pytest.raises(ValueError):
        client.upload_product_image(content=png_bytes(), filename="a.png", use_case="BANNER")

    assert len(tiktok_api.mock.calls) == 0


def test_get_brands_sends_name_and_category_with_shop_cipher(tiktok_api):
    tiktok_api.ok("GET", ep.PATH_BRANDS, data={"brands": [{"id": "7082427311584347905", "name": "Acme"}]})
    client = TikTokClient(app_key=APP_KEY, app_secret=APP_SECRET, shop_cipher=SHOP_CIPHER)

    data = client.get_brands(brand_name="Acme", category_id=CATEGORY)

    assert data["brands"][0]["id"] == "7082427311584347905"
    query = tiktok_api.query(tiktok_api.calls_to(ep.PATH_BRANDS)[0])
    assert query["brand_name"] == "Acme" and query["category_id"] == CATEGORY and query["shop_cipher"] == SHOP_CIPHER
    assert query["page_size"] == "100"


# --- validation (pure) ---

def test_image_validate_accepts_png_and_reads_its_size():
    assert img.image_validate(png_bytes(600, 800), use_case=img.MAIN_IMAGE) == "png"
    assert img.image_dimensions(png_bytes(600, 800), "png") == (600, 800)


@pytest.mark.parametrize("_case, content, use_case, message", [
    ("html", b"<html>not found</html>", img.MAIN_IMAGE, "not a JPG, PNG, WEBP, HEIC or BMP image"),
    ("gif", b"GIF89a" + b"\0" * 20, img.MAIN_IMAGE, "not a JPG, PNG, WEBP, HEIC or BMP image"),
    ("too_large", b"\xff\xd8\xff" + b"\0" * img.MAX_BYTES, img.MAIN_IMAGE, "larger than 10 MB"),
    ("main_too_small", png_bytes(200, 200), img.MAIN_IMAGE, "200x200 px; TikTok needs 300-4000 px per side"),
    ("attribute_too_small", png_bytes(90, 400), img.ATTRIBUTE_IMAGE, "90x400 px; TikTok needs 100-20000 px per side"),
])
def test_image_validate_rejects_what_tiktok_rejects(_case, content, use_case, message):
    with pytest.raises(img.ImageError, match=message):
        img.image_validate(content, use_case=use_case)


def test_attribute_images_may_be_smaller_than_main_images():
    assert img.image_validate(png_bytes(200, 200), use_case=img.ATTRIBUTE_IMAGE) == "png"


def test_image_format_by_magic_bytes():
    assert img.image_format(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert img.image_format(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert img.image_format(b"\0\0\0\x18ftypheic") == "heic"
    assert img.image_format(b"BM\0\0") == "bmp"


# --- push: upload and cache ---

def test_push_uploads_the_main_image_once_and_sends_its_tiktok_uri(tiktok_integration, api, tee):
    first = run(tiktok_integration)
    configure(tiktok_integration, force_product_resync=True)
    ChannelOption.objects.update(remote_product_id="")
    second = run(tiktok_integration)

    assert first.status == "succeeded" and first.created == 1, first.errors
    assert second.created == 1, second.errors
    creates = api.calls_to(ep.PATH_PRODUCTS)
    assert len(creates) == 2
    assert [api.body(c)["main_images"] for c in creates] == [[{"uri": "tos-useast5-i/main_image/tee.jpg"}]] * 2
    assert len(api.calls_to(ep.PATH_IMAGES_UPLOAD)) == 1
    assert len([c for c in api.mock.calls if urlsplit(c.request.url).netloc == "cdn.example"]) == 1
    (push,) = image_pushes(tiktok_integration)
    assert push.status == OutboundPush.Status.SENT and push.attempts == 1
    assert push.idempotency_key == f"MAIN_IMAGE:{img.url_hash(TEE_URL)}"
    assert push.response["uri"] == "tos-useast5-i/main_image/tee.jpg"


def test_variant_images_are_uploaded_as_attribute_images(tiktok_integration, api, tee):
    configure(tiktok_integration, first_child_image_as_variant_image=True, product_update_properties=["price", "images"])

    run(tiktok_integration)

    body = api.body(api.calls_to(ep.PATH_PRODUCTS)[0])
    assert body["skus"][0]["sales_attributes"][0]["sku_img"] == {"uri": "tos-useast5-i/attribute_image/red.png"}
    assert sorted(p.idempotency_key.split(":")[0] for p in image_pushes(tiktok_integration)) == ["ATTRIBUTE_IMAGE", "MAIN_IMAGE"]


def test_image_fetch_error_is_a_readiness_problem_and_nothing_is_pushed(tiktok_integration, catalog_api, tee):
    catalog_api.mock.add("GET", TEE_URL, status=404)
    catalog_api.ok("GET", ep.PATH_BRANDS, data={"brands": []})

    sync = run(tiktok_integration)

    assert sync.created == 0 and sync.errors
    assert catalog_api.calls_to(ep.PATH_PRODUCTS) == [] and catalog_api.calls_to(ep.PATH_IMAGES_UPLOAD) == []
    option = ChannelOption.objects.get(product=tee[1])
    assert [p["field"] for p in option.readiness_problems] == ["images:1"]
    assert img.FETCH_ERROR in option.readiness_problems[0]["message"]
    assert option.last_pushed_fingerprint == "" and option.remote_product_id == ""
    (push,) = image_pushes(tiktok_integration)
    assert push.status == OutboundPush.Status.FAILED and push.last_error == img.FETCH_ERROR


def test_image_that_is_not_an_image_is_a_readiness_problem(tiktok_integration, catalog_api, tee):
    catalog_api.mock.add("GET", TEE_URL, body="<html>login</html>", content_type="text/html")
    catalog_api.ok("GET", ep.PATH_BRANDS, data={"brands": []})

    run(tiktok_integration)

    assert catalog_api.calls_to(ep.PATH_PRODUCTS) == [] and catalog_api.calls_to(ep.PATH_IMAGES_UPLOAD) == []
    problems = ChannelOption.objects.get(product=tee[1]).readiness_problems
    assert img.FETCH_ERROR in problems[0]["message"]  # refused by content type; one message for every fetch failure


def test_image_rejected_by_tiktok_is_a_readiness_problem(tiktok_integration, catalog_api, tee):
    catalog_api.mock.add("GET", TEE_URL, body=png_bytes(), content_type="image/png")
    catalog_api.error("POST", ep.PATH_IMAGES_UPLOAD, code=12019002, message="image is invalid", status=200)
    catalog_api.ok("GET", ep.PATH_BRANDS, data={"brands": []})

    run(tiktok_integration)

    assert catalog_api.calls_to(ep.PATH_PRODUCTS) == []
    problems = ChannelOption.objects.get(product=tee[1]).readiness_problems
    assert problems[0]["field"] == "images:1" and "TikTok rejected the image" in problems[0]["message"]


def test_dry_run_uploads_nothing(tiktok_integration, api, tee):
    sync = run(tiktok_integration, dry_run=True)

    assert sync.status == "succeeded", sync.errors
    assert api.calls_to(ep.PATH_IMAGES_UPLOAD) == [] and api.calls_to(ep.PATH_PRODUCTS) == []
    assert [c for c in api.mock.calls if urlsplit(c.request.url).netloc == "cdn.example"] == []
    assert image_pushes(tiktok_integration) == []


# --- brand ---

def test_known_brand_is_sent_as_brand_id(tiktok_integration, catalog_api, tee):
    Product.objects.filter(pk=tee[0].pk).update(brand="Acme")
    catalog_api.mock.add("GET", TEE_URL, body=png_bytes(), content_type="image/png")
    catalog_api.ok("POST", ep.PATH_IMAGES_UPLOAD, data={"uri": "tos-x/tee"})
    catalog_api.ok("GET", ep.PATH_BRANDS, data={"brands": [{"id": "7000", "name": "Acme Outdoor"}, {"id": "7001", "name": "acme"}]})

    sync = run(tiktok_integration)

    assert sync.created == 1, sync.errors
    body = catalog_api.body(catalog_api.calls_to(ep.PATH_PRODUCTS)[0])
    assert body["brand_id"] == "7001"
    query = catalog_api.query(catalog_api.calls_to(ep.PATH_BRANDS)[0])
    assert query["brand_name"] == "Acme" and query["category_id"] == CATEGORY
    assert ChannelOption.objects.get(product=tee[1]).readiness_problems == []


def test_unknown_brand_is_left_out_with_a_readiness_note(tiktok_integration, api, tee):
    Product.objects.filter(pk=tee[0].pk).update(brand="Nobody Knows")

    sync = run(tiktok_integration)

    assert sync.created == 1, sync.errors
    body = api.body(api.calls_to(ep.PATH_PRODUCTS)[0])
    assert "brand_id" not in body and body["save_mode"] == "LISTING"
    problems = ChannelOption.objects.get(product=tee[1]).readiness_problems
    assert [p["field"] for p in problems] == ["brand"] and "'Nobody Knows' is not known to TikTok" in problems[0]["message"]
    assert not [c for c in api.mock.calls if c.request.method == "POST" and urlsplit(c.request.url).path == ep.PATH_BRANDS]


def test_no_brand_means_no_brand_lookup(tiktok_integration, api, tee):
    run(tiktok_integration)

    assert api.calls_to(ep.PATH_BRANDS) == []
    assert "brand_id" not in api.body(api.calls_to(ep.PATH_PRODUCTS)[0])



def test_jpeg_size_is_read_from_the_frame_header():
    app0 = b"\xff\xe0" + (16).to_bytes(2, "big") + b"JFIF\0" + b"\0" * 9
    sof0 = b"\xff\xc0" + (17).to_bytes(2, "big") + b"\x08" + (250).to_bytes(2, "big") + (320).to_bytes(2, "big") + b"\0" * 10
    jpeg = b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"

    assert img.image_dimensions(jpeg, "jpeg") == (320, 250)
    with pytest.raises(img.ImageError, match="320x250 px"):
        img.image_validate(jpeg, use_case=img.MAIN_IMAGE)


def test_image_fetch_follows_a_redirect_and_caps_the_size(responses):
    responses.add("GET", "https://cdn.example/old.png", status=301, headers={"Location": "/new.png"})
    responses.add("GET", "https://cdn.example/new.png", body=png_bytes(), content_type="image/png")
    responses.add("GET", "https://cdn.example/huge.png", body=b"\x89PNG" + b"\0" * img.MAX_BYTES, content_type="image/png")

    assert img.image_fetch(url="https://cdn.example/old.png") == png_bytes()
    with pytest.raises(img.ImageError, match="could not be fetched"):
        img.image_fetch(url="https://cdn.example/huge.png")
    with pytest.raises(img.ImageError, match="could not be fetched"):
        img.image_fetch(url="file:///etc/passwd")
