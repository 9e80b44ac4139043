"""One masking rule (issue #11, item 4): integrations/redaction.py is the only secret-masking pattern; the
engine's `services.redact` (SyncRun / OpsException / last-error texts) uses it with the same mask, and every
connector's secret parameter names are covered — the credential fields each registered connector declares
secret (so a connector added later is covered the day it registers) and the wire names each remote uses."""
from __future__ import annotations

import pytest

from integrations import redaction, registry, services

pytestmark = pytest.mark.django_db

VALUE = "Zq9-secret-VALUE-77"

# Wire names (query/form parameters, JSON keys, headers) carrying secrets, per remote (shared/reference).
WIRE_NAMES = {
    "tiktok": ("app_secret", "auth_code", "access_token", "refresh_token", "sign", "x-tts-access-token", "code"),
    "osa": ("api_secret", "api_key", "Authorization"),
    "katana": ("api_key", "client_secret", "refresh_token", "access_token", "code", "Authorization"),
    "acumatica": ("client_secret", "password", "refresh_token", "access_token", "code", "Authorization",
                  "Cookie", "Set-Cookie", ".ASPXAUTH", "ASP.NET_SessionId"),
}


def masked_everywhere(name: str) -> list[str]:
    """The forms a secret-named value takes in text, each checked for the value. `code` and `state` are
    secrets only as OAuth query parameters (as JSON keys they are TikTok's ordinary answer fields)."""
    forms = {"query": f"https://remote.example/x?a=1&{name}={VALUE}&b=2"}
    if name.lower() not in redaction.QUERY_ONLY_NAMES:
        forms.update({"json": f'{{"{name}": "{VALUE}", "other": 1}}', "repr": f"{{'{name}': '{VALUE}'}}"})
    return [kind for kind, text in forms.items() if VALUE in redaction.redact(text)]


def test_services_redact_uses_the_one_mask():
    text = "failed: GET /api?api_key=abc123def&app_secret=xyz987654&sign=0a1b2c3d4e5f"
    assert services.redact(text) == redaction.redact(text) == "failed: GET /api?api_key=***&app_secret=***&sign=***"
    assert "•" not in services.redact(text)


def test_services_redact_masks_the_integrations_own_credentials_with_the_same_mask():
    integration = services.integration_create(name="OSA R", connector="osa",
                                              credentials={"api_key": "key-0001", "api_secret": "sec-RET-42", "osa_domain": "acme"})
    text = services.redact("remote said: bad key key-0001 for sec-RET-42", integration=integration)
    assert text == "remote said: bad key *** for ***"


def test_there_is_one_pattern():
    assert not hasattr(services, "_SECRET_QUERY")


@pytest.mark.parametrize("connector, name", [(c, n) for c, names in WIRE_NAMES.items() for n in names])
def test_each_remotes_secret_parameter_names_are_masked(connector, name):
    assert masked_everywhere(name) == []
    assert redaction.is_secret_name(name)


def test_every_registered_connectors_secret_credentials_are_masked():
    checked = []
    for spec in registry.CONNECTORS.values():
        for credential in spec.credentials:
            if credential.secret:
                assert masked_everywhere(credential.key) == [], (spec.code, credential.key)
                checked.append(credential.key)
    assert "app_secret" in checked and "api_secret" in checked


def test_a_connector_registered_later_has_its_secret_credentials_masked():
    spec = registry.ConnectorSpec(code="later", label="Later", role="fulfillment", settings=(),
                                  credentials=(registry.CredentialSpec("warehouse_pin", "PIN", secret=True),
                                               registry.CredentialSpec("account_no", "Account", secret=False)))
    registry.register(spec)
    try:
        assert masked_everywhere("warehouse_pin") == []
        assert redaction.redact(f"account_no={VALUE}") == f"account_no={VALUE}"  # not secret: kept
    finally:
        registry.unregister("later")


@pytest.mark.parametrize("header", ["Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: Basic b3NhOnNlY3JldA==",
                                    "Cookie: .ASPXAUTH=0F1E2D3C4B5A; ASP.NET_SessionId=abcdefghij12"])
def test_header_lines_are_masked(header):
    masked = redaction.redact(header)
    assert "***" in masked
    for secret in ("eyJhbGciOi", "b3NhOnNlY3JldA", "0F1E2D3C4B5A", "abcdefghij12"):
        assert secret not in masked


def test_per_request_signatures_are_not_registered_but_still_masked_by_name():
    from integrations import redaction

    before = len(redaction._values)
    for n in range(50):  # a worker signing request after request
        redaction.secrets_register_params({"sign": f"{n:064x}", "access_token": "TTP_per_request_test_token"})
    assert len(redaction._values) - before <= 3  # the token once (raw and two quoted forms), no signature
    assert redaction.redact(f"GET /api?sign={49:064x}&x=1") == "GET /api?sign=***&x=1"
    assert "TTP_per_request_test_token" not in redaction.redact("token TTP_per_request_test_token leaked")
