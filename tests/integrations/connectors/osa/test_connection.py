"""Connection: environments, base URLs, the tester marking the integration Connected or Error."""

import pytest
from django.test import override_settings

from integrations import services
from integrations.connectors.osa import connection
from integrations.connectors.osa.settings import BASE_URLS
from integrations.models import Integration, OpsException

from .conftest import settings_set

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("env", ["production", "stage", "uat"])
def test_each_environment_has_its_base_url(osa_integration, env):
    settings_set(osa_integration, osa_environment=env)
    assert connection.osa_base_url(osa_integration) == BASE_URLS[env]


def test_base_url_override_wins(osa_integration):
    settings_set(osa_integration, osa_base_url="https://osa.partner.example/api/v1/")
    assert connection.osa_base_url(osa_integration) == "https://osa.partner.example/api/v1"


@override_settings(SITE_URL="http://127.0.0.1:8000", SANDBOX_ENABLED=True)
def test_sandbox_environment_points_at_the_emulator(osa_integration):
    osa_integration.environment = "sandbox"
    assert connection.osa_base_url(osa_integration) == "http://127.0.0.1:8000/integrations/osa/sandbox/api/v1"


def test_environment_field_used_until_the_setting_is_chosen(db):
    # given: created without choosing "Select OSA environment"
    integration = services.integration_create(name="OSA 2", connector="osa", environment="uat",
                                              credentials={"api_key": "k", "api_secret": "s", "osa_domain": "d"})
    # then
    assert integration.environment == "uat" and connection.osa_base_url(integration) == BASE_URLS["uat"]
    # when the setting is chosen it wins
    settings_set(integration, osa_environment="production")
    assert connection.osa_base_url(integration) == BASE_URLS["production"]


def test_new_integration_starts_on_stage(db):
    integration = services.integration_create(name="OSA 3", connector="osa")
    assert integration.environment == "stage" and connection.osa_base_url(integration) == BASE_URLS["stage"]


def test_spec_declares_environments_and_tester(osa_integration):
    spec = osa_integration.spec
    assert [code for code, _ in spec.environments] == ["stage", "uat", "production", "sandbox"]
    assert spec.connection_tester == "integrations.connectors.osa.connection.osa_connection_test"


def test_connection_ok_marks_connected_and_stores_store_id(osa_integration, osa_api):
    # given
    osa_api.fixture("GET", "/account", "account__ok.json")
    # when
    ok, message = services.integration_test_connection(integration=osa_integration)
    # then
    osa_integration.refresh_from_db()
    assert ok is True and "store 1042" in message
    assert osa_integration.status == Integration.Status.CONNECTED and osa_integration.remote_account_id == "acme-uc3"
    assert osa_integration.remote_state["store_id"] == "1042"


def test_connection_rejected_shows_error_beside_integration(osa_integration, osa_api):
    # given
    osa_api.fixture("GET", "/account", "error__invalid_credentials.json", status=401)
    # when
    ok, message = services.integration_test_connection(integration=osa_integration)
    # then
    osa_integration.refresh_from_db()
    assert ok is False and osa_integration.status == Integration.Status.ERROR
    assert "API Key or API Secret is wrong" in osa_integration.last_error
    assert OpsException.objects.get(code="auth").category == "connector"


def test_missing_credentials_is_an_error_without_any_call(osa_integration, osa_api):
    osa_integration.set_credentials({"api_key": "k"})
    osa_integration.save()
    ok, message = services.integration_test_connection(integration=osa_integration)
    assert ok is False and "API Secret" in message and "OSA Domain" in message and len(osa_api.mock.calls) == 0


def test_successful_authenticated_flow_run_marks_the_integration_connected(osa_integration, emulator):
    # given: a new integration nobody has tested yet
    assert osa_integration.status == Integration.Status.NOT_CONFIGURED
    # when: a flow talks to OSA with the credentials
    run = services.flow_run(flow_state=osa_integration.flow_states.get(flow="pull_locations"))
    # then
    osa_integration.refresh_from_db()
    assert run.status == "succeeded" and osa_integration.status == Integration.Status.CONNECTED


def test_a_run_after_an_auth_error_resolves_it_once_osa_accepts_the_credentials(osa_integration, osa_api):
    # given: OSA refused the credentials once
    osa_api.fixture("GET", "/locations", "error__invalid_credentials.json", status=401)
    services.flow_run(flow_state=osa_integration.flow_states.get(flow="pull_locations"))
    osa_integration.refresh_from_db()
    assert osa_integration.status == Integration.Status.ERROR
    # when: the next call is accepted
    osa_api.mock.replace("GET", osa_api.url("/locations"), json={"locations": []})
    services.flow_run(flow_state=osa_integration.flow_states.get(flow="pull_locations"))
    # then
    osa_integration.refresh_from_db()
    assert osa_integration.status == Integration.Status.CONNECTED
    assert not OpsException.objects.filter(dedup_key=f"connector:auth:{osa_integration.pk}", status="open").exists()


def test_server_error_does_not_mark_connected(osa_integration, osa_api):
    # given
    osa_api.fixture("GET", "/locations", "error__server.json", status=502)
    # when
    services.flow_run(flow_state=osa_integration.flow_states.get(flow="pull_locations"))
    # then
    osa_integration.refresh_from_db()
    assert osa_integration.status == Integration.Status.NOT_CONFIGURED


# --- the base URL override goes through safe_fetch's address rule (issue #11, item 3) ----------------

@pytest.fixture
def url_check_on(settings, monkeypatch):
    from integrations import safe_fetch

    settings.REMOTE_URL_CHECK, settings.FETCH_ALLOW_LOOPBACK = True, False
    table = {"osa.partner.example": ["93.184.216.34"], "osa.internal.example": ["10.0.0.7"]}

    def resolve(host, port):
        if host in table:
            return table[host]
        raise OSError("no such host")

    monkeypatch.setattr(safe_fetch, "resolve", resolve)


@pytest.mark.parametrize("override", ["http://169.254.169.254/latest", "http://127.0.0.1:8000/api/v1",
                                      "http://[::ffff:127.0.0.1]/api", "http://2130706433/api",
                                      "https://osa.internal.example/api/v1", "https://nowhere.invalid/api"])
def test_a_non_public_base_url_override_is_refused_before_any_call(osa_integration, url_check_on, responses, override):
    from integrations.exceptions import AuthError

    settings_set(osa_integration, osa_base_url=override)
    with pytest.raises(AuthError, match="must be a public http"):
        connection.osa_adapter(osa_integration)
    services.integration_test_connection(integration=osa_integration)
    osa_integration.refresh_from_db()
    assert osa_integration.status == Integration.Status.ERROR and len(responses.calls) == 0


def test_a_public_base_url_override_is_used_pinned_to_its_checked_address(osa_integration, url_check_on, responses):
    from integrations import safe_fetch

    settings_set(osa_integration, osa_base_url="https://osa.partner.example/api/v1")
    adapter = connection.osa_adapter(osa_integration)
    pinned = adapter.session.get_adapter("https://osa.partner.example/api/v1/account")
    assert isinstance(pinned, safe_fetch._PinnedAdapter) and pinned._address == "93.184.216.34"
    responses.get("https://osa.partner.example/api/v1/account",
                  json={"domain": "acme-uc3", "name": "Acme", "store_id": "1042"})
    assert adapter.account_get().domain == "acme-uc3"


def test_the_built_in_environments_need_no_check(osa_integration, url_check_on):
    settings_set(osa_integration, osa_environment="production")
    assert connection.osa_adapter(osa_integration).session.get_adapter(BASE_URLS["production"]).__class__.__name__ == "HTTPAdapter"


def test_production_settings_force_the_check():
    text = (connection.__file__.rsplit("/integrations/", 1)[0] + "/config/settings/production.py")
    assert "REMOTE_URL_CHECK = True" in open(text).read()
