"""TikTok views: each is one call into auth.py / webhooks.py."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from integrations.connectors.tiktok import auth, webhooks
from integrations.oauth_views import callback_failed, change_url
from integrations.models import Integration
from integrations.permissions import credentials_required


@credentials_required
def connect(request, integration_pk: int):
    integration = get_object_or_404(Integration, pk=integration_pk, connector="tiktok")
    try:
        return HttpResponseRedirect(auth.oauth_start(integration=integration, user=request.user))
    except auth.OAuthError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(change_url(integration))


@credentials_required
@sensitive_variables("code")
def callback(request):
    code = request.GET.get("code", "")
    try:
        outcome = auth.oauth_complete(state=request.GET.get("state", ""), code=code if code != "null" else "",
                                      user=request.user, error=request.GET.get("error", ""))
    except auth.OAuthError as exc:
        return callback_failed(request, label="TikTok", exc=exc)
    if not outcome.bound:
        return HttpResponseRedirect(reverse("integrations:tiktok:select_shop", args=[outcome.integration.pk]))
    messages.success(request, f"Connected to TikTok shop {outcome.integration.remote_state.get('shop_name', '')} "
                              f"({outcome.integration.remote_account_id}).")
    return HttpResponseRedirect(change_url(outcome.integration))


@credentials_required
@require_http_methods(["GET", "POST"])
def select_shop(request, integration_pk: int):
    integration = get_object_or_404(Integration, pk=integration_pk, connector="tiktok")
    if request.method == "POST":
        try:
            auth.oauth_select_shop(integration=integration, shop_id=request.POST.get("shop_id", ""), user=request.user)
        except auth.OAuthError as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain")
        messages.success(request, f"Connected to TikTok shop {integration.remote_account_id}.")
        return HttpResponseRedirect(change_url(integration))
    shops = (integration.remote_state or {}).get("pending_shops") or []
    return render(request, "tiktok/select_shop.html", {"integration": integration, "shops": shops, "title": "Choose a TikTok shop"})


def _client_address(request) -> str:
    header = settings.WEBHOOK_CLIENT_IP_HEADER
    return (request.META.get(header, "") if header else "") or request.META.get("REMOTE_ADDR", "")


@csrf_exempt
@require_POST
def webhook(request):
    result = webhooks.webhook_receive(body=request.body, signature=request.headers.get("Authorization", ""),
                                      remote_addr=_client_address(request))
    response = HttpResponse(status=result.status)
    if result.retry_after:
        response["Retry-After"] = str(result.retry_after)
    return response
