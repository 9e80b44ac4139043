"""Product images and brands for the TikTok product push.

TikTok only accepts images it hosts (reference §6.1 "Upload Product Image"): each image URL of a listing is
fetched SSRF-safely (integrations/safe_fetch.py: public addresses only, pinned, redirects re-checked, one
total deadline, one generic error; 10 MB cap, content-type and magic-byte checks), uploaded with its use case and the returned
TikTok `uri` replaces the URL in the payload. Uploads are cached in the outbox (OutboundPush kind
"image_upload", key = use case + sha256 of the URL, response {uri, url, width, height}): a SENT row is reused,
so one image is uploaded once per integration and use case. ExternalRef is not used: its only free field
(payload_hash, 64 chars) cannot hold a TikTok uri safely. A fetch or validation failure, or a TikTok rejection,
is a readiness problem for the listing (nothing is pushed for it); transient TikTok errors propagate so the run
backs off and retries (already-uploaded images are not uploaded again).

Brands: `brand_resolve` looks the product's brand up with Get Brands (brand_name, category_id); an unknown brand
is left out of the payload with a readiness note (custom brands are never created automatically)."""
from __future__ import annotations

import hashlib
import struct
from urllib.parse import urlsplit

from django.utils import timezone

from integrations import safe_fetch
from integrations.exceptions import ConnectorError, PermanentError
from integrations.models import OutboundPush

KIND_IMAGE_UPLOAD = "image_upload"
MAIN_IMAGE, ATTRIBUTE_IMAGE = "MAIN_IMAGE", "ATTRIBUTE_IMAGE"
MAX_BYTES = 10 * 1024 * 1024  # ≤ 10 MB
MIN_PX, MAX_PX = 100, 20000
MAIN_MIN_PX, MAIN_MAX_PX = 300, 4000
MAX_REDIRECTS = 3


class ImageError(Exception):
    """The image cannot be used (fetch failed, not an image, too large, wrong size)."""


# --- pure validation ---------------------------------------------------------------------------

def image_format(content: bytes) -> str | None:
    """jpeg/png/webp/bmp/heic by magic bytes, else None."""
    if content[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if content[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    if content[:2] == b"BM":
        return "bmp"
    if content[4:8] == b"ftyp" and content[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return "heic"
    return None


def image_dimensions(content: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) for PNG and JPEG (header parse, no Pillow); None when not read."""
    try:
        if fmt == "png":
            return struct.unpack(">II", content[16:24])
        if fmt == "jpeg":
            i = 2
            while i + 9 < len(content):
                if content[i] != 0xFF:
                    return None
                marker = content[i + 1]
                length = struct.unpack(">H", content[i + 2:i + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    height, width = struct.unpack(">HH", content[i + 5:i + 9])
                    return width, height
                i += 2 + length
    except struct.error:
        return None
    return None


def image_validate(content: bytes, *, use_case: str) -> str:
    """The format, or ImageError saying why TikTok would reject the image."""
    if len(content) > MAX_BYTES:
        raise ImageError(f"image is larger than 10 MB ({len(content)} bytes)")
    fmt = image_format(content)
    if fmt is None:
        raise ImageError("not a JPG, PNG, WEBP, HEIC or BMP image")
    dims = image_dimensions(content, fmt)
    if dims:
        low, high = (MAIN_MIN_PX, MAIN_MAX_PX) if use_case == MAIN_IMAGE else (MIN_PX, MAX_PX)
        if not all(low <= d <= high for d in dims):
            raise ImageError(f"image is {dims[0]}x{dims[1]} px; TikTok needs {low}-{high} px per side")
    return fmt


# --- fetching ----------------------------------------------------------------------------------

class ImageSource:
    """GET of a product image URL through integrations.safe_fetch (public addresses only, pinned, redirects
    re-checked, one total deadline, 10 MB cap, image content types)."""

    def fetch(self, url: str) -> bytes:
        return safe_fetch.fetch(url, max_bytes=MAX_BYTES, content_ok=_image_content_type, max_redirects=MAX_REDIRECTS)


def _image_content_type(content_type: str) -> bool:
    return not content_type or content_type.startswith("image/") or content_type == "application/octet-stream"


FETCH_ERROR = f"cannot fetch image: {safe_fetch.GENERIC_ERROR}"


def image_fetch(*, url: str, source: ImageSource | None = None) -> bytes:
    """The image's bytes, or ImageError with one generic message whatever failed (SSRF: nothing tells
    an unreachable, refused or non-public address apart)."""
    try:
        return (source or ImageSource()).fetch(url)
    except safe_fetch.FetchError:
        pass
    raise ImageError(FETCH_ERROR)


# --- upload with cache -------------------------------------------------------------------------

def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _filename(url: str, fmt: str) -> str:
    name = urlsplit(url).path.rsplit("/", 1)[-1] or "image"
    return name if "." in name else f"{name}.{fmt}"


def image_upload_cached(*, client, integration, url: str, use_case: str, source: ImageSource | None = None) -> str:
    """The TikTok uri of an image URL, uploading it only when no upload was recorded. ImageError when unusable."""
    key = f"{use_case}:{url_hash(url)}"
    push, _ = OutboundPush.objects.get_or_create(integration=integration, kind=KIND_IMAGE_UPLOAD, idempotency_key=key,
                                                 defaults={"payload": {"url": url[:2000], "use_case": use_case}})
    if push.status == OutboundPush.Status.SENT and (push.response or {}).get("uri"):
        return push.response["uri"]
    attempts = push.attempts + 1
    try:
        content = image_fetch(url=url, source=source)
        fmt = image_validate(content, use_case=use_case)
        data = client.upload_product_image(content=content, filename=_filename(url, fmt), use_case=use_case) or {}
        if not data.get("uri"):
            raise ImageError("TikTok answered the image upload without a uri")
    except (ImageError, PermanentError) as exc:
        message = str(exc) if isinstance(exc, ImageError) else f"TikTok rejected the image: {exc}"
        OutboundPush.objects.filter(pk=push.pk).update(status=OutboundPush.Status.FAILED, attempts=attempts,
                                                       last_error=message[:2000])
        raise ImageError(message) from exc
    except ConnectorError as exc:  # transient / auth: visible on the row, the run retries
        OutboundPush.objects.filter(pk=push.pk).update(status=OutboundPush.Status.FAILED, attempts=attempts,
                                                       last_error=str(exc)[:2000])
        raise
    response = {k: data.get(k) for k in ("uri", "url", "width", "height", "use_case")}
    OutboundPush.objects.filter(pk=push.pk).update(status=OutboundPush.Status.SENT, attempts=attempts, response=response,
                                                   remote_id=str(data["uri"])[:191], sent_at=timezone.now())
    return data["uri"]


def payload_images_upload(*, client, integration, payload: dict,
                          source: ImageSource | None = None) -> tuple[dict, list[dict]]:
    """A copy of a listing payload whose image URLs (main_images, sku sales_attributes sku_img) are TikTok uris,
    and the readiness problems of images that could not be uploaded (then the payload must not be sent)."""
    problems: list[dict] = []
    source = source or ImageSource()

    def swap(url: str, use_case: str, field: str) -> str:
        try:
            return image_upload_cached(client=client, integration=integration, url=url, use_case=use_case, source=source)
        except ImageError as exc:
            problems.append({"field": field, "message": f"Image {url[:200]}: {exc}"})
            return url

    out = dict(payload)
    out["main_images"] = [{**img, "uri": swap(img["uri"], MAIN_IMAGE, f"images:{n + 1}")}
                          for n, img in enumerate(payload.get("main_images") or [])]
    skus = []
    for sku in payload.get("skus") or []:
        sales = []
        for attr in sku.get("sales_attributes") or []:
            if "sku_img" in attr:
                attr = {**attr, "sku_img": {"uri": swap(attr["sku_img"]["uri"], ATTRIBUTE_IMAGE,
                                                        f"variant_image:{sku.get('seller_sku', '')}")}}
            sales.append(attr)
        skus.append({**sku, "sales_attributes": sales} if "sales_attributes" in sku else sku)
    out["skus"] = skus
    return out, problems


# --- brands ------------------------------------------------------------------------------------

def brand_resolve(*, client, name: str, category_id: str, cache: dict) -> tuple[str, list[dict]]:
    """(brand_id, notes): the TikTok brand whose name equals `name` (case-insensitive), looked up once per
    (name, category) in `cache`; ("", [note]) when TikTok does not know it."""
    name = (name or "").strip()
    if not name:
        return "", []
    key = (name.lower(), category_id or "")
    if key not in cache:
        query = {"brand_name": name, "category_id": category_id} if category_id else {"brand_name": name}
        brands = client.get_brands(**query).get("brands") or []
        cache[key] = next((str(b.get("id")) for b in brands if str(b.get("name", "")).strip().lower() == name.lower()), "")
    if cache[key]:
        return cache[key], []
    return "", [{"field": "brand", "message": f"Brand {name!r} is not known to TikTok for this category; "
                                              "the listing is sent without a brand (create or authorize it in TikTok)"}]
