import pytest
from django.core.exceptions import ImproperlyConfigured

from dunning_site import env


def test_env_bool_rejects_unknown_word(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG='maybe' is not a boolean"):
        env.env_bool("SOME_FLAG")


def test_env_int_names_variable(monkeypatch):
    monkeypatch.setenv("SOME_COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="SOME_COUNT='ten' is not a whole number"):
        env.env_int("SOME_COUNT", 1)


def test_env_time_zone_rejects_unknown(monkeypatch):
    monkeypatch.setenv("SOME_ZONE", "Mars/Olympus")
    with pytest.raises(ImproperlyConfigured, match="not an IANA time zone"):
        env.env_time_zone("SOME_ZONE", "UTC")


def test_q_cluster_uses_orm_broker():
    from django.conf import settings

    assert settings.Q_CLUSTER["orm"] == "default"
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
    assert settings.Q_CLUSTER["catch_up"] is False
