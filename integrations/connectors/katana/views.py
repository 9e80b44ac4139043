"""Katana views: the webhook and the emulator (sandbox). Each is one call deep. OAuth connect/callback are the
generic ones (integrations.oauth_views, made from auth.PROVIDER in urls.py)."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.connectors.katana import emulator, webhooks


@csrf_exempt
@require_POST
def webhook(request, integration_pk: int):
    header = settings.WEBHOOK_CLIENT_IP_HEADER
    remote_addr = (request.META.get(header, "") if header else "") or request.META.get("REMOTE_ADDR", "")
    outcome = webhooks.webhook_receive(integration_pk=integration_pk, body=request.body,
                                       signature=request.headers.get("x-sha2-signature", ""), remote_addr=remote_addr)
    response = HttpResponse(outcome.note, status=outcome.status, content_type="text/plain")
    if outcome.retry_after:
        response["Retry-After"] = str(outcome.retry_after)
    return response


# --- emulator (sandbox only) ---------------------------------------------------------------------------------------

def _emu_response(exc: emulator.EmuError) -> JsonResponse:
    response = JsonResponse(exc.body(), status=exc.status)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def emu_authorize(request):
    if not settings.SANDBOX_ENABLED:
        raise Http404("sandbox disabled")
    try:
        return HttpResponseRedirect(emulator.oauth_authorize(params=request.GET))
    except emulator.EmuError as exc:
        return _emu_response(exc)


@csrf_exempt
@require_POST
def emu_token(request):
    if not settings.SANDBOX_ENABLED:
        raise Http404("sandbox disabled")
    try:
        return JsonResponse(emulator.oauth_token(form=request.POST))
    except emulator.EmuError as exc:
        return _emu_response(exc)


@csrf_exempt
def emu_api(request, resource: str):
    if not settings.SANDBOX_ENABLED:
        raise Http404("sandbox disabled")
    try:
        account = emulator.emulator_authenticate(authorization=request.headers.get("Authorization", ""))
        emulator.emulator_rate_limit(account=account)
        body = None
        if request.method in ("POST", "PATCH"):
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                raise emulator.EmuError(400, "BadRequestError", "Body is not JSON.") from None
            if not isinstance(body, dict):
                raise emulator.EmuError(422, "UnprocessableEntityError", "Body must be a JSON object.", details=[])
        status, payload, headers = emulator.handle(account=account, method=request.method, resource=resource,
                                                   params=request.GET, body=body)
    except emulator.EmuError as exc:
        return _emu_response(exc)
    response = HttpResponse(status=status) if status == 204 else JsonResponse(payload, status=status)
    for key, value in headers.items():
        response[key] = value
    return response
