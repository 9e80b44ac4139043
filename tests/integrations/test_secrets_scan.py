"""CI secrets-in-logs scan (issue #11, critical 1).

Drives every failure path of every outbound client — connection error (a real refused connection on
loopback, so the message is the one requests/urllib3 really build), 4xx, 5xx and malformed body, each
answer echoing the full request URL back — through the TikTok business client, the TikTok token exchange
and refresh (OAuth callback view included), and the OSA adapter. Then scans every log record (any level,
urllib3 at DEBUG included, traceback text and the live exception objects), the raised exception and its
__cause__/__context__ chain, the DEBUG 500 page Django would render for it, SyncRun and FlowState errors,
the integration's last error and every OpsException for every secret value and secret-named parameter."""
from __future__ import annotations

import base64
import logging
import re
import socket
import traceback
from datetime import timedelta

import pytest
import requests
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.debug import get_exception_reporter_class

from integrations import services
from integrations.connectors.osa.connection import osa_adapter
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.client import TikTokClient
from integrations.connectors.tiktok.transport import TikTokAuthClient
from integrations.exceptions import ConnectorError
from integrations.models import FlowState, Integration, OAuthState, OpsException, SyncRun
from tests.integrations.connectors.tiktok.conftest import envelope

pytestmark = pytest.mark.django_db

APP_KEY, APP_SECRET, SERVICE_ID = "appkey-29a39d", "APPSECRET-e59af819cc", "svc-7001"
ACCESS, REFRESH = "TTP_ACCESS-5ecret-token", "TTP_REFRESH-5ecret-token"
AUTH_CODE = "AUTHCODE-0123456789abcdef"
OSA_KEY, OSA_SECRET = "osa-API-KEY-77aa", "osa-API-SECRET-99bb"
OSA_BASIC = base64.b64encode(f"{OSA_KEY}:{OSA_SECRET}".encode()).decode()
SECRETS = (APP_SECRET, ACCESS, REFRESH, AUTH_CODE, OSA_SECRET, OSA_BASIC)
# Secret-named query parameters with a real value (the TikTok signature is 64 hex digits; the others are
# listed in SECRETS); source lines in tracebacks (`auth_code=AUTH_CODE)`) are not values.
SECRET_PARAM = re.compile(r"(?:app_secret|auth_code|access_token|refresh_token|sign)=(?!\*\*\*)[0-9a-f]{16,}|"
                          r"(?:app_secret|auth_code|access_token|refresh_token)=[A-Z]+-", re.I)
FAILURES = ("connection", "4xx", "5xx", "malformed")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leaks(text: str) -> list[str]:
    found = [s for s in SECRETS if s in text]
    found += [m.group(0) for m in SECRET_PARAM.finditer(text)]
    return found


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def debug_page(exc: BaseException) -> str:
    request = RequestFactory().get("/integrations/tiktok/callback/", {"code": AUTH_CODE, "state": "s"})
    reporter = get_exception_reporter_class(request)(request, type(exc), exc, exc.__traceback__)
    return reporter.get_traceback_html() + reporter.get_traceback_text()


def scan_records(caplog) -> list[str]:
    found = []
    formatter = logging.Formatter("%(name)s %(message)s")
    for record in caplog.records:
        found += leaks(formatter.format(record))
        found += leaks(" ".join(str(v) for v in vars(record).values() if isinstance(v, str)))
        if record.exc_info and record.exc_info[1] is not None:
            found += leaks(exception_text(record.exc_info[1]))
    return found


def scan_database() -> list[str]:
    texts = [r.error_message for r in SyncRun.objects.all()] + [s.last_error for s in FlowState.objects.all()]
    texts += [i.last_error for i in Integration.objects.all()] + [o.message for o in OpsException.objects.all()]
    return leaks("\n".join(texts))


@pytest.fixture(autouse=True)
def _everything_logged(caplog, settings):
    settings.TIKTOK_QPS = 1000.0
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")


def answer(responses, host: str, failure: str) -> str:
    """Make every call to `host` fail the given way; each answer echoes the request URL. Returns the base URL."""
    responses.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+/"))
    if failure == "connection":
        return f"http://127.0.0.1:{closed_port()}"

    def echo(request):
        status = {"4xx": 400, "5xx": 503, "malformed": 200}[failure]
        body = f"<html>cannot serve {request.url} (Authorization: {request.headers.get('Authorization', '')})</html>"
        if failure == "4xx":
            body = '{"code": 36004004, "message": "bad %s", "data": null}' % request.url
        return status, {}, body

    for method in ("GET", "POST"):
        responses.add_callback(method, re.compile(re.escape(host) + r"/.*"), callback=echo)
    return host


def tiktok_integration_at(base: str) -> Integration:
    integration = services.integration_create(
        name="TikTok leak", connector="tiktok", environment="production",
        credentials={"app_key": APP_KEY, "app_secret": APP_SECRET, "service_id": SERVICE_ID,
                     "access_token": ACCESS, "refresh_token": REFRESH})
    integration.remote_state = {"shop_id": "1", "shop_cipher": "cipher-1", "api_base_url": base, "auth_base_url": base}
    integration.remote_account_id = "1"
    integration.auth_expires_at = timezone.now() + timedelta(days=7)
    # connected an hour ago: a pull's first window (creation time → run start − 1 s) is not empty
    integration.created_at = timezone.now() - timedelta(hours=1)
    integration.save()
    return Integration.objects.get(pk=integration.pk)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("call", ["token_get", "token_refresh", "business"])
def test_tiktok_client_failures_leak_no_secret(responses, caplog, failure, call):
    base = answer(responses, "http://tiktok.invalid", failure)
    integration = tiktok_integration_at(base)
    client = TikTokClient.for_integration(integration)
    auth = TikTokAuthClient.for_integration(integration)  # the auth host (token get/refresh)
    do = {"token_get": lambda: auth.token_get(auth_code=AUTH_CODE),
          "token_refresh": lambda: auth.token_refresh(refresh_token=REFRESH),
          "business": lambda: client.authorized_shops()}[call]
    try:
        do()
    except ConnectorError as exc:
        logging.getLogger("tests.scan").exception("call failed: %s", exc)
        assert leaks(exception_text(exc)) == []
        assert leaks(debug_page(exc)) == []
    else:
        pytest.fail("the call should fail")
    assert scan_records(caplog) == []


@pytest.mark.parametrize("failure", FAILURES)
def test_tiktok_flow_and_refresh_failures_store_no_secret(responses, caplog, failure):
    base = answer(responses, "http://tiktok.invalid", failure)
    integration = tiktok_integration_at(base)
    services.integration_test_connection(integration=integration)
    Integration.objects.filter(pk=integration.pk).update(auth_expires_at=timezone.now() - timedelta(minutes=1))
    run = services.flow_run(flow_state=integration.flow_states.get(flow="pull_orders"))
    assert run.status == SyncRun.Status.FAILED
    assert scan_database() == [] and scan_records(caplog) == []


@pytest.mark.parametrize("failure", FAILURES)
def test_oauth_callback_failures_leak_no_secret(responses, caplog, failure, admin_user, client, settings):
    settings.DEBUG = True
    base = answer(responses, "http://tiktok.invalid", failure)
    integration = tiktok_integration_at(base)
    client.raise_request_exception = False
    client.force_login(admin_user)
    connect = client.get(reverse("integrations:tiktok:connect", args=[integration.pk]))
    state = re.search(r"state=([^&]+)", connect["Location"]).group(1)
    response = client.get(reverse("integrations:tiktok:callback"), {"code": AUTH_CODE, "state": state}, follow=True)
    assert leaks(response.content.decode()) == []
    assert scan_records(caplog) == [] and scan_database() == []
    assert OAuthState.objects.count() == 1


@pytest.mark.parametrize("failure", FAILURES)
def test_osa_adapter_failures_leak_no_secret(responses, caplog, failure):
    base = answer(responses, "http://osa.invalid", failure)
    integration = services.integration_create(name="OSA leak", connector="osa", environment="stage",
                                              settings={"osa_environment": "stage", "osa_base_url": base},
                                              credentials={"api_key": OSA_KEY, "api_secret": OSA_SECRET, "osa_domain": "acme"})
    try:
        osa_adapter(integration).account_get()
    except ConnectorError as exc:
        logging.getLogger("tests.scan").exception("call failed")
        assert leaks(exception_text(exc)) == [] and leaks(debug_page(exc)) == []
    else:
        pytest.fail("the call should fail")
    services.integration_test_connection(integration=integration)
    assert scan_database() == [] and scan_records(caplog) == []


def test_requests_exception_raised_outside_the_client_is_masked_in_logs(caplog):
    """The logging filter is the second layer: whatever code logs, secret-named parameters and known
    credential values are masked in the message, its args, the traceback text and the exception chain."""
    services.integration_create(name="T", connector="tiktok", credentials={"app_secret": APP_SECRET, "access_token": ACCESS})
    try:
        try:
            raise requests.ConnectionError(f"Max retries exceeded with url: /x?app_secret={APP_SECRET}&auth_code={AUTH_CODE}")
        except requests.ConnectionError as inner:
            raise RuntimeError(f"wrapped, token {ACCESS}") from inner
    except RuntimeError:
        logging.getLogger("tests.scan").exception("failed with %s", {"access_token": ACCESS})
    assert len(caplog.records) == 1
    assert scan_records(caplog) == []
    assert "***" in caplog.records[0].getMessage()


# --- every page the project serves (issue #11, item 5): enumerated from the URL resolver ------------------

def page_secrets() -> dict[str, dict]:
    """Credentials for one integration of every registered connector (a connector added later is included):
    every declared credential field plus OAuth tokens, each value distinctive."""
    from integrations import registry

    out = {}
    for spec in registry.CONNECTORS.values():
        creds = {c.key: f"PAGE-{spec.code}-{c.key}-7c1e9a" for c in spec.credentials}
        creds.update({"access_token": f"PAGE-{spec.code}-access-5d2f", "refresh_token": f"PAGE-{spec.code}-refresh-5d2f"})
        out[spec.code] = creds
    return out


def test_no_page_or_action_shows_or_logs_a_secret(responses, caplog, admin_user, client, settings):
    """GET every URL (admin pages, custom views, connector views) for an integration of every connector
    holding known credentials, POST every custom action (test connection, run now: they fail without a
    network, so their error paths run), follow redirects, and scan every body and log record."""
    from integrations import registry
    from tests.config.test_authorization_matrix import ALL_URLS, CUSTOM_POST, _url

    settings.DEBUG = True
    client.raise_request_exception = False
    client.force_login(admin_user)
    secrets_by_connector = page_secrets()
    values = [v for code, creds in secrets_by_connector.items() for key, v in creds.items()
              if key in ("access_token", "refresh_token")
              or any(c.key == key and c.secret for c in registry.CONNECTORS[code].credentials)]
    found, visited = [], 0
    for code, creds in secrets_by_connector.items():
        integration = services.integration_create(name=f"Pages {code}", connector=code, credentials=creds)
        state = integration.flow_states.first()
        ids = {"integration_pk": str(integration.pk), "pk": str(integration.pk),
               "state_pk": str(state.pk if state else 999999), "object_id": str(integration.pk), "id": str(integration.pk)}
        for name, pattern in ALL_URLS:
            url = _url(name, pattern, ids)
            if url is None:
                continue
            response = client.post(url, {}, follow=True) if name in CUSTOM_POST else client.get(url)
            visited += 1
            body = response.content.decode(errors="replace") if not getattr(response, "streaming", False) else ""
            found += [(name, v) for v in values if v in body]
    found += [("log", v) for record in caplog.records for v in values
              if v in logging.Formatter("%(message)s").format(record)]
    found += [("stored", v) for v in values
              if v in "\n".join([r.error_message for r in SyncRun.objects.all()] + [i.last_error for i in Integration.objects.all()]
                                + [o.message for o in OpsException.objects.all()])]
    assert visited > 50 and found == []
