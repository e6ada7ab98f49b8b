import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Skip tests marked `postgres` when the suite runs on SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); CI runs these")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def outbox_dir(settings, tmp_path):
    """Send through the project's .eml outbox backend into a fresh folder."""
    settings.EMAIL_BACKEND = "dunning_site.mail.OutboxEmailBackend"
    settings.DUNNING_OUTBOX_DIR = tmp_path / "outbox"
    return tmp_path / "outbox"


@pytest.fixture
def anymail_backend(settings):
    """Send through anymail's test backend so that anymail_status is set."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    from django.core import mail

    mail.outbox = []
    return mail.outbox


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"
