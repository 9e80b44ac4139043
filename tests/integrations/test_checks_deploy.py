"""`check --deploy` refuses what must never run in production (issue #11): any-host ALLOWED_HOSTS, the
sandbox enabled, loopback allowed for user-supplied URL fetches."""
import pytest
from django.core.checks import run_checks


def deploy_errors() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True) if m.id and m.id.startswith("integrations.E02")}


@pytest.fixture
def production_like(settings):
    settings.ALLOWED_HOSTS = ["ops.example.com"]
    settings.SANDBOX_ENABLED = False
    settings.FETCH_ALLOW_LOOPBACK = False
    return settings


def test_a_production_like_configuration_passes(production_like):
    assert deploy_errors() == set()


@pytest.mark.parametrize("hosts", [["*"], ["ops.example.com", "*"], ["."]])
def test_any_host_is_refused(production_like, hosts):
    production_like.ALLOWED_HOSTS = hosts
    assert deploy_errors() == {"integrations.E020"}


def test_the_sandbox_is_refused(production_like):
    production_like.SANDBOX_ENABLED = True
    assert deploy_errors() == {"integrations.E021"}


def test_loopback_fetches_are_refused(production_like):
    production_like.FETCH_ALLOW_LOOPBACK = True
    assert deploy_errors() == {"integrations.E022"}
