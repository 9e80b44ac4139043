import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "SECRET_KEY": "prod-" + "x9Tq" * 16,
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "ops.example.com",
}


def _clean_env(**extra) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**keep, "DJANGO_SETTINGS_MODULE": "config.settings.production", **extra}


def _run(args, env):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_each_required_variable(missing):
    env = _clean_env(**{k: v for k, v in PROD_ENV.items() if k != missing})
    result = _run(["-c", "import django; django.setup()"], env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"Production mode needs these environment variables: {missing}" in result.stderr


def test_production_passes_check_deploy_with_its_variables():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _clean_env(**PROD_ENV))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db
def test_sqlite_uses_wal_and_immediate_transactions():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only settings")
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 20000
    # WAL needs a file database; the in-memory test database reports "memory", so check a file one.
    from django.db.backends.sqlite3.base import DatabaseWrapper

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = DatabaseWrapper({**connection.settings_dict, "NAME": f"{tmp}/wal.sqlite3"}, alias="wal_check")
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone()[0] == "wal"
        finally:
            wrapper.close()


def test_outbound_rate_limits_are_read_from_the_environment():
    # given: the two shared limits set in the environment (README Configuration)
    env = _clean_env(**PROD_ENV, TIKTOK_QPS="2.5", OSA_REQUESTS_PER_MINUTE="300")
    # when
    result = _run(["-c", "import django; django.setup(); from django.conf import settings as s; "
                         "print(s.TIKTOK_QPS, s.OSA_REQUESTS_PER_MINUTE)"], env)
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2.5", "300"]
    defaults = _run(["-c", "import django; django.setup(); from django.conf import settings as s; "
                           "print(s.TIKTOK_QPS, s.OSA_REQUESTS_PER_MINUTE)"], _clean_env(**PROD_ENV))
    assert defaults.stdout.split() == ["5.0", "120"]
