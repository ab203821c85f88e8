"""Podium settings: one module, read from the environment through typed helpers.

With no variables set, everything runs on one machine on embedded defaults
(SQLite under var/, a filesystem Celery broker, local-memory cache, files under
var/media; PODIUM_STORAGE_URL moves them to an S3-compatible store). PODIUM_ENV=production turns on the deploy checks.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from csp import constants as csp

from common import broker
from common.env import EnvError, env_bool, env_float, env_int, env_list, env_str
from common.protocol import GPU_QUEUE, SCORING_QUEUE
from podium.env import database_from_url, email_from_url
from podium.storage_url import media_storage_from_url


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("podium")
    except metadata.PackageNotFoundError:  # a checkout run without installing it
        return "dev"


BASE_DIR = Path(__file__).resolve().parent.parent.parent  # the repository root
VAR_DIR = Path(env_str("PODIUM_VAR_DIR", str(BASE_DIR / "var")))
# The embedded defaults (SQLite file, broker folder, media) live here; a fresh clone has none.
VAR_DIR.mkdir(parents=True, exist_ok=True)

PODIUM_ENV = env_str("PODIUM_ENV", "development")
if PODIUM_ENV not in {"development", "test", "production"}:
    raise EnvError(f"PODIUM_ENV={PODIUM_ENV!r} must be development, test or production")
PRODUCTION = PODIUM_ENV == "production"

# Off unless asked for (PODIUM_DEBUG=1), `make run` included: Django's debug pages show
# settings and the whole URLconf to anyone who finds an error.
DEBUG = env_bool("PODIUM_DEBUG", default=False)
if PRODUCTION:
    SECRET_KEY = env_str("PODIUM_SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise EnvError("PODIUM_SECRET_KEY must be at least 50 characters in production")
else:
    SECRET_KEY = env_str("PODIUM_SECRET_KEY", "dev-insecure-" + "x" * 50)

ALLOWED_HOSTS = env_list("PODIUM_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("PODIUM_CSRF_TRUSTED_ORIGINS", [])
# The public address workers use to reach the API (they post back over HTTP).
PODIUM_PUBLIC_URL = env_str("PODIUM_PUBLIC_URL", "http://127.0.0.1:8000")
# What the status page reports as deployed: set by the deploy (an image tag, a commit).
PODIUM_VERSION = env_str("PODIUM_VERSION", "") or _package_version()
PODIUM_DEPLOYED_AT = env_str("PODIUM_DEPLOYED_AT", "")
# How long the status (worker inspection, queue depths, medians) is reused before it is measured again.
PODIUM_STATUS_CACHE_S = env_int("PODIUM_STATUS_CACHE_S", 15, minimum=0)
# When set, a test needing PostgreSQL/Redis fails instead of skipping.
PODIUM_REQUIRE_SERVICES = env_bool("PODIUM_REQUIRE_SERVICES", default=False)

INSTALLED_APPS = [
    # First: its admin/ templates (the admin's favicon, underlined breadcrumb links, labelled
    # date and time inputs) override the admin's own.
    "podium.web",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "podium.accounts",
    "podium.competitions",
    "podium.teams",
    "podium.submissions",
    "podium.leaderboards",
    "podium.mail",
    "podium.operations",
    "podium.lab",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a login its backend refused into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "podium.urls"
WSGI_APPLICATION = "podium.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:home"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# --- database -------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'podium.sqlite3'}")
DATABASES = {"default": database_from_url(DATABASE_URL)}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Persistent connections suit long-lived worker threads (gunicorn); a server that starts
    # a thread per request (manage.py runserver) must set 0, or it leaks one per request.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("PODIUM_DB_CONN_MAX_AGE", 60, minimum=0)
# Parallel test runs (several developers, one PostgreSQL) need distinct test databases.
_test_tag = env_str("PODIUM_TEST_DB_TAG", "")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["TEST"] = {"NAME": f"test_podium{'_' + _test_tag if _test_tag else ''}"}
else:
    # A file, not :memory:, so that live-server tests and worker processes share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test_podium{'_' + _test_tag if _test_tag else ''}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ------------------------------------------------------------------
CACHE_URL = env_str("CACHE_URL", "locmem://")
if CACHE_URL.startswith("redis://") or CACHE_URL.startswith("rediss://"):
    CACHES = {
        "default": {
            # An unreachable Redis is a miss there, never a 500 (podium/cache.py); short
            # timeouts so that a Redis that does not answer does not hold a request either.
            "BACKEND": "podium.cache.TolerantRedisCache",
            "LOCATION": CACHE_URL,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
elif CACHE_URL.startswith("locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "podium"}}
else:
    raise EnvError(f"CACHE_URL={CACHE_URL!r}: use redis://… or locmem://")

# --- files ------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("PODIUM_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never routed: files are served through views that check access
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# Media (datasets' files, answer keys, predictions, weights): the local filesystem by default,
# file:///path or s3://bucket?endpoint_url=… (podium.storage_url); a bad URL stops start-up.
PODIUM_STORAGE_URL = env_str("PODIUM_STORAGE_URL", "")
_media_storage = media_storage_from_url(PODIUM_STORAGE_URL)
if _media_storage.media_root is not None:
    MEDIA_ROOT = _media_storage.media_root
STORAGES = {
    "default": _media_storage.backend,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Whitenoise's default is DEBUG as it is when the middleware starts, which the test runner has set to False:
# it would then want the STATIC_ROOT that only collectstatic (the image build) makes. Production keeps False.
WHITENOISE_AUTOREFRESH = DEBUG
# Upload caps: checked while streaming, not after buffering.
PODIUM_MAX_DATASET_FILE_BYTES = env_int("PODIUM_MAX_DATASET_FILE_BYTES", 200 * 1024 * 1024, minimum=1)
PODIUM_MAX_SUBMISSION_BYTES = env_int("PODIUM_MAX_SUBMISSION_BYTES", 100 * 1024 * 1024, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# A chunked body (no Content-Length) is read before Django sees it (podium.request_body), up
# to the largest body any endpoint takes: a dataset's two files and the form beside them.
PODIUM_MAX_CHUNKED_BODY_BYTES = env_int(
    "PODIUM_MAX_CHUNKED_BODY_BYTES",
    2 * PODIUM_MAX_DATASET_FILE_BYTES + DATA_UPLOAD_MAX_MEMORY_SIZE,
    minimum=1,
)

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "podium.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "podium.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Podium API",
    "DESCRIPTION": "Competitions, datasets, submissions and leaderboards.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's Swagger UI is served from our static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One component per input and output shape, so a client generated from the schema parses
    # every answer: nullable fields as null, not absent; writes and reads apart.
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for a choice set used by several fields (the run's precision asked and used;
    # a dataset's or a metric's task type).
    "ENUM_NAME_OVERRIDES": {
        "PrecisionEnum": ["fp32", "bf16"],
        "TaskTypeEnum": "podium.competitions.models.TaskType",
    },
    # The one error body, the error answers every operation can give, and the links between
    # operations (podium.api_schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "podium.api_schema.document_error_responses",
        "podium.api_operations.document_operations",
    ],
    # The worker callbacks have a schema of their own (/api/worker/schema/, podium.urls).
    "PREPROCESSING_HOOKS": ["podium.api_operations.exclude_worker_endpoints"],
}

# --- email ------------------------------------------------------------------
# console:// on the embedded defaults (mails appear on the process's output); an SMTP
# server in production. Links in mails point at PODIUM_PUBLIC_URL.
PODIUM_EMAIL_URL = env_str("PODIUM_EMAIL_URL", "console://")
_email = email_from_url(PODIUM_EMAIL_URL)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _email.get("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("PODIUM_EMAIL_FROM", "Podium <noreply@podium.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# How long a sign-up's verification link and a password-reset link stay valid.
PODIUM_EMAIL_VERIFY_MAX_AGE_S = env_int("PODIUM_EMAIL_VERIFY_MAX_AGE_S", 3 * 24 * 3600, minimum=60)
PASSWORD_RESET_TIMEOUT = env_int("PODIUM_PASSWORD_RESET_TIMEOUT_S", 24 * 3600, minimum=60)
# How long before a joined competition closes its participants are reminded.
PODIUM_CLOSING_REMINDER_S = env_int("PODIUM_CLOSING_REMINDER_S", 24 * 3600, minimum=60)

# --- Celery -----------------------------------------------------------------
# The embedded default needs no server: the filesystem transport (common.transports) under var/broker.
CELERY_BROKER_URL = broker.broker_url()
CELERY_BROKER_TRANSPORT = broker.broker_transport(CELERY_BROKER_URL)
# On Redis, the visibility timeout every task's hard time limit must stay below (checked at start-up).
CELERY_BROKER_TRANSPORT_OPTIONS = broker.transport_options(CELERY_BROKER_URL, VAR_DIR)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = broker.task_time_limit()
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = SCORING_QUEUE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}  # filled by podium.celery from each app's periodic tasks
# Tests (and scripts) may run tasks in-process; the suite's pipeline tests use real workers.
CELERY_TASK_ALWAYS_EAGER = env_bool("PODIUM_CELERY_EAGER", default=False)

# --- submissions ------------------------------------------------------------
PODIUM_HEARTBEAT_TIMEOUT = timedelta(seconds=env_int("PODIUM_HEARTBEAT_TIMEOUT_S", 120, minimum=5))
PODIUM_MAX_ATTEMPTS = env_int("PODIUM_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
PODIUM_WORKER_TOKEN_TTL = timedelta(seconds=env_int("PODIUM_WORKER_TOKEN_TTL_S", 6 * 3600, minimum=60))
# An entry queued this long without a claim is assumed lost with its message (broker restart).
PODIUM_QUEUED_TIMEOUT = timedelta(seconds=env_int("PODIUM_QUEUED_TIMEOUT_S", 1800, minimum=5))
PODIUM_REAPER_INTERVAL_S = env_int("PODIUM_REAPER_INTERVAL_S", 30, minimum=1)
# How long one plugin metric may compute for one entry before the entry fails; well below
# the heartbeat timeout, after which the reaper would send a scoring entry again.
PODIUM_METRIC_PLUGIN_TIMEOUT_S = env_float("PODIUM_METRIC_PLUGIN_TIMEOUT_S", 30.0, minimum=0.1, maximum=600.0)
PODIUM_TRAIN_QUEUE = env_str("PODIUM_TRAIN_QUEUE", GPU_QUEUE)
# The fair queue (podium.submissions.queue): model entries wait in the database and are
# released to the training queue in turn. "fair": round robin over entrants, then
# competitions, then oldest first; "fifo": oldest first (the fairness benchmark's baseline).
PODIUM_DISPATCH_ORDER = env_str("PODIUM_DISPATCH_ORDER", "fair")
if PODIUM_DISPATCH_ORDER not in ("fair", "fifo"):
    raise EnvError(f"PODIUM_DISPATCH_ORDER={PODIUM_DISPATCH_ORDER!r}: use 'fair' or 'fifo'")
# How many released entries may wait unclaimed (in the broker or a worker's prefetch).
# 0: the training workers' capacity as beat's release last read it, else 4.
PODIUM_DISPATCH_WINDOW = env_int("PODIUM_DISPATCH_WINDOW", 0, minimum=0, maximum=100_000)
PODIUM_SCORING_QUEUE = SCORING_QUEUE

# --- security ---------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the site's htmx requests read it
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every response: only the site's own files run, and
# nothing inline, in scripts or in styles; pages keep their data in data-* attributes and
# json_script blocks, and their behaviour in static/web/js/site.js. A page that would need
# an exception gets it from its view (django-csp's decorators), never here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],  # data: for the favicon placeholder and Swagger UI's icons
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("PODIUM_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("PODIUM_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- sign-in and rate limits -------------------------------------------------
# Every counter is in the default cache (CACHE_URL): see "Rate limits" in docs/operations.md.
# How many proxies stand in front of the web tier: their X-Forwarded-For entries name the
# client. 0 (no proxy): the connection's address, whatever the client writes in headers.
PODIUM_PROXY_COUNT = env_int("PODIUM_PROXY_COUNT", 0, minimum=0, maximum=10)
AUTHENTICATION_BACKENDS = [
    # First: a locked-out account or address is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins (site, admin) per account and, separately, per address (django-axes).
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("PODIUM_LOGIN_FAILURE_LIMIT", 10, minimum=1)
# The window and the lockout: each failure restarts it, so a guesser stays locked out.
AXES_COOLOFF_TIME = timedelta(seconds=env_int("PODIUM_LOGIN_LOCKOUT_S", 15 * 60, minimum=1))
AXES_CLIENT_IP_CALLABLE = "podium.accounts.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "podium.web.views.account.login_locked_out"
AXES_ENABLE_ADMIN = False  # the cache handler keeps no rows for the admin to list
AXES_DISABLE_ACCESS_LOG = True
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    if PRODUCTION:
        raise EnvError(
            "PODIUM_ENV=production needs CACHE_URL=redis://…: every web process must share the rate limits"
        )
    # axes.W001 says a local-memory cache is counted per process; on one machine (make run's two
    # gunicorn workers) that allows up to twice a limit, which docs/operations.md says.
    SILENCED_SYSTEM_CHECKS = ["axes.W001"]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # models.W040: the board's covering index (`include=`, so a page is read from the index alone
    # on PostgreSQL) is a plain index on SQLite, which has no non-key columns. Nothing is wrong
    # on the embedded default; the warning only repeated itself on every manage.py command.
    SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "models.W040"]
# Failed API token attempts per address, and new entries per participant (DRF throttles).
PODIUM_TOKEN_FAILURE_RATE = env_str("PODIUM_TOKEN_FAILURE_RATE", "20/15m")
PODIUM_INTAKE_RATE = env_str("PODIUM_INTAKE_RATE", "60/1m")

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("PODIUM_LOG_LEVEL", "INFO")},
}
