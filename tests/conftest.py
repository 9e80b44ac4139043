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


# --- the fault-injection suite's scenario counts (tests/reliability), printed after every run ---


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability(category): a fault-injection scenario of tests/reliability/ (counted per category)")


def pytest_collection_modifyitems(config, items):
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        marker = item.get_closest_marker("reliability")
        if marker is None:
            continue
        row = counts.setdefault(marker.args[0], {"scenarios": 0, "xfail": 0})
        row["scenarios"] += 1
        if item.get_closest_marker("xfail") is not None:
            row["xfail"] += 1
    config._reliability_counts = counts


def pytest_sessionfinish(session):
    """Under pytest-xdist each test process collects the whole suite: one of them hands its counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["reliability_counts"] = getattr(session.config, "_reliability_counts", {})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    counts = getattr(node, "workeroutput", {}).get("reliability_counts")
    if counts:
        node.config._reliability_counts = counts


def pytest_terminal_summary(terminalreporter, config):
    """Per-category scenario counts (`pytest --collect-only -q tests/reliability` prints them alone)."""
    counts = getattr(config, "_reliability_counts", None)
    if not counts:
        return
    terminalreporter.section("fault-injection scenarios (tests/reliability)")
    for category, row in sorted(counts.items()):
        terminalreporter.write_line(f"{category:<16} {row['scenarios']:>4}   of which xfail (known defect): {row['xfail']}")
    total = sum(r["scenarios"] for r in counts.values())
    pending = sum(r["xfail"] for r in counts.values())
    terminalreporter.write_line(f"{'total':<16} {total:>4}   of which xfail (known defect): {pending}")
