"""OSA emulator HTTP endpoints (sandbox only). Each view is one call deep into emulator.py."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.connectors.osa import adapter as wire
from integrations.connectors.osa import emulator


def _handle(request, handler, *, methods: tuple[str, ...], with_body: bool = False, **kwargs):
    if not settings.SANDBOX_ENABLED:
        raise Http404("sandbox disabled")
    if request.method not in methods:
        return JsonResponse({"error": {"code": "method_not_allowed", "message": request.method}}, status=405)
    try:
        account = emulator.emulator_authenticate(
            authorization=request.headers.get("Authorization", ""), domain=request.headers.get(wire.DOMAIN_HEADER, "")
        )
        emulator.emulator_rate_limit(account=account)
        if with_body:
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                raise emulator.EmuError(400, "malformed_json", "Body is not JSON.") from None
            if not isinstance(body, dict):
                raise emulator.EmuError(400, "malformed_json", "Body must be a JSON object.")
            status, payload = handler(account=account, body=body, **kwargs)
        else:
            status, payload = 200, handler(account=account, params=request.GET, **kwargs)
    except emulator.EmuError as exc:
        response = JsonResponse(exc.body(), status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    return JsonResponse(payload, status=status)


@csrf_exempt
def account(request):
    return _handle(request, emulator.account_get, methods=("GET",))


@csrf_exempt
def orders(request):
    if request.method == "POST":
        return _handle(request, emulator.order_create, methods=("POST",), with_body=True)
    return _handle(request, emulator.orders_list, methods=("GET",))


@csrf_exempt
def order_cancel(request, order_id):
    return _handle(request, emulator.order_cancel, methods=("POST",), with_body=True, order_id=order_id)


@csrf_exempt
def shipments(request):
    return _handle(request, emulator.shipments_list, methods=("GET",))


@csrf_exempt
def inventory(request):
    return _handle(request, emulator.inventory_list, methods=("GET",))


@csrf_exempt
def locations(request):
    return _handle(request, emulator.locations_list, methods=("GET",))


@csrf_exempt
def products(request):
    if request.method == "POST":
        return _handle(request, emulator.product_create, methods=("POST",), with_body=True)
    return _handle(request, emulator.products_list, methods=("GET",))


@csrf_exempt
def product(request, sku):
    return _handle(request, emulator.product_update, methods=("PUT",), with_body=True, sku=sku)


@csrf_exempt
def returns(request):
    if request.method == "POST":
        return _handle(request, emulator.return_create, methods=("POST",), with_body=True)
    return _handle(request, emulator.returns_list, methods=("GET",))


@csrf_exempt
def arrivals(request):
    return _handle(request, emulator.arrival_create, methods=("POST",), with_body=True)


@csrf_exempt
def receipts(request):
    return _handle(request, emulator.receipts_list, methods=("GET",))
