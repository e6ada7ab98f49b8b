"""Role groups: created by migrate with exact permission sets, kept exact by sync_roles,
and superuser-only pages closed to every role."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.sql import emit_post_migrate_signal
from django.urls import path
from import_export.admin import ImportExportModelAdmin

from customers.models import Invoice
from dunning_site import roles
import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# A site with a django-import-export admin, for the import and export permission checks.
import_export_site = admin.AdminSite(name="import_export_admin")
import_export_site.register(Invoice, ImportExportModelAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("import-export-admin/", import_export_site.urls),
]

SUPERUSER_ONLY_CHANGELISTS = [
    "/admin/auth/user/",
    "/admin/auth/group/",
    "/admin/django_q/schedule/",
    "/admin/django_q/success/",
    "/admin/django_q/failure/",
    "/admin/django_q/ormq/",
    "/admin/axes/accessattempt/",
    "/admin/otp_totp/totpdevice/",
]


def permission_names(group: Group) -> set[str]:
    return {
        f"{permission.content_type.app_label}.{permission.codename}"
        for permission in group.permissions.select_related("content_type")
    }


def existing_permission_names() -> set[str]:
    return {
        f"{permission.content_type.app_label}.{permission.codename}"
        for permission in Permission.objects.select_related("content_type")
    }


def test_every_role_permission_exists_after_migrate():
    existing = existing_permission_names()
    for group_name, names in roles.ROLES.items():
        missing = sorted(names - existing - roles.FUTURE_PERMISSIONS)
        assert missing == [], (
            f"{group_name}: these permissions do not exist after migrate; fix their names "
            f"in dunning_site/roles.py or add them to FUTURE_PERMISSIONS: {missing}"
        )


@pytest.mark.parametrize("group_name", list(roles.ROLES))
def test_migrate_creates_group_with_exact_permissions(group_name):
    group = Group.objects.get(name=group_name)

    expected = roles.ROLES[group_name] & existing_permission_names()
    assert permission_names(group) == expected


def test_sync_skips_missing_future_permissions_quietly(caplog):
    result = roles.sync_roles()

    existing = existing_permission_names()
    assert result.missing == []
    assert set(result.missing_future) == roles.FUTURE_PERMISSIONS - existing
    assert "do not exist" not in caplog.text


def test_sync_warns_about_unknown_permission(monkeypatch, caplog):
    monkeypatch.setitem(roles.ROLES, roles.AGENT, roles.AGENT_PERMISSIONS | {"customers.fly_customer"})

    result = roles.sync_roles()

    assert result.missing == ["customers.fly_customer"]
    assert "customers.fly_customer" in caplog.text


def test_sync_removes_permissions_added_by_hand():
    group = Group.objects.get(name=roles.AGENT)
    extra = Permission.objects.get(content_type__app_label="campaigns", codename="delete_campaign")
    group.permissions.add(extra)

    result = roles.sync_roles()

    assert "campaigns.delete_campaign" not in permission_names(group)
    assert result.removed == {roles.AGENT: ["campaigns.delete_campaign"]}


def test_sync_restores_removed_permissions():
    group = Group.objects.get(name=roles.MANAGER)
    group.permissions.clear()

    roles.sync_roles()

    assert permission_names(group) == roles.MANAGER_PERMISSIONS & existing_permission_names()


def test_sync_twice_changes_nothing():
    roles.sync_roles()

    result = roles.sync_roles()

    assert result.groups_created == []
    assert result.added == {}
    assert result.removed == {}
    assert result.permissions_created == []


def test_post_migrate_recreates_deleted_groups():
    Group.objects.filter(name__in=roles.ROLES).delete()

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert set(Group.objects.filter(name__in=roles.ROLES).values_list("name", flat=True)) == set(roles.ROLES)


def test_sync_roles_command_reports_changes(capsys):
    Group.objects.get(name=roles.DATA_STAFF).permissions.clear()

    call_command("sync_roles", verbosity=2)

    output = capsys.readouterr().out
    assert f"{roles.DATA_STAFF}: {len(roles.DATA_STAFF_PERMISSIONS & existing_permission_names())} permissions added" in output
    assert "+ customers.add_importrecord" in output


def test_sync_roles_command_fails_on_unknown_permission(monkeypatch):
    monkeypatch.setitem(roles.ROLES, roles.AGENT, roles.AGENT_PERMISSIONS | {"customers.fly_customer"})

    with pytest.raises(CommandError, match="customers.fly_customer"):
        call_command("sync_roles")


def test_import_export_permissions_exist_for_ledger_models():
    existing = existing_permission_names()

    for name in ["customers.import_invoice", "customers.export_invoice", "campaigns.export_touchpoint"]:
        assert name in existing


def test_no_role_gets_user_group_or_queue_permissions():
    for group_name, names in roles.ROLES.items():
        forbidden = sorted(name for name in names if name.split(".")[0] in {"auth", "django_q", "axes", "otp_totp", "otp_static"})
        assert forbidden == [], f"{group_name} must not manage users, groups, tasks or devices: {forbidden}"


def test_agent_cannot_change_campaigns_or_templates():
    for name in ["campaigns.change_campaign", "campaigns.change_messagetemplate", "campaigns.delete_campaignstep"]:
        assert name not in roles.AGENT_PERMISSIONS
        assert name in roles.MANAGER_PERMISSIONS


def test_data_staff_is_view_only_outside_imports():
    writes = sorted(
        name
        for name in roles.DATA_STAFF_PERMISSIONS
        if name.split(".")[1].split("_")[0] in {"add", "change", "delete"}
    )
    assert writes == ["customers.add_importrecord"]


@pytest.mark.parametrize("url", SUPERUSER_ONLY_CHANGELISTS)
def test_staff_with_every_permission_cannot_open_superuser_pages(client, url):
    user = UserFactory(username="almost-root")
    user.user_permissions.set(Permission.objects.all())
    client.force_login(user)

    response = client.get(url)

    assert response.status_code == 403


@pytest.mark.parametrize("url", SUPERUSER_ONLY_CHANGELISTS)
def test_superuser_opens_superuser_pages(client, url):
    user = UserFactory(username="root", is_superuser=True)
    client.force_login(user)

    response = client.get(url)

    assert response.status_code == 200


def test_superuser_can_still_add_schedule(client):
    user = UserFactory(username="root", is_superuser=True)
    client.force_login(user)

    response = client.get("/admin/django_q/schedule/add/")

    assert response.status_code == 200


def test_task_results_stay_read_only_for_superuser(client):
    # django-q2's own admin offers no "add" for task results; the superuser-only
    # wrapper keeps that.
    user = UserFactory(username="root", is_superuser=True)
    client.force_login(user)

    response = client.get("/admin/django_q/success/add/")

    assert response.status_code == 403


def test_index_hides_superuser_apps(client):
    user = UserFactory(username="almost-root")
    user.user_permissions.set(Permission.objects.all())
    client.force_login(user)

    response = client.get("/admin/")

    app_labels = {app["app_label"] for app in response.context["app_list"]}
    assert "auth" not in app_labels
    assert "django_q" not in app_labels


def role_member(username: str, group_name: str):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.mark.urls("tests.test_roles")
@pytest.mark.parametrize(
    ("group_name", "expected_status"),
    [(roles.DATA_STAFF, 200), (roles.AGENT, 403), (roles.MANAGER, 403)],
)
@pytest.mark.parametrize("view", ["import", "export"])
def test_import_export_urls_need_role_permission(client, group_name, expected_status, view):
    client.force_login(role_member("member", group_name))

    response = client.get(f"/import-export-admin/customers/invoice/{view}/")

    assert response.status_code == expected_status


@pytest.mark.urls("tests.test_roles")
@pytest.mark.parametrize(
    ("group_name", "buttons_shown"),
    [(roles.DATA_STAFF, True), (roles.AGENT, False)],
)
def test_import_export_buttons_follow_permissions(client, group_name, buttons_shown):
    client.force_login(role_member("member", group_name))

    page = client.get("/import-export-admin/customers/invoice/").content.decode()

    assert ("/import-export-admin/customers/invoice/import/" in page) is buttons_shown
    assert ("/import-export-admin/customers/invoice/export/" in page) is buttons_shown
