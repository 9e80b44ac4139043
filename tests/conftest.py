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


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite the test database is a file (WAL, in a temporary directory), not Django's in-memory default.
    With an in-memory database pytest-django hands the live server thread the test thread's own connection, so a
    browser poll served while the test writes fails with "database table is locked" (CI, stop 20). A file gives
    every thread its own connection and SQLite's busy timeout serialises them, as in production. Same speed."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")
