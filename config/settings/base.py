"""Settings shared by every mode. Modes: local (default), test, production."""
from config.env import BASE_DIR, VAR_DIR, env

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "import_export",
    "integrations",
    "catalog",
    "orders",
    "inventory",
    "finance",
    "integrations.connectors.tiktok",
    "integrations.connectors.osa",
    "integrations.connectors.katana",
    "integrations.connectors.acumatica",
    "integrations.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
# Embedded default: SQLite in WAL mode. IMMEDIATE transactions take the write lock up front so a
# read-then-write block waits on the busy timeout instead of failing with "database is locked"
# (reference/reliability.md §5.5: 8,888 lock errors with DEFERRED, 0 with IMMEDIATE).
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=20000;",
}
if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "switchyard.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
        }
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# --- field encryption -----------------------------------------------------------------------
# Credentials are encrypted with MultiFernet: the first key encrypts, every key decrypts, so a
# key is rotated by putting the new one first and running `manage.py rotate_credentials`.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- integrations ---------------------------------------------------------------------------
INTEGRATIONS_HTTP_TIMEOUT = (env.float("HTTP_CONNECT_TIMEOUT", default=5.0), env.float("HTTP_READ_TIMEOUT", default=30.0))
INTEGRATIONS_ALLOW_NETWORK = env.bool("INTEGRATIONS_ALLOW_NETWORK", default=True)
# User-supplied URL fetches (product images, integrations/safe_fetch.py): one total deadline per fetch, and
# loopback allowed only when explicitly switched on (tests, local sandbox); production refuses it.
FETCH_TOTAL_SECONDS = env.float("FETCH_TOTAL_SECONDS", default=20.0)
FETCH_ALLOW_LOOPBACK = env.bool("FETCH_ALLOW_LOOPBACK", default=False)
# User-supplied API base URLs (OSA's base URL override) must resolve to public addresses and are pinned to
# the checked address (integrations/safe_fetch.py). Production forces it on; the test settings turn it off.
REMOTE_URL_CHECK = env.bool("REMOTE_URL_CHECK", default=True)
# The sandbox serves emulated TikTok/OSA APIs from this project (on in local mode, off in production).
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=False)
# Public base URL of this back office (OAuth redirect, webhook address, sandbox base URL).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# Lease on a flow: longer than the django-q2 task timeout, so a killed worker's lease expires by itself.
FLOW_LEASE_SECONDS = env.int("FLOW_LEASE_SECONDS", default=900)
# Public webhook endpoints: fixed-window request counters per remote address and per shop (integrations/ratelimit.py);
# over the limit → 429 with Retry-After. TikTok sends every shop's webhooks from a few addresses, so the address limit
# is the larger one. 0 switches a limit off. Behind a reverse proxy, name the header it *overwrites* with the client
# address (e.g. HTTP_X_REAL_IP); by default REMOTE_ADDR is used (a client-supplied X-Forwarded-For is never trusted).
WEBHOOK_RATE_WINDOW_SECONDS = env.int("WEBHOOK_RATE_WINDOW_SECONDS", default=60)
WEBHOOK_RATE_LIMIT_PER_ADDRESS = env.int("WEBHOOK_RATE_LIMIT_PER_ADDRESS", default=1200)
WEBHOOK_RATE_LIMIT_PER_SHOP = env.int("WEBHOOK_RATE_LIMIT_PER_SHOP", default=300)
WEBHOOK_CLIENT_IP_HEADER = env("WEBHOOK_CLIENT_IP_HEADER", default="")
# Outbound request rates per remote account, shared by every worker (integrations/outbound_rate.py): Redis when
# REDIS_URL is set, else the database. Off only in the test settings (tests of the limiter switch it on).
OUTBOUND_RATE_LIMITS_ENABLED = env.bool("OUTBOUND_RATE_LIMITS_ENABLED", default=True)
# The shared limits themselves: TikTok calls per second per shop (integrations/connectors/tiktok/transport.py) and OSA
# calls per minute per OSA account (integrations/connectors/osa/adapter.py).
TIKTOK_QPS = env.float("TIKTOK_QPS", default=5.0)
OSA_REQUESTS_PER_MINUTE = env.int("OSA_REQUESTS_PER_MINUTE", default=120)
FLOW_BACKOFF_BASE_SECONDS = 30
FLOW_BACKOFF_CAP_SECONDS = 3600

# --- django-q2 ------------------------------------------------------------------------------
# Broker redelivery is not our retry mechanism (backoff lives on FlowState, targeted work in its
# outbox), so (docs/reliability.md):
# - every task is acknowledged when it *starts* (integrations.apps: pre_execute), so a task killed by the
#   timeout guard (never reported to the monitor, hence never counted against max_attempts) is not
#   redelivered for ever;
# - `retry` exceeds the longest a fetched task can wait in the local queue plus run: the redelivery
#   clock starts at the fetch, and with queue_limit = workers a task waits behind at most one task per
#   worker: retry > timeout * (1 + queue_limit / workers); checked by integrations.W020;
# - every task is idempotent under double delivery anyway (flow lease, single-flight task leases).
Q_WORKERS = env.int("Q_WORKERS", default=2)
Q_TIMEOUT = 600
Q_CLUSTER = {
    "name": "switchyard",
    "workers": Q_WORKERS,
    "timeout": Q_TIMEOUT,
    "queue_limit": Q_WORKERS,
    "retry": Q_TIMEOUT * 2 + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "recycle": 200,
    "poll": 1.0,
    "label": "Task queue",
}
# django-q2 keeps every failed task row; the daily housekeeping schedule prunes them and old sync runs.
Q_FAILED_TASK_RETENTION_DAYS = env.int("Q_FAILED_TASK_RETENTION_DAYS", default=30)
SYNC_RUN_RETENTION_DAYS = env.int("SYNC_RUN_RETENTION_DAYS", default=90)
# After this many days succeeded / skipped runs are thinned to the first of each flow in each hour (failures kept).
SYNC_RUN_SUCCESS_RETENTION_DAYS = env.int("SYNC_RUN_SUCCESS_RETENTION_DAYS", default=7)
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- django-import-export -------------------------------------------------------------------
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
# Bulk data files: CSV, XLSX (with openpyxl) and JSON only (integrations.resources.BULK_FORMATS, set on every
# bulk admin); size and row caps, refused with a clear message.
BULK_IMPORT_MAX_BYTES = env.int("BULK_IMPORT_MAX_BYTES", default=10 * 1024 * 1024)
BULK_IMPORT_MAX_ROWS = env.int("BULK_IMPORT_MAX_ROWS", default=20_000)
# Files with more rows than this are imported by a django-q2 worker with progress (integrations/bulk_imports.py).
BULK_IMPORT_INLINE_ROWS = env.int("BULK_IMPORT_INLINE_ROWS", default=1000)

# The DEBUG 500 page and error e-mails mask secrets too.
DEFAULT_EXCEPTION_REPORTER = "integrations.error_pages.RedactingExceptionReporter"

# --- logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The event name plus its structured extras as key=value (integrations/logformat.py).
    "formatters": {"plain": {"()": "integrations.logformat.KeyValueFormatter",
                             "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler masks secrets (secret-named parameters, credential values, keys): integrations/redaction.py.
    "filters": {"redact_secrets": {"()": "integrations.redaction.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # urllib3 logs full URLs at DEBUG; TikTok's token calls carry the app secret in the query string.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
