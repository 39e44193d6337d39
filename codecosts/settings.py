"""Codecosts settings, read from the environment (see .env.example).

With nothing set, the product runs as a local proxy: SQLite under var/, local-memory
cache, usage tasks executed in-process. REDIS_URL switches cache, rate limits and the
Celery broker to Redis; DATABASE_URL switches the database.

One module on purpose: Django reads its settings from one module, and every variable a
deployment may set is found here, in one place.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from codecosts import __version__

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
# The local user's alone: it holds the database, the secret key and the CLI's key.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

VERSION = __version__

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    """Take SECRET_KEY from the environment, else from var/secret_key (written by `make run`)."""
    if key := env("SECRET_KEY", default=""):
        return key
    key_file = VAR_DIR / "secret_key"
    if key_file.is_file():
        return key_file.read_text().strip()
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Export SECRET_KEY, or start locally with `make run`, "
        "which generates one into var/secret_key."
    )


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Base of the URLs shown to users (endpoint `url`); empty: derived from the request.
PUBLIC_URL = env("PUBLIC_URL", default="").rstrip("/")

# Local mode: a ready `local` organization and endpoint, /anthropic and /openai routes,
# `manage.py session` without --org. An installation on the embedded SQLite default is a
# local one, so every process of it agrees (the server, `manage.py session` in another
# terminal) with nothing exported; DATABASE_URL (a deployment) or LOCAL_MODE=0 says not.
LOCAL_MODE = env.bool("LOCAL_MODE", default=not env("DATABASE_URL", default=""))
# Refuse every connection whose socket peer is not a loopback address; on in local mode.
LOCAL_ONLY = env.bool("LOCAL_ONLY", default=LOCAL_MODE)
HOST = env("HOST", default="127.0.0.1")
PORT = env.int("PORT", default=3739)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "accounts",
    "proxy",
    "usage",
    "budgets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above the session, CSRF and messages middleware: it sees the cookies they set.
    "codecosts.middleware.SecureCookiesMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Above CSRF, which is the first to read a form body.
    "codecosts.middleware.RequestTooLargeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "codecosts.urls"

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

WSGI_APPLICATION = "codecosts.wsgi.application"
ASGI_APPLICATION = "codecosts.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'codecosts.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the in-process usage writer and page reads proceed side by side.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory: integration tests share the test database with real processes.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "codecosts",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

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
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

# Emails (invitations) go to the console unless a backend is configured.
MAILERS = {
    "default": {
        "BACKEND": env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "codecosts.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# --- Proxy -------------------------------------------------------------------------
ANTHROPIC_UPSTREAM_URL = env("ANTHROPIC_UPSTREAM_URL", default="https://api.anthropic.com").rstrip("/")
OPENAI_UPSTREAM_URL = env("OPENAI_UPSTREAM_URL", default="https://api.openai.com").rstrip("/")
PROXY_MAX_REQUEST_BYTES = env.int("PROXY_MAX_REQUEST_BYTES", default=32 * 1024 * 1024)
PROXY_MAX_RESPONSE_BYTES = env.int("PROXY_MAX_RESPONSE_BYTES", default=10 * 1024 * 1024)
# Request headers beyond these get 431 from the proxy itself (Claude Code sends about 20,
# some 2 KB in all; Node's own server refuses more than 16 KB).
PROXY_MAX_REQUEST_HEADERS = env.int("PROXY_MAX_REQUEST_HEADERS", default=128)
PROXY_MAX_REQUEST_HEADER_BYTES = env.int("PROXY_MAX_REQUEST_HEADER_BYTES", default=64 * 1024)
PROXY_CONNECT_TIMEOUT = env.float("PROXY_CONNECT_TIMEOUT", default=10.0)
PROXY_READ_TIMEOUT = env.float("PROXY_READ_TIMEOUT", default=30.0)
PROXY_TOTAL_TIMEOUT = env.float("PROXY_TOTAL_TIMEOUT", default=600.0)
PROXY_MAX_CONNECTIONS = env.int("PROXY_MAX_CONNECTIONS", default=512)
# Seconds a process keeps an endpoint lookup before asking the shared cache again.
PROXY_ENDPOINT_CACHE_SECONDS = env.float("PROXY_ENDPOINT_CACHE_SECONDS", default=5.0)
# Raw bodies kept per usage log (each); usage is always read from the whole exchange.
LOG_BODY_MAX_BYTES = env.int("LOG_BODY_MAX_BYTES", default=4 * 1024 * 1024)

RATE_LIMIT_MESSAGES_PER_MINUTE = env.int("RATE_LIMIT_MESSAGES_PER_MINUTE", default=300)
RATE_LIMIT_COUNT_TOKENS_PER_MINUTE = env.int("RATE_LIMIT_COUNT_TOKENS_PER_MINUTE", default=600)
RATELIMIT_USE_CACHE = "default"

# Sign-in, sign-up and one-time links (accounts/throttles.py): attempts per minute, 0 = off.
THROTTLE_LOGIN_PER_USERNAME_PER_MINUTE = env.int("THROTTLE_LOGIN_PER_USERNAME_PER_MINUTE", default=10)
THROTTLE_LOGIN_PER_IP_PER_MINUTE = env.int("THROTTLE_LOGIN_PER_IP_PER_MINUTE", default=30)
THROTTLE_SIGNUP_PER_IP_PER_MINUTE = env.int("THROTTLE_SIGNUP_PER_IP_PER_MINUTE", default=10)
THROTTLE_LINKS_PER_IP_PER_MINUTE = env.int("THROTTLE_LINKS_PER_IP_PER_MINUTE", default=30)
# Budget alerts' webhooks are user input: loopback, private and link-local targets are
# refused unless allowed (tests; local mode, where the user is the only one).
ALERT_WEBHOOKS_ALLOW_PRIVATE = env.bool("ALERT_WEBHOOKS_ALLOW_PRIVATE", default=LOCAL_MODE)

# --- Usage pipeline ------------------------------------------------------------------
# Where records wait, on disk, while the broker is unreachable.
USAGE_SPOOL_DIR = Path(env("USAGE_SPOOL_DIR", default=str(VAR_DIR / "spool")))
# Without REDIS_URL: usage is written by a process of its own, which `manage.py serve`
# starts (usage.writer; `codecosts proxy start` sets it), rather than in the server's.
USAGE_WRITER = env.bool("USAGE_WRITER", default=False)

CELERY_BROKER_URL = REDIS_URL or "memory://"
if REDIS_URL:
    CELERY_BROKER_TRANSPORT = "codecosts.broker:Transport"  # kombu's, one bug fixed
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
# And the usage batches' JSON made by orjson (codecosts.celery.USAGE_SERIALIZER).
CELERY_ACCEPT_CONTENT = ["json", "application/x-codecosts-json"]
CELERY_TASK_ROUTES = {"usage.tasks.*": {"queue": "usage"}}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Publishing gives up fast when the broker is away (the record then waits on disk,
    # usage.pipeline): one immediate retry, each connect at most 0.5 s (kombu's defaults
    # blocked the shipper 6 s a publish). Workers keep Celery's consumer retries.
    "socket_connect_timeout": 0.5,
    "socket_timeout": 5,
    "max_retries": 1,
    "interval_start": 0,
    # The usage task is acknowledged late: a message taken by a worker that then died is
    # given to another after this long (kombu's default is an hour). Above the longest a
    # task waits for its retry (usage.tasks.RETRY_BACKOFF_MAX_SECONDS) or runs; a batch
    # delivered twice is harmless (idempotent writes). Swept every 10 s, so a killed
    # worker's batches are written again within about 70 s.
    "visibility_timeout": 60,
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    # JSON text already: kombu's base64 over it made messages a third larger.
    "body_encoding": "utf-8",
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# Threads: a batch waits on PostgreSQL half its time (benchmarks/worker_ingest.py).
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_CONCURRENCY = 4
CELERY_TASK_ACKS_LATE = False
# For late-acknowledged tasks (usage.tasks): a task that fails, times out, or whose worker
# process is killed is not acknowledged, so it is delivered again, never dropped. The
# usage task never fails for what a batch holds (it isolates and keeps dead letters).
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TIMEZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"no_client_tracebacks": {"()": "codecosts.log.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {
        "class": "logging.StreamHandler", "formatter": "plain", "filters": ["no_client_tracebacks"]
    }},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "httpx": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Behind TLS --------------------------------------------------------------------
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own),
# trust it: those requests are secure, so their cookies get `Secure` and their responses
# HSTS. Decided per request, since the same process serves plain-http loopback in local
# mode: codecosts.middleware.SecureCookiesMiddleware marks the cookies, SecurityMiddleware
# sends HSTS on secure requests only.
TRUST_X_FORWARDED_PROTO = env.bool("TRUST_X_FORWARDED_PROTO", default=False)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if TRUST_X_FORWARDED_PROTO else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)

# --- Content-Security-Policy (pages; proxy routes never reach the middleware) -----
# No inline script or style anywhere: templates use classes and static/js/codecosts.js.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
