"""Katana views: OAuth connect/callback, the webhook, and the emulator (sandbox). Each is one call deep."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from integrations.connectors.katana import auth, emulator, webhooks
from integrations.models import Integration
from integrations.permissions import credentials_required


def _change_url(integration: Integration) -> str:
    try:
        return reverse("admin:integrations_integration_change", args=[integration.pk])
    except NoReverseMatch:
        return reverse("admin:index")


@credentials_required
def connect(request, integration_pk: int):
    integration = get_object_or_404(Integration, pk=integration_pk, connector="katana")
    try:
        return HttpResponseRedirect(auth.oauth_start(integration=integration, user=request.user))
    except auth.OAuthError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(_change_url(integration))


@credentials_required
@sensitive_variables("code")
def callback(request):
    try:
        integration = auth.oauth_complete(state=request.GET.get("state", ""), code=request.GET.get("code", ""),
                                          user=request.user, error=request.GET.get("error", ""))
    except auth.OAuthError as exc:
        if exc.integration is None:
            return HttpResponseBadRequest(f"Katana authorization failed: {exc}", content_type="text/plain")
        messages.error(request, f"Katana authorization failed: {exc}")
        return HttpResponseRedirect(_change_url(exc.integration))
    messages.success(request, f"Connected {integration.name} to Katana.")
    return HttpResponseRedirect(_change_url(integration))


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
