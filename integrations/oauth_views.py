"""The OAuth connect/callback views of a connector, made from its `OAuthProvider`: each one call into
integrations.oauth, both behind the credentials permission. A connector's urls.py includes `urlpatterns(provider)`,
so the URL names stay `integrations:<connector>:connect` / `:callback` (the callback is the redirect URI
registered with the remote)."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods

from integrations import oauth
from integrations.exceptions import AuthError
from integrations.models import Integration
from integrations.permissions import credentials_required


def change_url(integration: Integration) -> str:
    try:
        return reverse("admin:integrations_integration_change", args=[integration.pk])
    except NoReverseMatch:  # the Integration admin is not registered (yet)
        return reverse("admin:index")


def connect_view(provider: oauth.OAuthProvider):
    @credentials_required
    @require_http_methods(["GET", "POST"])
    def connect(request, integration_pk: int):
        integration = get_object_or_404(Integration, pk=integration_pk, connector=provider.connector)
        if request.method == "GET" and provider.connect_template:
            return render(request, provider.connect_template, _connect_context(provider, integration))
        try:
            return HttpResponseRedirect(oauth.oauth_start(provider=provider, integration=integration, user=request.user))
        except oauth.OAuthError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(change_url(integration))

    return connect


def _connect_context(provider: oauth.OAuthProvider, integration: Integration) -> dict:
    problem = ""
    try:
        provider.check(integration)
    except AuthError as exc:
        problem = str(exc)
    return {"integration": integration, "redirect_uri": oauth.redirect_uri(provider.connector), "problem": problem,
            "title": provider.connect_label}


def callback_failed(request, *, label: str, exc: oauth.OAuthError):
    """A refused callback: back to the integration's page with the reason, or a plain 400 without a valid state."""
    if exc.integration is None:  # no valid state: no integration page to go back to
        return HttpResponseBadRequest(f"{label} authorization failed: {exc}", content_type="text/plain")
    messages.error(request, f"{label} authorization failed: {exc}")
    return HttpResponseRedirect(change_url(exc.integration))


def callback_view(provider: oauth.OAuthProvider):
    @credentials_required
    @sensitive_variables("code")
    def callback(request):
        code = request.GET.get("code", "")
        try:
            integration = oauth.oauth_complete(provider=provider, state=request.GET.get("state", ""), code=code,
                                               user=request.user, error=request.GET.get("error", ""))
        except oauth.OAuthError as exc:
            return callback_failed(request, label=provider.label, exc=exc)
        messages.success(request, f"Connected “{integration.name}” to {provider.label}.")
        return HttpResponseRedirect(change_url(integration))

    return callback


def urlpatterns(provider: oauth.OAuthProvider) -> list:
    return [path("connect/<int:integration_pk>/", connect_view(provider), name="connect"),
            path("callback/", callback_view(provider), name="callback")]
