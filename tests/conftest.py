import pytest
import responses as responses_lib


@pytest.fixture
def responses():
    """Intercept every `requests` call; unmatched calls fail (no network in tests)."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")
