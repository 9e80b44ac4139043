"""The shared single-flight refresh (integrations.oauth_tokens), re-entered in the same thread: a run nested inside
the refresh call (same database connection, which the row lock cannot block) never sends the refresh token twice.
Between threads the row lock serialises refreshes (tiktok/test_tokens.py, katana/test_oauth_webhooks.py on PG)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import oauth_tokens, services
from integrations.exceptions import AuthError, TransientError
from integrations.models import Integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(db):
    integration = services.integration_create(name="Remote", connector="katana",
                                              credentials={"access_token": "acc-1", "refresh_token": "ref-1"})
    Integration.objects.filter(pk=integration.pk).update(auth_expires_at=timezone.now() + timedelta(minutes=2))
    return Integration.objects.get(pk=integration.pk)


def refresh_with(integration, refresh):
    def store(fresh, data):
        creds = fresh.get_credentials()
        creds.update(access_token=data["access_token"], refresh_token=data["refresh_token"])
        fresh.set_credentials(creds)
        fresh.save(update_fields=["credentials_encrypted"])

    return oauth_tokens.token_refresh_single_flight(
        integration=integration, stale_access_token="acc-1", label="remote", needs_refresh=lambda fresh: True,
        refresh=refresh, store=store, refused=lambda i, reason: AuthError(reason))


def test_nested_refresh_uses_the_stored_token_while_it_is_valid(integration):
    sent, nested = [], []

    def refresh(fresh, creds):
        sent.append(creds["refresh_token"])
        nested.append(refresh_with(Integration.objects.get(pk=integration.pk), refresh))
        return {"access_token": "acc-2", "refresh_token": "ref-2"}

    assert refresh_with(integration, refresh) == "acc-2"
    assert sent == ["ref-1"] and nested == ["acc-1"]
    assert Integration.objects.get(pk=integration.pk).get_credentials()["refresh_token"] == "ref-2"


def test_nested_refresh_of_an_expired_token_is_retryable_and_sends_nothing(integration):
    Integration.objects.filter(pk=integration.pk).update(auth_expires_at=timezone.now() - timedelta(seconds=1))
    sent, errors = [], []

    def refresh(fresh, creds):
        sent.append(creds["refresh_token"])
        with pytest.raises(TransientError, match="a token refresh is in flight in this worker") as exc:
            refresh_with(Integration.objects.get(pk=integration.pk), refresh)
        errors.append(exc.value)
        return {"access_token": "acc-2", "refresh_token": "ref-2"}

    assert refresh_with(integration, refresh) == "acc-2"
    assert sent == ["ref-1"] and len(errors) == 1
