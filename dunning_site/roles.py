"""Staff roles: each role is a Django group with an exact set of permissions.

`ROLES` maps each group name to the permissions ("app_label.codename") its members get.
`sync_roles()` creates the groups and sets each group's permissions to exactly that set,
removing any permission added by hand. It runs after every `migrate` (a post_migrate
receiver, because permissions do not exist yet inside data migrations on a fresh
database) and from `manage.py sync_roles`.

Managing users, groups and the django-q2 task queue is for superusers only and belongs to
no role (see dunning_site/admin.py).
"""

import logging
from dataclasses import dataclass, field

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

logger = logging.getLogger(__name__)

AGENT = "collections agent"
MANAGER = "collections manager"
DATA_STAFF = "data staff"

# Apps whose models get the `import_<model>` and `export_<model>` permissions that
# django-import-export checks (IMPORT_EXPORT_*_PERMISSION_CODE in settings).
IMPORT_EXPORT_APPS = ("customers", "campaigns", "offers")
IMPORT_EXPORT_ACTIONS = ("import", "export")


def is_manager(user) -> bool:
    """Return True for an active superuser or member of the collections manager role."""
    if user is None or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=MANAGER).exists()


def permissions(app_label: str, actions: str, *model_names: str) -> set[str]:
    """Build "app.action_model" names, for example permissions("customers", "view change", "pause")."""
    return {
        f"{app_label}.{action}_{model_name}"
        for action in actions.split()
        for model_name in model_names
    }


CUSTOMERS_MODELS = (
    "source",
    "customer",
    "contact",
    "invoice",
    "payment",
    "customercredit",
    "paymentcard",
    "dispute",
    "pause",
    "promisetopay",
    "importrecord",
)
CAMPAIGNS_MODELS = (
    "campaign",
    "campaignversion",
    "campaignstep",
    "messagetemplate",
    "invoiceenrollment",
    "dunningrun",
    "touchpoint",
    "touchpointinvoice",
    "touchpointevent",
)

# Permissions of models that do not exist yet (payment plans, plan policies, the contact
# policy). sync_roles() skips them while they are missing; every other name in ROLES must
# exist after migrate, which tests/test_roles.py checks.
FUTURE_PERMISSIONS = frozenset(
    permissions("offers", "view add", "paymentplan", "installment")
    | permissions("offers", "view add change delete", "planpolicy")
    | {"offers.approve_paymentplan", "offers.reject_paymentplan"}
    | permissions("campaigns", "view change", "contactpolicy")
)

AGENT_PERMISSIONS = frozenset(
    # Work customers and their invoices: look up, never edit ledger data.
    permissions(
        "customers",
        "view",
        "source",
        "customer",
        "contact",
        "invoice",
        "payment",
        "customercredit",
        "paymentcard",
        "importrecord",
    )
    # Collections state that agents keep beside the ledger.
    | permissions("customers", "view add change", "dispute", "pause", "promisetopay")
    | {"customers.add_payment"}
    # Touchpoints: read every message and decision; log a call or note as a manual touchpoint.
    | permissions("campaigns", "view", "touchpoint", "touchpointinvoice", "touchpointevent")
    | {"campaigns.add_touchpoint"}
    | permissions(
        "campaigns",
        "view",
        "campaign",
        "campaignversion",
        "campaignstep",
        "messagetemplate",
        "invoiceenrollment",
    )
    # Propose payment plans.
    | permissions("offers", "view add", "paymentplan", "installment")
)

MANAGER_PERMISSIONS = frozenset(
    AGENT_PERMISSIONS
    | permissions(
        "campaigns",
        "add change delete",
        "campaign",
        "campaignversion",
        "campaignstep",
        "messagetemplate",
    )
    | {"customers.change_source", "campaigns.view_dunningrun"}
    | permissions("campaigns", "view change", "contactpolicy")
    | permissions("offers", "view add change delete", "planpolicy")
    | {"offers.approve_paymentplan", "offers.reject_paymentplan"}
)

DATA_STAFF_PERMISSIONS = frozenset(
    permissions("customers", "view", *CUSTOMERS_MODELS)
    | permissions("campaigns", "view", *CAMPAIGNS_MODELS)
    | {"customers.add_importrecord"}
    | permissions("customers", "import", "source", "customer", "contact", "invoice", "payment", "paymentcard")
    | permissions("customers", "export", *CUSTOMERS_MODELS)
    | permissions("campaigns", "export", *CAMPAIGNS_MODELS)
)

ROLES: dict[str, frozenset[str]] = {
    AGENT: AGENT_PERMISSIONS,
    MANAGER: MANAGER_PERMISSIONS,
    DATA_STAFF: DATA_STAFF_PERMISSIONS,
}


@dataclass
class RoleSyncResult:
    """The changes one sync_roles() call made, and the permissions it could not find."""

    groups_created: list[str] = field(default_factory=list)
    permissions_created: list[str] = field(default_factory=list)
    added: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    missing_future: list[str] = field(default_factory=list)


def import_export_permissions_ensure(*, using: str = DEFAULT_DB_ALIAS, apps=global_apps) -> list[str]:
    """Create the `import_<model>` and `export_<model>` permissions that are missing.

    Returns the names ("app.codename") it created. Historical models of
    django-simple-history get none: their rows are never imported or exported.
    """
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    created = []
    for app_label in IMPORT_EXPORT_APPS:
        try:
            app_config = apps.get_app_config(app_label)
        except LookupError:
            continue
        for model in app_config.get_models():
            opts = model._meta
            if opts.model_name.startswith("historical"):
                continue
            content_type = ContentType.objects.db_manager(using).get_for_model(model, for_concrete_model=False)
            for action in IMPORT_EXPORT_ACTIONS:
                codename = f"{action}_{opts.model_name}"
                _, was_created = Permission.objects.using(using).get_or_create(
                    content_type=content_type,
                    codename=codename,
                    defaults={"name": f"Can {action} {opts.verbose_name_raw}"[:255]},
                )
                if was_created:
                    created.append(f"{app_label}.{codename}")
    return created


def sync_roles(*, using: str = DEFAULT_DB_ALIAS, apps=global_apps) -> RoleSyncResult:
    """Create each role's group and set its permissions to exactly those in ROLES.

    Permissions in FUTURE_PERMISSIONS that do not exist yet are skipped silently; any
    other missing permission is skipped with a warning and listed in `missing`.
    Running it twice changes nothing the second time.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    result = RoleSyncResult()
    result.permissions_created = import_export_permissions_ensure(using=using, apps=apps)

    wanted_names = set().union(*ROLES.values())
    by_name = {}
    for permission in Permission.objects.using(using).select_related("content_type"):
        name = f"{permission.content_type.app_label}.{permission.codename}"
        if name in wanted_names:
            by_name[name] = permission

    missing = sorted(wanted_names - by_name.keys())
    result.missing_future = [name for name in missing if name in FUTURE_PERMISSIONS]
    result.missing = [name for name in missing if name not in FUTURE_PERMISSIONS]
    if result.missing:
        logger.warning(
            "Role sync skipped %d permissions that do not exist: %s. "
            "Fix the names in dunning_site/roles.py or mark them as future permissions.",
            len(result.missing),
            ", ".join(result.missing),
        )

    for group_name, names in ROLES.items():
        group, created = Group.objects.using(using).get_or_create(name=group_name)
        if created:
            result.groups_created.append(group_name)
        wanted = {by_name[name] for name in names if name in by_name}
        current = set(group.permissions.all())
        to_add = wanted - current
        to_remove = current - wanted
        if to_add:
            group.permissions.add(*to_add)
            result.added[group_name] = sorted(_permission_name(p) for p in to_add)
        if to_remove:
            group.permissions.remove(*to_remove)
            result.removed[group_name] = sorted(_permission_name(p) for p in to_remove)
    return result


def _permission_name(permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def sync_roles_after_migrate(sender, *, using=DEFAULT_DB_ALIAS, apps=global_apps, verbosity=1, **kwargs):
    """Run sync_roles() at the end of `migrate` and after a test database flush."""
    try:
        apps.get_model("auth", "Group")
        apps.get_model("contenttypes", "ContentType")
    except LookupError:
        # auth or contenttypes is migrated back to zero: there is nothing to sync into.
        return
    result = sync_roles(using=using, apps=apps)
    if verbosity >= 2:
        for group_name in result.groups_created:
            print(f"  Created the role group {group_name!r}.")
        for group_name, names in result.added.items():
            print(f"  Role {group_name!r}: added {len(names)} permissions.")
        for group_name, names in result.removed.items():
            print(f"  Role {group_name!r}: removed {len(names)} permissions.")
