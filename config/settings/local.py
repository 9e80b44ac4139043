"""Embedded default: SQLite, ORM broker, sandbox on, generated local keys under var/."""
import secrets

from cryptography.fernet import Fernet

from config.env import VAR_DIR, env
from config.settings.base import *  # noqa: F403


def _local_secret(name: str, make) -> str:
    """Read a generated dev secret from var/, creating it once; production never does this."""
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = SECRET_KEY or _local_secret("secret_key", lambda: secrets.token_urlsafe(50))  # noqa: F405
FIELD_ENCRYPTION_KEYS = FIELD_ENCRYPTION_KEYS or [_local_secret("field_key", lambda: Fernet.generate_key().decode())]  # noqa: F405
ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]"]  # noqa: F405
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=True)
FETCH_ALLOW_LOOPBACK = env.bool("FETCH_ALLOW_LOOPBACK", default=SANDBOX_ENABLED)  # emulators live on loopback
# Serve static files straight from the apps while developing (no collectstatic needed).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
