"""Settings, all read from the environment (see the README's configuration table).

With no environment at all (`make run`), the embedded default applies: a SQLite
file, an in-memory channel layer, a local-memory cache and Celery tasks run
in-process. Setting REDIS_URL switches channels, cache and Celery to Redis.
"""

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from marketplace.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Environment variable SECRET_KEY is required when DEBUG is off "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - DEBUG only
# .env.example's placeholder is public: a stack started from a copied file without
# replacing it would sign sessions with a key everyone knows.
if not DEBUG and SECRET_KEY.startswith("replace-me"):
    raise ImproperlyConfigured(
        "SECRET_KEY is still .env.example's placeholder; set a random one "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"CSRF_TRUSTED_ORIGINS entry {_origin!r} must start with http:// or https://."
        )
# Pages that may open the WebSockets besides the site's own origin (marketplace/origins.py):
# scheme://host[:port] exactly as a browser sends it, no wildcards.
WEBSOCKET_ALLOWED_ORIGINS = env_list(
    "WEBSOCKET_ALLOWED_ORIGINS", [o for o in CSRF_TRUSTED_ORIGINS if "*" not in o]
)
for _origin in WEBSOCKET_ALLOWED_ORIGINS:
    if not _origin.startswith(("http://", "https://")) or "*" in _origin:
        raise ImproperlyConfigured(
            f"WEBSOCKET_ALLOWED_ORIGINS entry {_origin!r} must be a whole origin "
            "(http:// or https://, a host, an optional port), without wildcards."
        )

INSTALLED_APPS = [
    "daphne",  # before staticfiles: its runserver serves ASGI
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "allauth",
    "allauth.account",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # serves the API docs' assets ourselves: no third-party requests
    "marketplace",
    "tasks",
    "reputation",
    "payouts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "marketplace.content_policy.ContentPolicyMiddleware",
    # Above WhiteNoise: gzips pages, and static files WhiteNoise has no .gz of (all of
    # them under DEBUG). marketplace/compression.py says what it leaves alone and why.
    "marketplace.compression.CompressionMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "marketplace.presence.DeviceCookieMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
ASGI_APPLICATION = "marketplace.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "marketplace.context_processors.roles",
            ],
        },
    },
]

# --- Data ------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Persistent connections: a WebSocket message's database work would otherwise
        # open a new PostgreSQL connection each time (several ms on every claim).
        # No health check: Channels runs it before every message's database work, a
        # round trip each time. A connection broken by a database restart fails one
        # message and is then replaced.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed while one writer commits; IMMEDIATE transactions take
    # the write lock up front, so concurrent writers wait (up to the timeout) instead
    # of failing with "database is locked" when a read lock cannot be upgraded.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
    # A file, not shared-cache memory, so tests that race threads (or start a server
    # process) see one database with real locking.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test_db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "marketplace.User"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times reads out after 5 s by default, exactly how long
            # channels_redis blocks waiting for a message: idle sockets would error.
            # redis-py 8 caps a pool at 100 connections and fails (not waits) beyond:
            # a wave of workers connecting at once needs more for a moment.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "max_connections": 1000}]
            },
        }
    }
    CACHES = {
        "default": {
            # Django's, with one client per pool (see marketplace.cache).
            "BACKEND": "marketplace.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background work ---------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker the embedded default runs tasks in-process, so `make run` needs no Redis.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Two queues, a worker (or several) per queue (docker-compose.yml), so a long job never
# delays one a person waits on. "fast": settling, check scoring, a set's results,
# email; "heavy": the fraud scan, uploads, payout jobs. A job named nowhere here goes
# to "heavy", where it cannot hold up settling (tests/marketplace/test_celery_queues.py
# asks every job to be named).
CELERY_TASK_DEFAULT_QUEUE = "heavy"
CELERY_TASK_ROUTES = {
    "tasks.tasks.settle_closed_task": {"queue": "fast"},
    "tasks.tasks.settle_closed_tasks": {"queue": "fast"},
    "tasks.tasks.settle_overdue_tasks": {"queue": "fast"},
    "reputation.tasks.score_checks": {"queue": "fast"},
    "tasks.tasks.aggregate_task_set": {"queue": "fast"},
    "tasks.tasks.return_leftover_escrow": {"queue": "fast"},
    "marketplace.tasks.email_notification": {"queue": "fast"},
    "reputation.tasks.scan_fraud_signals": {"queue": "heavy"},
    "tasks.tasks.process_upload_job": {"queue": "heavy"},
    "payouts.tasks.mature_held_earnings": {"queue": "heavy"},
    "payouts.tasks.weekly_payout_run": {"queue": "heavy"},
}

# --- Auth and accounts -------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
# Many workers have no email address: they log in by username; requesters may use either.
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email", "username*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
# "optional" for everyone; requesters are held to a verified address by
# marketplace.permissions.requester_required, because workers may have no email.
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SIGNUP_FORM_CLASS = "marketplace.forms.SignupExtraForm"
ACCOUNT_ADAPTER = "marketplace.adapters.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    # Every sign-in, right or wrong, per address: a centre's cohort of ~100 signs in
    # together at the start of a session, from one address.
    "login": env_str("RATE_LIMIT_LOGIN", "200/m/ip"),
    # Off: failed sign-ins are throttled per (login, address) pair instead, by
    # marketplace.login_throttle (LOGIN_* below), so a centre is not locked out at once.
    "login_failed": "",
    "signup": env_str("RATE_LIMIT_SIGNUP", "10/h/ip"),
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
    # Set-up codes are short (people type them from paper), so guesses are throttled hard
    # per username ("key"); per address only loosely, as a centre's cohort shares one.
    "setup_code": env_str("RATE_LIMIT_SETUP_CODE", "10/h/key,200/h/ip"),
}
# Reverse proxies in front of Daphne (a load balancer, nginx): allauth then reads the
# client's address, for its per-IP rate limits, from X-Forwarded-For. 0: REMOTE_ADDR.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("ALLAUTH_TRUSTED_PROXY_COUNT", 0, minimum=0)
# Failed sign-ins, per (login, client address) pair (marketplace/login_throttle.py): the
# first LOGIN_FREE_FAILURES are free, then the n-th failure makes that pair wait 2**n
# seconds (8 s after the third, then 16 s, 32 s, ...) up to LOGIN_MAX_DELAY_SECONDS. From
# one address a guesser soon gets 4 tries an hour at a login; a worker who forgot their
# password never waits longer than the cap; someone elsewhere typing their username cannot
# lock them out at all. A pair's count is forgotten LOGIN_FAILURE_MEMORY_SECONDS after its
# last failure, at once after the right password, or when the worker's coordinator or
# staff unlock them.
LOGIN_FREE_FAILURES = env_int("LOGIN_FREE_FAILURES", 3, minimum=1)
LOGIN_MAX_DELAY_SECONDS = env_int("LOGIN_MAX_DELAY_SECONDS", 15 * 60, minimum=1)
LOGIN_FAILURE_MEMORY_SECONDS = env_int("LOGIN_FAILURE_MEMORY_SECONDS", 24 * 3600, minimum=60)
# Against one address trying passwords across many usernames: after
# LOGIN_ADDRESS_FAILURE_LIMIT failures in a LOGIN_ADDRESS_WINDOW_SECONDS window, the address
# waits for the window to end. 400 in 15 minutes: a centre of ~100 people, each mistyping
# three times in one sitting, stays under it; a sprayer gets at most 1,600 guesses an hour,
# against passwords that passed Django's common-password check.
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 400, minimum=1)
LOGIN_ADDRESS_WINDOW_SECONDS = env_int("LOGIN_ADDRESS_WINDOW_SECONDS", 15 * 60, minimum=1)
SETUP_CODE_VALID_DAYS = env_int("SETUP_CODE_VALID_DAYS", 30, minimum=1)
ENROLMENT_MAX_ROWS = env_int("ENROLMENT_MAX_ROWS", 2000, minimum=1)
ENROLMENT_MAX_BYTES = env_int("ENROLMENT_MAX_BYTES", 1_000_000, minimum=1)
TERMS_VERSION = env_str("TERMS_VERSION", "2026-11")


# --- Task sets and fair pay -------------------------------------------------------
def _pay_floors(raw: str) -> dict[str, int]:
    floors = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        currency, _sep, amount = item.partition(":")
        if not (len(currency) == 3 and currency.isupper() and amount.isdigit()):
            raise ImproperlyConfigured(
                f"PAY_FLOOR_HOURLY_MINOR entry {item!r} must look like USD:200 "
                "(currency, colon, minor units per hour)."
            )
        floors[currency] = int(amount)
    return floors


# Minimum effective hourly pay per currency, in minor units (USD:200 = $2.00/hour).
PAY_FLOOR_HOURLY_MINOR = _pay_floors(
    env_str("PAY_FLOOR_HOURLY_MINOR", "USD:200,EUR:190,GBP:160,KHR:800000,KES:26000,INR:17000")
)
PLATFORM_FEE_PERMILLE = env_int("PLATFORM_FEE_PERMILLE", 200, minimum=0)  # 200 = 20%
MIN_GOLD_TASKS_TO_PUBLISH = env_int("MIN_GOLD_TASKS_TO_PUBLISH", 5, minimum=0)
# --- Earnings and payouts (payouts/earnings.py, payouts/runs.py) ---
# Approved pay waits this long in "pending" before it can be paid out, leaving room
# for a requester's rejection and the worker's appeal.
EARNINGS_HOLD_DAYS = env_int("EARNINGS_HOLD_DAYS", 3, minimum=0)
# --- Fraud signals (reputation/fraud.py) ---
# How far back the signals look, and how often the scan runs (Celery beat).
FRAUD_WINDOW_DAYS = env_int("FRAUD_WINDOW_DAYS", 14, minimum=1)
FRAUD_SCAN_MINUTES = env_int("FRAUD_SCAN_MINUTES", 5, minimum=1)
# The weekly payout run (Celery beat, UTC): ISO weekday (1 = Monday) and hour.
PAYOUT_RUN_WEEKDAY = env_int("PAYOUT_RUN_WEEKDAY", 1, minimum=1)
PAYOUT_RUN_HOUR = env_int("PAYOUT_RUN_HOUR", 2, minimum=0)
if PAYOUT_RUN_WEEKDAY > 7 or PAYOUT_RUN_HOUR > 23:
    raise ImproperlyConfigured("PAYOUT_RUN_WEEKDAY is 1-7 and PAYOUT_RUN_HOUR 0-23.")


def _rail_minimums(raw: str) -> dict[str, dict[str, int]]:
    minimums: dict[str, dict[str, int]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        rail, _sep, rest = item.partition(":")
        currency, _sep, amount = rest.partition(":")
        if not (rail and len(currency) == 3 and currency.isupper() and amount.isdigit()):
            raise ImproperlyConfigured(
                f"PAYOUT_MINIMUMS_MINOR entry {item!r} must look like partner_centre:USD:500 "
                "(rail, currency, minor units)."
            )
        minimums.setdefault(rail, {})[currency] = int(amount)
    return minimums


# The smallest payout per rail and currency, in minor units; a rail pays only the
# currencies listed here. Smaller balances wait for the next run.
PAYOUT_MINIMUMS_MINOR = _rail_minimums(
    env_str(
        "PAYOUT_MINIMUMS_MINOR",
        "partner_centre:USD:200,partner_centre:KHR:800000,stripe_connect:USD:1000,"
        "stripe_connect:EUR:1000",
    )
)
# --- Real-time work (docs/protocol.md) ---
# Claims a worker may hold at once: 2 prefetches the next task while answering one.
WORK_MAX_ACTIVE_CLAIMS = env_int("WORK_MAX_ACTIVE_CLAIMS", 1, minimum=1)
WORK_WS_MAX_MESSAGE_BYTES = env_int("WORK_WS_MAX_MESSAGE_BYTES", 16_384, minimum=1024)
# Per connection: a token bucket refilled at RATE per second, holding at most BURST.
WORK_WS_RATE_PER_SECOND = env_int("WORK_WS_RATE_PER_SECOND", 10, minimum=1)
WORK_WS_BURST = env_int("WORK_WS_BURST", 30, minimum=1)
# Threads per Daphne process running sockets' database work, each with its own
# connection (so at most this many PostgreSQL connections per process). asyncio's
# default would be min(32, cores + 4): on 2 cores, 6 calls at once, the rest queued
# behind commits that wait on the disk.
WORK_DB_THREADS = env_int("WORK_DB_THREADS", 24, minimum=1)
# On PostgreSQL, claims and answers go from the event loop straight to the database
# (tasks.work_async) over at most this many connections per process: each call holds
# one for a millisecond or two.
WORK_DB_CONNECTIONS = env_int("WORK_DB_CONNECTIONS", 8, minimum=1)
# Of those, how many carry calls at once: calls made while all are busy wait and go
# together in the next write, each still its own transaction (tasks.work_async).
WORK_DB_PIPELINES = env_int("WORK_DB_PIPELINES", 2, minimum=1)
# --- Quality and reputation (reputation/standing.py explains the model) ---
QUALITY_FORGETTING_PERMILLE = env_int("QUALITY_FORGETTING_PERMILLE", 970, minimum=500)
QUALITY_CONSENSUS_WEIGHT_PERMILLE = env_int("QUALITY_CONSENSUS_WEIGHT_PERMILLE", 250, minimum=0)
# Training (a sequential test, reputation/standing.py): no verdict before
# QUALITY_TRAINING_CHECKS checks; then qualified once the evidence for "good" (GOOD)
# against "poor" (POOR) reaches EVIDENCE, failed once the evidence the other way does,
# and at MAX_CHECKS whichever side it leans to; a failed attempt can be retried after
# the cooldown. 750/500, 3000 millinats, 10-60 checks: a 75% worker passes the first
# attempt 96.4% of the time, a 50% worker 4.6%, a random answerer on four options
# almost never; an attempt takes 22 checks on average (bench/standing_sim.py).
QUALITY_TRAINING_CHECKS = env_int("QUALITY_TRAINING_CHECKS", 10, minimum=1)
QUALITY_TRAINING_MAX_CHECKS = env_int("QUALITY_TRAINING_MAX_CHECKS", 60, minimum=1)
QUALITY_TRAINING_GOOD_PERMILLE = env_int("QUALITY_TRAINING_GOOD_PERMILLE", 750, minimum=1)
QUALITY_TRAINING_POOR_PERMILLE = env_int("QUALITY_TRAINING_POOR_PERMILLE", 500, minimum=1)
QUALITY_TRAINING_EVIDENCE_MILLINATS = env_int(
    "QUALITY_TRAINING_EVIDENCE_MILLINATS", 3000, minimum=1
)
if not (
    QUALITY_TRAINING_POOR_PERMILLE < QUALITY_TRAINING_GOOD_PERMILLE < 1000
    and QUALITY_TRAINING_CHECKS <= QUALITY_TRAINING_MAX_CHECKS
):
    raise ImproperlyConfigured(
        "QUALITY_TRAINING_POOR_PERMILLE < QUALITY_TRAINING_GOOD_PERMILLE < 1000 and "
        "QUALITY_TRAINING_CHECKS <= QUALITY_TRAINING_MAX_CHECKS."
    )
QUALITY_TRAINING_COOLDOWN_HOURS = env_int("QUALITY_TRAINING_COOLDOWN_HOURS", 24, minimum=0)
# Demotion (a sequential test too): back to training once the evidence that the worker
# is below FLOOR - MARGIN rather than above FLOOR + MARGIN reaches EVIDENCE, and never
# before MIN_CHECKS pieces of evidence since qualifying. See bench/standing_sim.py for
# how fast it catches a 50% worker and that it leaves honest 75% workers alone.
QUALITY_FLOOR_PERMILLE = env_int("QUALITY_FLOOR_PERMILLE", 600, minimum=0)
QUALITY_FLOOR_MARGIN_PERMILLE = env_int("QUALITY_FLOOR_MARGIN_PERMILLE", 100, minimum=1)
QUALITY_DEMOTION_EVIDENCE_MILLINATS = env_int(
    "QUALITY_DEMOTION_EVIDENCE_MILLINATS", 6000, minimum=1
)
QUALITY_FLOOR_MIN_CHECKS = env_int("QUALITY_FLOOR_MIN_CHECKS", 10, minimum=1)
QUALITY_FLOOR_MIN_GOLD_CHECKS = env_int("QUALITY_FLOOR_MIN_GOLD_CHECKS", 8, minimum=0)
# One requester's rejections count against a worker at most this many times.
QUALITY_REJECTIONS_PER_REQUESTER = env_int("QUALITY_REJECTIONS_PER_REQUESTER", 3, minimum=0)
APPEAL_WINDOW_DAYS = env_int("APPEAL_WINDOW_DAYS", 7, minimum=1)
TASK_UPLOAD_MAX_ROWS = env_int("TASK_UPLOAD_MAX_ROWS", 200_000, minimum=1)
TASK_UPLOAD_MAX_BYTES = env_int("TASK_UPLOAD_MAX_BYTES", 50_000_000, minimum=1)
# Files larger than this are processed by a Celery job instead of inside the request.
TASK_UPLOAD_BACKGROUND_BYTES = env_int("TASK_UPLOAD_BACKGROUND_BYTES", 5_000_000, minimum=0)
IMAGE_MAX_BYTES = env_int("IMAGE_MAX_BYTES", 10_000_000, minimum=1)  # one image
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 40_000_000, minimum=1)  # width x height
ZIP_MAX_UNCOMPRESSED_BYTES = env_int("ZIP_MAX_UNCOMPRESSED_BYTES", 2_000_000_000, minimum=1)
# A published set pauses itself once workers' reports (broken or disturbing, one per
# worker and task) reach the larger of MIN and PERMILLE of its regular tasks: 2% of a
# large set, and never on a handful of reports of a small one.
TASK_REPORTS_PAUSE_MIN = env_int("TASK_REPORTS_PAUSE_MIN", 5, minimum=1)
TASK_REPORTS_PAUSE_PERMILLE = env_int("TASK_REPORTS_PAUSE_PERMILLE", 20, minimum=0)

# --- Email -------------------------------------------------------------------
EMAIL_BACKEND = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}[env_choice("EMAIL_BACKEND", "console", {"console", "smtp", "locmem"})]
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Marketplace <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Payments (optional; the money issue uses them) ----------------------------
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
# The signing secret of a Connect webhook endpoint (events of workers' accounts).
STRIPE_CONNECT_WEBHOOK_SECRET = env_str("STRIPE_CONNECT_WEBHOOK_SECRET", "")
# The platform's own country: workers' Express accounts elsewhere are cross-border.
STRIPE_PLATFORM_COUNTRY = env_str("STRIPE_PLATFORM_COUNTRY", "US").upper()
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")  # tests point this at the fake server
# Countries (ISO 3166-1 alpha-2) whose workers may be paid through Stripe Connect
# Express accounts; everyone else is paid by their partner centre. Stripe's reach for
# cross-border payouts varies: check it before adding a country.
STRIPE_CONNECT_COUNTRIES = frozenset(
    code.upper()
    for code in env_list(
        "STRIPE_CONNECT_COUNTRIES",
        [
            "US",
            "GB",
            "IE",
            "FR",
            "DE",
            "ES",
            "IT",
            "NL",
            "BE",
            "AT",
            "PT",
            "FI",
            "SE",
            "DK",
            "NO",
            "PL",
            "CZ",
            "AU",
            "NZ",
            "CA",
            "SG",
            "JP",
        ],
    )
)
if any(len(code) != 2 or not code.isalpha() for code in STRIPE_CONNECT_COUNTRIES):
    raise ImproperlyConfigured("STRIPE_CONNECT_COUNTRIES is a comma-separated list like US,GB,FR.")

# --- Internationalisation ----------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("km", _("Khmer"))]
# locale/: our own strings (make messages). locale_vendor/: Khmer for the django-allauth
# pages (login, sign-up, password reset, email), which allauth does not ship.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_vendor"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files --------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# --- Security ------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Container and load-balancer probes call /healthz over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy on every response (marketplace/content_policy.py adds the
# page's own WebSocket origin to connect-src). Scripts and styles come only from our
# static files, with no inline script or style anywhere, so markup that slips into a
# page runs nothing; images only from our own site, so requester-written instructions
# cannot make workers' phones fetch from elsewhere. form-action is left open: funding
# and Connect onboarding forms redirect to Stripe.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    }
}
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])

# --- API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "marketplace.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "marketplace.api_errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_RATE_USER", "1200/minute"),
        "anon": env_str("API_RATE_ANON", "60/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fair microwork API",
    "DESCRIPTION": "Task sets for requesters. Authenticate with an organization API key: "
    '`Authorization: Bearer mk_…`. Errors: {"error": {"code", "message", "details"}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
