"""Acumatica views: the emulator's HTTP endpoints (sandbox only, one call each into emulator.py). The Connect page
and OAuth callback are the generic ones (integrations.oauth_views, made from auth.PROVIDER in urls.py)."""
from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.connectors.acumatica import emulator


# --- emulator (sandbox) --------------------------------------------------------------------------------------


def _sandbox():
    if not settings.SANDBOX_ENABLED:
        raise Http404("sandbox disabled")


def _error(exc: emulator.EmuError) -> HttpResponse:
    response = JsonResponse(exc.body, status=exc.status, safe=False)
    for k, v in exc.headers.items():
        response[k] = v
    return response


def emu_authorize(request):
    _sandbox()
    try:
        url = emulator.authorize(client_id=request.GET.get("client_id", ""), redirect_uri=request.GET.get("redirect_uri", ""),
                                 state=request.GET.get("state", ""), scope=request.GET.get("scope", ""))
    except emulator.EmuError as exc:
        return _error(exc)
    return HttpResponseRedirect(url)


@csrf_exempt
def emu_token(request):
    _sandbox()
    if request.method != "POST":
        return JsonResponse({"error": "invalid_request"}, status=405)
    try:
        return JsonResponse(emulator.token(form=request.POST.dict()))
    except emulator.EmuError as exc:
        return _error(exc)


def emu_endpoints(request):
    _sandbox()
    try:
        emulator.authenticate(authorization=request.headers.get("Authorization", ""))
    except emulator.EmuError as exc:
        return _error(exc)
    return JsonResponse(emulator.endpoints())


@csrf_exempt
def emu_entity(request, endpoint: str, version: str, rest: str):
    _sandbox()
    try:
        if (endpoint, version) not in emulator.ENDPOINTS:
            raise emulator.http_error(404, f"Endpoint {endpoint}/{version} is not found.")
        instance = emulator.authenticate(authorization=request.headers.get("Authorization", ""))
        emulator.rate_limit(instance=instance)
        emulator.emulator_advance(instance=instance)
        parts = [p for p in rest.split("/") if p]
        entity, keys = parts[0], parts[1:]
        base = request.build_absolute_uri(f"/integrations/acumatica/sandbox/entity/{endpoint}/{version}/{entity}")
        if request.method == "GET" and len(keys) == 3 and keys[1] == "status":
            status, headers = emulator.action_status(instance=instance, guid=keys[2], status_url=f"{base}/{keys[0]}/status")
            return _empty(status, headers)
        if request.method == "GET":
            if keys:
                return JsonResponse(emulator.entity_get(instance=instance, entity=entity, keys=keys, params=request.GET))
            return JsonResponse(emulator.entity_list(instance=instance, entity=entity, params=request.GET), safe=False)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise emulator.http_error(400, "The request body is not JSON.") from None
        if not isinstance(body, dict):
            raise emulator.http_error(400, "The request body must be an object.")
        if request.method == "PUT" and not keys:
            headers = {k: request.headers.get(k, "") for k in ("If-None-Match", "If-Match")}
            return JsonResponse(emulator.entity_put(instance=instance, entity=entity, body=body, headers=headers, params=request.GET))
        if request.method == "POST" and len(keys) == 1:
            status, headers = emulator.action_post(instance=instance, entity=entity, action=keys[0], body=body,
                                                   status_url=f"{base}/{keys[0]}/status")
            return _empty(status, headers)
        raise emulator.http_error(405, f"{request.method} is not supported here.")
    except emulator.EmuError as exc:
        return _error(exc)


def _empty(status: int, headers: dict) -> HttpResponse:
    response = HttpResponse(status=status)
    for k, v in headers.items():
        response[k] = v
    return response
