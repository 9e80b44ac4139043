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
