"""OAuth: the "Connect to TikTok" link, the callback (state check, code exchange, shop binding),
shop selection, re-authorization, and the connection test (reference §1.2-§1.6, reliability §4.4)."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import services
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.client import TikTokClient
from integrations.connectors.tiktok.tokens import REAUTHORIZE_DEDUP_KEY, tokens_store
from integrations.connectors.tiktok.transport import TikTokAuthClient, base_urls
from integrations.exceptions import AuthError, ConnectorError, PermanentError, TransientError
from integrations.models import Integration, OAuthState
from integrations.oauth import OAuthError, state_consume, state_issue
from integrations.redaction import secrets_register

CONNECT_LABEL = "Connect to TikTok"
AUTH_DEDUP_KEYS = ("tiktok:deauthorized:{pk}", "tiktok:auth_expiring:{pk}", REAUTHORIZE_DEDUP_KEY)


@dataclass
class OAuthOutcome:
    integration: Integration
    bound: bool
    shops: list[dict] = field(default_factory=list)


def oauth_start(*, integration: Integration, user) -> str:
    """A fresh single-use state bound to the user, and the seller authorization link carrying it."""
    creds = integration.get_credentials()
    if not creds.get("service_id") or not creds.get("app_key") or not creds.get("app_secret"):
        raise OAuthError("Enter the App key, App secret and Service ID before connecting to TikTok.")
    state = state_issue(connector="tiktok", integration=integration, user=user)
    api_base, _ = base_urls(integration)
    authorize = f"{api_base}/open/authorize" if api_base != c.API_BASE_URL else c.AUTHORIZE_URL
    return f"{authorize}?{urlencode({'service_id': creds['service_id'], 'state': state})}"


@sensitive_variables("code", "data")
def _token_exchange(*, integration: Integration, code: str) -> dict:
    """The token answer for a code (never retried: single-use), or OAuthError saying why; writes nothing."""
    try:
        data = TikTokAuthClient.for_integration(integration).token_get(auth_code=code)
    except (AuthError, PermanentError) as exc:
        raise OAuthError(f"TikTok refused the authorization code ({exc}); start again from “Connect to TikTok”.",
                         integration=integration) from None
    except TransientError as exc:
        raise OAuthError(f"TikTok could not be reached to exchange the code ({exc}); start again from "
                         "“Connect to TikTok” in a moment.", integration=integration) from None
    if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
        raise OAuthError("TikTok answered the code exchange with no tokens; nothing was changed. Start again from "
                         "“Connect to TikTok”.", integration=integration)
    return data


@sensitive_variables("data")
def _shops_granted(*, integration: Integration, data: dict) -> list[dict]:
    """Get Authorized Shops with the NEW access token, without storing it (nothing is written yet)."""
    client = TikTokClient.for_integration(integration)
    client.integration, client.access_token = None, data["access_token"]  # no refresh, no store: a dry call
    try:
        shops = client.authorized_shops()
    except ConnectorError as exc:
        raise OAuthError(f"TikTok did not list the authorized shops ({exc}); nothing was changed.",
                         integration=integration) from None
    if not shops:
        raise OAuthError("The authorization grants no shop; nothing was changed.", integration=integration)
    return shops


def _shop_free(*, integration: Integration, shop_id: str) -> None:
    taken = Integration.objects.filter(connector="tiktok", remote_account_id=shop_id).exclude(pk=integration.pk).first()
    if taken is not None:
        raise OAuthError(f"Shop {shop_id} is already connected by integration “{taken.name}”; one shop = one integration.",
                         integration=integration)


@sensitive_variables("code", "data")
def oauth_complete(*, state: str, code: str, user, error: str = "") -> OAuthOutcome:
    """Callback: check the state, exchange the code, fetch the authorized shops and decide the binding —
    all before any write. Then, in one transaction: both tokens, the binding (or the shops to choose
    from) and a settings-history entry. A refused, failed or mismatched authorization changes nothing
    (a re-authorization for another seller never replaces the tokens)."""
    secrets_register(code)  # single-use, but masked in any error text from here on
    row: OAuthState = state_consume(connector="tiktok", state=state, user=user, connect_label=CONNECT_LABEL)
    integration = row.integration
    if error or not code:
        raise OAuthError(f"TikTok did not authorize the shop ({error or 'no code'}).", integration=integration)
    data = _token_exchange(integration=integration, code=code)
    shops = _shops_granted(integration=integration, data=data)
    bound_id = (integration.remote_state or {}).get("shop_id", "")
    chosen = None
    if bound_id:
        match = [s for s in shops if str(s.get("id")) == bound_id]
        if not match:
            raise OAuthError(f"This integration is bound to shop {bound_id}, which this authorization does not include. "
                             "Create a separate integration for another shop.", integration=integration)
        chosen = match[0]
    elif len(shops) == 1:
        chosen = shops[0]
    if chosen is not None:
        _shop_free(integration=integration, shop_id=str(chosen.get("id", "")))
    with transaction.atomic():
        tokens_store(integration=integration, data=data)
        if chosen is not None:
            shop_bind(integration=integration, shop=chosen)
            _record(integration=integration, user=user, shop=chosen, reauthorized=bool(bound_id))
            return OAuthOutcome(integration=integration, bound=True, shops=shops)
        state_data = dict(integration.remote_state or {})
        state_data["pending_shops"] = [_shop_summary(s) for s in shops]
        Integration.objects.filter(pk=integration.pk).update(remote_state=state_data)
        integration.remote_state = state_data
        services.integration_record_change(integration=integration, user=user,
                                           summary=f"TikTok authorized ({len(shops)} shops): choose one",
                                           diff={"authorization": {"shops": [str(s.get("id", "")) for s in shops]}})
    return OAuthOutcome(integration=integration, bound=False, shops=shops)


def _record(*, integration: Integration, user, shop: dict, reauthorized: bool) -> None:
    shop_id = str(shop.get("id", ""))
    verb = "re-authorized" if reauthorized else "connected to"
    services.integration_record_change(integration=integration, user=user, summary=f"TikTok {verb} shop {shop_id}",
                                       diff={"authorization": {"shop_id": shop_id, "shop_name": shop.get("name", ""),
                                                               "tokens": "•••"}})


def oauth_select_shop(*, integration: Integration, shop_id: str, user=None) -> Integration:
    pending = (integration.remote_state or {}).get("pending_shops") or []
    match = [s for s in pending if str(s.get("id")) == str(shop_id)]
    if not match:
        raise OAuthError(f"Shop {shop_id!r} is not among the shops of the last authorization.")
    with transaction.atomic():
        shop_bind(integration=integration, shop=match[0])
        _record(integration=integration, user=user, shop=match[0], reauthorized=False)
    return integration


def _shop_summary(shop: dict) -> dict:
    return {k: shop.get(k, "") for k in ("id", "name", "region", "cipher", "code", "seller_type")}


@transaction.atomic
def shop_bind(*, integration: Integration, shop: dict) -> None:
    """Bind the integration to one shop; keeps cursors, bindings and settings (re-authorization)."""
    shop_id = str(shop.get("id", ""))
    _shop_free(integration=integration, shop_id=shop_id)
    integration.refresh_from_db(fields=["remote_state", "credentials_encrypted", "auth_expires_at"])
    state_data = dict(integration.remote_state or {})
    state_data.pop("pending_shops", None)
    state_data.pop("authorization_expires_at", None)
    state_data.update(shop_id=shop_id, shop_name=shop.get("name", ""), shop_region=shop.get("region", ""),
                      shop_cipher=shop.get("cipher", ""), shop_code=shop.get("code", ""),
                      seller_type=shop.get("seller_type", ""), authorized_at=timezone.now().isoformat())
    Integration.objects.filter(pk=integration.pk).update(remote_state=state_data, remote_account_id=shop_id, paused_reason="")
    integration.remote_state, integration.remote_account_id, integration.paused_reason = state_data, shop_id, ""
    services.integration_mark_connected(integration=integration)
    services.exceptions_resolve(dedup_keys=[k.format(pk=integration.pk) for k in AUTH_DEDUP_KEYS], note="re-authorized")


def connection_test(integration: Integration) -> str:
    """Calls Get Authorized Shops with the stored token; the bound shop must be among them."""
    shops = TikTokClient.for_integration(integration).authorized_shops()
    shop_id = (integration.remote_state or {}).get("shop_id", "")
    if shop_id and not any(str(s.get("id")) == shop_id for s in shops):
        from integrations.exceptions import AuthError

        raise AuthError(f"tiktok: shop {shop_id} is no longer authorized for this app")
    return f"Connected: {len(shops)} authorized shop(s)" + (f", bound to {shop_id}" if shop_id else "")
