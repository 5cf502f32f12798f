"""Settings of the LAMPI-like test site. Used ONLY by lampi-agent's integration tests.

Every runtime knob is an environment variable; nothing is written into the source tree:
  LAMPI_SITE_DB                  path of the sqlite database file (required)
  LAMPI_SITE_CSRF_USE_SESSIONS=1 keep the CSRF token in the session (no csrftoken cookie)
  LAMPI_SITE_STALL=N:SECONDS     the N-th request served by the process sleeps SECONDS (lampi.middleware)
"""
import os

from django.core.exceptions import ImproperlyConfigured

# Test-only site: a fixed key is fine.
SECRET_KEY = "lampi-agent-test-site-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "lampi",
]

MIDDLEWARE = [
    "lampi.middleware.StallMiddleware",  # first, so a stalled request also stalls before any other work
    "lampi.middleware.SlowMiddleware",  # LAMPI_SITE_DELAY / LAMPI_SITE_SLOW: a slower site, a known knee
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "lampi_site.urls"
WSGI_APPLICATION = "lampi_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

_db = os.environ.get("LAMPI_SITE_DB")
if not _db:
    raise ImproperlyConfigured("LAMPI_SITE_DB must name the sqlite database file")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _db,
        "OPTIONS": {
            # Several gunicorn threads write sessions concurrently: wait for the lock instead of
            # failing with "database is locked", and let readers run alongside the writer (WAL).
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}

# Django's default (PBKDF2, ~1M rounds) costs ~0.1 s of CPU per login, which would make load tests
# measure password hashing. Salted MD5 is insecure and used here ONLY because this is a test site.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = []

CSRF_USE_SESSIONS = os.environ.get("LAMPI_SITE_CSRF_USE_SESSIONS") == "1"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[django] %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"django": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}
