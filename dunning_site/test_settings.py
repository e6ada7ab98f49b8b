"""Settings for the test suite: the real settings with tasks run inline and a test ESP.

django-q2 reads Q_CLUSTER once at import, so `sync` must be set here rather than with
the `settings` fixture.
"""

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DUNNING_OUTBOX_DIR", tempfile.mkdtemp(prefix="dunning-test-outbox-"))
# The test client speaks plain HTTP; production redirects it to HTTPS.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")

from dunning_site.settings import *  # noqa: E402,F403

Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# pytest-django forces locmem mail during tests; tests that need anymail_status select
# anymail's test backend or the outbox backend with the `settings` fixture.
EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
# The test client's login() calls authenticate() without a request, which django-axes'
# backend rejects; this subclass lets such calls through. Logins through the admin's login
# page are throttled as in production.
AUTHENTICATION_BACKENDS = [
    "dunning_site.auth_backends.RequestOptionalAxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
