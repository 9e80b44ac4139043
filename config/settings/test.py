"""Test mode: fast hasher, fixed keys, tasks run inline, network refused by the HTTP client."""
from config.env import env
from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
FIELD_ENCRYPTION_KEYS = ["dGVzdC1rZXktMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="]
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
INTEGRATIONS_ALLOW_NETWORK = False
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=True)
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
OUTBOUND_RATE_LIMITS_ENABLED = False  # tests of integrations/outbound_rate.py switch it on
REMOTE_URL_CHECK = False  # fake hosts (osa.partner.example...); tests/integrations/test_safe_fetch.py turns it on

# pytest-xdist (`make test` runs the suite in one process per core): each test process has its own database
# (pytest-django suffixes its name with the worker id) and, on the Redis broker, its own Redis database number, so one
# process's queue purges and counts never see another's tasks.
_XDIST_WORKER = env("PYTEST_XDIST_WORKER", default="")
if REDIS_URL and _XDIST_WORKER.startswith("gw"):  # noqa: F405
    from urllib.parse import urlsplit, urlunsplit

    _redis = urlsplit(REDIS_URL)  # noqa: F405
    _redis_db = int(_redis.path.strip("/") or 0) + int(_XDIST_WORKER[2:])
    REDIS_URL = urlunsplit(_redis._replace(path=f"/{_redis_db}"))
    Q_CLUSTER["redis"] = REDIS_URL
