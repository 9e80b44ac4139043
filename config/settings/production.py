"""Production: refuses to start without its secrets and hosts; passes `check --deploy`."""
from django.core.exceptions import ImproperlyConfigured

from config.env import env
from config.settings.base import *  # noqa: F403

_missing = [
    name
    for name, value in (
        ("SECRET_KEY", SECRET_KEY),  # noqa: F405
        ("FIELD_ENCRYPTION_KEYS", FIELD_ENCRYPTION_KEYS),  # noqa: F405
        ("ALLOWED_HOSTS", ALLOWED_HOSTS),  # noqa: F405
    )
    if not value
]
if _missing:
    raise ImproperlyConfigured(f"Production mode needs these environment variables: {', '.join(_missing)}")

if env.bool("FETCH_ALLOW_LOOPBACK", default=False):
    raise ImproperlyConfigured("FETCH_ALLOW_LOOPBACK is for tests and the local sandbox; production refuses it.")

DEBUG = False
FETCH_ALLOW_LOOPBACK = False
REMOTE_URL_CHECK = True  # user-supplied API base URLs: public addresses only, whatever the environment says
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
CONN_MAX_AGE = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_MAX_AGE"] = CONN_MAX_AGE  # noqa: F405
