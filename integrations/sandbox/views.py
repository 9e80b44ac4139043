"""HTTP face of the TikTok emulator: one generic dispatcher under /integrations/sandbox/tiktok/ (one call deep)."""
from __future__ import annotations

import json
import logging
import secrets
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.sandbox import api, catalog, services
from integrations.sandbox.models import EmuApp, EmuShop
from integrations.sandbox.services import EmuError

log = logging.getLogger(__name__)


def _envelope(data=None, code: int = 0, message: str = "Success", status: int = 200) -> JsonResponse:
    request_id = secrets.token_hex(16).upper()
    return JsonResponse({"code": code, "message": message, "request_id": request_id, "data": data if data is not None else {}},
                        status=status)


def _query(request: HttpRequest) -> dict:
    return {k: request.GET.get(k) for k in request.GET}  # decoded values, last one wins


@csrf_exempt
def tiktok(request: HttpRequest, path: str) -> HttpResponse:
    path = "/" + path
    if path.startswith("/api/v2/token/"):
        return _token(request, path)
    if path in ("/oauth/authorize", "/open/authorize"):
        return _authorize(request)
    try:
        handler, needs_cipher, kwargs = api.route_match(request.method, path)
        multipart = (request.content_type or "").startswith("multipart/form-data")
        body_text = "" if multipart else (request.body.decode("utf-8") if request.body else "")
        query = _query(request)
        shop, token = services.request_authenticate(
            path=path, query=query, body=body_text, content_type=request.content_type or "application/json",
            access_token=request.headers.get("x-tts-access-token", ""), needs_cipher=needs_cipher)
        services.rate_limit_hit(shop=shop)
        files: dict = {}
        try:
            if multipart:  # the form body is not signed (§2.2); fields → body, uploaded files → bytes
                body = {k: request.POST.get(k) for k in request.POST}
                files = {k: request.FILES[k].read() for k in request.FILES}
            else:
                body = json.loads(body_text) if body_text else {}
        except ValueError:
            raise EmuError(36009022, "The request body is not valid JSON.", 400) from None
        if not isinstance(body, dict):
            raise EmuError(36009022, "The request body must be a JSON object.", 400)
        services.shop_advance(shop=shop)
        data = handler(api.Ctx(shop=shop, token=token, query=query, body=body, files=files), **kwargs)
    except EmuError as exc:
        return _envelope(code=exc.code, message=exc.message, status=exc.status)
    return _envelope(data)


def _token(request: HttpRequest, path: str) -> HttpResponse:
    q = _query(request)
    try:
        if path.rstrip("/") == "/api/v2/token/get":
            data = services.token_get(app_key=q.get("app_key", ""), app_secret=q.get("app_secret", ""),
                                      auth_code=q.get("auth_code", ""), grant_type=q.get("grant_type", ""))
        elif path.rstrip("/") == "/api/v2/token/refresh":
            data = services.token_refresh(app_key=q.get("app_key", ""), app_secret=q.get("app_secret", ""),
                                          refresh_token=q.get("refresh_token", ""), grant_type=q.get("grant_type", ""))
        else:
            raise EmuError(36009009, "Invalid path.", 404)
    except EmuError as exc:
        return _envelope(code=exc.code, message=exc.message, status=exc.status)
    return _envelope(data)


def _authorize(request: HttpRequest) -> HttpResponse:
    """The seller approves at once (sandbox): redirect to the app's redirect URL with a single-use code.

    Choose the shop with `shop_id` (else the app's first shop); `redirect_uri` overrides the app's redirect URL."""
    q = _query(request)
    app = (EmuApp.objects.filter(app_key=q.get("app_key")).first() if q.get("app_key")
           else EmuApp.objects.filter(service_id=q.get("service_id", "")).first())
    if app is None:
        return HttpResponse("Unknown app_key / service_id.", status=400, content_type="text/plain")
    shops = EmuShop.objects.filter(app=app)
    shop = shops.filter(shop_id=q["shop_id"]).first() if q.get("shop_id") else shops.order_by("id").first()
    redirect = q.get("redirect_uri") or app.redirect_url
    if shop is None or not redirect:
        return HttpResponse("No sandbox shop or redirect URL for this app.", status=400, content_type="text/plain")
    params = {"code": services.auth_code_issue(shop=shop)}
    if q.get("state"):
        params["state"] = q["state"]
    return HttpResponseRedirect(f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(params)}")


def image(request: HttpRequest, name: str) -> HttpResponse:
    """A demo product image (GET /integrations/sandbox/images/<name>.png): the seller's image host in the demo."""
    content = catalog.demo_image_png(name)
    if content is None:
        return HttpResponse(status=404)
    return HttpResponse(content, content_type="image/png")
