"""Settings for the dunning back office, read from environment variables in one place.

Every variable has a default that lets a fresh clone run on SQLite with django-q2's ORM
broker and the file outbox for email. `.env.example` lists them all.
"""

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_HASHES, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from dunning_site.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    env_time_zone,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DUNNING_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is missing; set it, or set DJANGO_DEBUG=true for local use."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    # The project's admin site: Django's admin with the two-factor login rule.
    "dunning_site.apps.DunningAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "anymail",
    "import_export",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "customers",
    "campaigns",
    "offers",
    # Last, so that its post_migrate receiver runs after every other app's permissions exist.
    "dunning_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Adds request.user.is_verified(), which the admin site checks when two-factor is required.
    "django_otp.middleware.OTPMiddleware",
    # Lets django-simple-history store the acting user on every history row.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dunning_site.urls"
WSGI_APPLICATION = "dunning_site.wsgi.application"

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

# Database. SQLite is the quick-start default; WAL mode, immediate transactions and a
# busy timeout let runserver and one qcluster share the file without "database is locked".
SQLITE_PATH = VAR_DIR / "dunning.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The database cache is shared by every process (web, each qcluster), which django-q2's
# monitoring needs; LocMemCache would be invisible across processes.
CACHES = {
    "default": {
        "BACKEND": env_str(
            "DJANGO_CACHE_BACKEND", "django.core.cache.backends.db.DatabaseCache"
        ),
        "LOCATION": env_str("DJANGO_CACHE_LOCATION", "dunning_cache"),
    }
}

# django-axes checks every login for a lockout before the model backend checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The business: its time zone (TIME_ZONE, used for "today" where a customer has no zone),
# its default locale for customer messages, and the admin's language.
TIME_ZONE = env_time_zone("DUNNING_BUSINESS_TIME_ZONE", "Europe/London")
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = env_str("DUNNING_ADMIN_LANGUAGE", "en")
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
DUNNING_DEFAULT_LOCALE = env_str("DUNNING_DEFAULT_LOCALE", "en-GB")
# Customer-facing template languages staff can choose from (language codes, no region).
DUNNING_MESSAGE_LANGUAGES = env_list("DUNNING_MESSAGE_LANGUAGES", ["en", "fr", "de", "es", "nl"])

DUNNING_BUSINESS_NAME = env_str("DUNNING_BUSINESS_NAME", "Northwind Supplies")
DUNNING_FROM_EMAIL = env_str("DUNNING_FROM_EMAIL", "Northwind Accounts <accounts@northwind.example>")
DEFAULT_FROM_EMAIL = DUNNING_FROM_EMAIL
SERVER_EMAIL = DUNNING_FROM_EMAIL
# A payment dated within this many days earns a thank-you; older ones are recorded silently.
DUNNING_THANK_YOU_MAX_AGE_DAYS = env_int("DUNNING_THANK_YOU_MAX_AGE_DAYS", 7, minimum=0)
# Invoices whose amount due is below this (in any currency's major unit) are not dunned.
DUNNING_MIN_BALANCE = env_str("DUNNING_MIN_BALANCE", "1.00")
try:
    DUNNING_MIN_BALANCE = Decimal(DUNNING_MIN_BALANCE)
except InvalidOperation:
    raise ImproperlyConfigured(f"DUNNING_MIN_BALANCE={DUNNING_MIN_BALANCE!r} is not a decimal number such as 1.00.") from None
# How long a delivery worker may hold a claimed touchpoint before another may take it over.
DUNNING_DELIVERY_LEASE_SECONDS = env_int("DUNNING_DELIVERY_LEASE_SECONDS", 300, minimum=30)
# How many touchpoints one delivery task claims at a time.
DUNNING_DELIVERY_BATCH_SIZE = env_int("DUNNING_DELIVERY_BATCH_SIZE", 50, minimum=1)

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"

# Email. One switch: DUNNING_ESP names an anymail ESP (postmark, mailgun, sendgrid, brevo,
# ...) and DUNNING_ESP_API_KEY its key; other ESP settings pass through as ANYMAIL_<NAME>
# variables (for example ANYMAIL_MAILGUN_SENDER_DOMAIN). Without an ESP, each message is
# written as an .eml file under var/outbox/ by the project's outbox backend.
ESP_KEY_SETTING = {
    "amazon_ses": None,
    "brevo": "BREVO_API_KEY",
    "mailersend": "MAILERSEND_API_TOKEN",
    "mailgun": "MAILGUN_API_KEY",
    "mailjet": "MAILJET_API_KEY",
    "mandrill": "MANDRILL_API_KEY",
    "postal": "POSTAL_KEY",
    "postmark": "POSTMARK_SERVER_TOKEN",
    "resend": "RESEND_API_KEY",
    "sendgrid": "SENDGRID_API_KEY",
    "sparkpost": "SPARKPOST_API_KEY",
}
DUNNING_ESP = env_choice("DUNNING_ESP", ["", *ESP_KEY_SETTING], "")
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in __import__("os").environ.items()
    if name.startswith("ANYMAIL_")
}
if DUNNING_ESP:
    EMAIL_BACKEND = f"anymail.backends.{DUNNING_ESP}.EmailBackend"
    key_setting = ESP_KEY_SETTING[DUNNING_ESP]
    if key_setting:
        api_key = env_str("DUNNING_ESP_API_KEY")
        if not api_key:
            raise ImproperlyConfigured(
                f"DUNNING_ESP={DUNNING_ESP} needs DUNNING_ESP_API_KEY; set it or unset DUNNING_ESP."
            )
        ANYMAIL[key_setting] = api_key
else:
    EMAIL_BACKEND = "dunning_site.mail.OutboxEmailBackend"
DUNNING_OUTBOX_DIR = Path(env_str("DUNNING_OUTBOX_DIR", str(VAR_DIR / "outbox")))

# django-q2. The ORM broker on the default database: durable and at-least-once, so every
# task is idempotent and the work itself lives in touchpoint rows, never in task payloads.
Q_CLUSTER = {
    # The site name: every cluster process and the web tier must share it, because it
    # salts the signature of queued tasks. (django-q2 reads Q_CLUSTER_NAME itself to pick
    # which queue a qcluster process serves, so the site name has its own variable.)
    "name": env_str("DUNNING_Q_SITE_NAME", "dunning"),
    "orm": "default",
    "workers": env_int("Q_CLUSTER_WORKERS", 2, minimum=1),
    # A dunning pass or a delivery batch that runs longer than this is killed.
    "timeout": env_int("Q_CLUSTER_TIMEOUT", 600, minimum=30),
    # The broker re-presents an unacknowledged task after `retry` seconds. It must exceed
    # timeout plus queue wait plus clock skew, or a slow task runs twice at once.
    "retry": env_int("Q_CLUSTER_RETRY", 720, minimum=60),
    # A task that raised is acknowledged and kept as a failure instead of being re-run
    # forever: failed sends are retried through touchpoint state, not broker redelivery.
    "ack_failures": True,
    "max_attempts": 1,
    # A missed 15-minute slot needs no replay: the next pass catches up by itself, and
    # replaying slots after downtime would only queue identical passes.
    "catch_up": False,
    # Keep prefetching low so that tasks do not age in memory toward `retry`.
    "queue_limit": 4,
    "bulk": 1,
    "save_limit": 250,
    "poll": 1,
    "label": "Task queue",
    # Large spreadsheet imports run on their own queue, served by a second cluster process
    # started with Q_CLUSTER_NAME=imports, so a long import never delays the dunning pass
    # or delivery. An import of a whole ledger may take many minutes.
    "ALT_CLUSTERS": {
        "imports": {
            "workers": env_int("Q_IMPORTS_WORKERS", 1, minimum=1),
            "timeout": env_int("Q_IMPORTS_TIMEOUT", 3600, minimum=60),
            "retry": env_int("Q_IMPORTS_RETRY", 3720, minimum=120),
        },
    },
}
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"] + 30:
    raise ImproperlyConfigured(
        f"Q_CLUSTER_RETRY={Q_CLUSTER['retry']} must exceed Q_CLUSTER_TIMEOUT="
        f"{Q_CLUSTER['timeout']} by more than 30 seconds, or slow tasks run twice."
    )
IMPORTS_QUEUE = Q_CLUSTER["ALT_CLUSTERS"]["imports"]
if IMPORTS_QUEUE["retry"] <= IMPORTS_QUEUE["timeout"] + 30:
    raise ImproperlyConfigured(
        f"Q_IMPORTS_RETRY={IMPORTS_QUEUE['retry']} must exceed Q_IMPORTS_TIMEOUT="
        f"{IMPORTS_QUEUE['timeout']} by more than 30 seconds, or slow imports run twice."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django_q": {"level": env_str("Q_LOG_LEVEL", "INFO"), "propagate": True},
    },
}

# Security. Production (DJANGO_DEBUG false) defaults to HTTPS-only cookies, HSTS and an
# HTTPS redirect; each can be changed by its variable. `manage.py check --deploy` is clean
# with the production variables of docs/roles.md set.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# The admin reads the CSRF token from the form, never from the cookie, so scripts need no access.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", 8 * 60 * 60, minimum=60)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Trust X-Forwarded-Proto only behind a proxy that always sets it, or any client can claim HTTPS.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content security policy (django-csp 4). Scripts come only from STATIC_URL: the Django
# admin, django-simple-history and django-otp pages have no inline script. The one inline
# handler of django-import-export's export page ("select all") is allowed by its hash.
# Inline styles are allowed because sent emails, shown in the touchpoint page, and some
# package templates use style attributes. With images, fonts and connections limited to
# the site itself, injected CSS has no way to send data out.
IMPORT_EXPORT_SELECT_ALL_HANDLER_HASH = "'sha256-wid4zL8fR53ZYy1ljOepzR77Dn6vWUUxuNnnWWBP3I8='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_HASHES, IMPORT_EXPORT_SELECT_ALL_HANDLER_HASH],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}
if env_str("DJANGO_CSP_REPORT_URI"):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [env_str("DJANGO_CSP_REPORT_URI")]

# Login throttling (django-axes). A username is locked out from one client address after
# AXES_FAILURE_LIMIT failed logins, for the cool-off time; a successful login resets the count.
AXES_FAILURE_LIMIT = env_int("DUNNING_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DUNNING_LOGIN_COOLOFF_MINUTES", 30, minimum=1))
# Locking by username and address together stops one attacker from locking every user out
# of a shared office address, and stops one address from guessing one user's password.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Behind reverse proxies, set DUNNING_PROXY_COUNT to their number: the client address is
# then read from the header they append to (DUNNING_CLIENT_IP_HEADER), counting from the
# right. Without it every login seems to come from the proxy, and one attacker locks every
# user out. Without a proxy keep 0 (REMOTE_ADDR), because clients can forge the header.
AXES_CLIENT_IP_CALLABLE = "dunning_site.client_address.client_ip_address"
DUNNING_PROXY_COUNT = env_int("DUNNING_PROXY_COUNT", 0, minimum=0)
DUNNING_CLIENT_IP_HEADER = env_str("DUNNING_CLIENT_IP_HEADER", "HTTP_X_FORWARDED_FOR")

# Two-factor login (django-otp TOTP). When on, managers and superusers must log in with a
# code from a confirmed device; other staff with a confirmed device must use it too.
DUNNING_REQUIRE_2FA = env_bool("DUNNING_REQUIRE_2FA", False)
OTP_TOTP_ISSUER = env_str("DUNNING_OTP_ISSUER", DUNNING_BUSINESS_NAME)

# django-import-export checks `<app>.import_<model>` and `<app>.export_<model>`; the role
# sync creates those permissions, so staff without them see no import or export button.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"

# Change history (django-simple-history): no reverting from the history page, because a
# revert would bypass the services that check each write.
SIMPLE_HISTORY_REVERT_DISABLED = True
