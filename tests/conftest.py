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


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch):
    """User-supplied URL fetches resolve host names themselves (integrations.safe_fetch): no DNS in tests.
    Numeric hosts resolve as the OS does (no lookup), localhost is loopback, any other name is a public
    documentation-range address (the request itself is then answered by `responses`)."""
    import socket

    from integrations import safe_fetch

    def resolve(host: str, port: int) -> list[str]:
        if host == "localhost":
            return ["127.0.0.1"]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            return ["93.184.216.34"]
        return [info[4][0] for info in infos]

    monkeypatch.setattr(safe_fetch, "resolve", resolve)
