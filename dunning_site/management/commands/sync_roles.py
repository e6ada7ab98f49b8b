from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from dunning_site.roles import ROLES, sync_roles


class Command(BaseCommand):
    help = (
        "Create the staff role groups and set each group's permissions to exactly those "
        "in dunning_site/roles.py, removing any added by hand. migrate runs this too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="The database to sync (default: %(default)s).")

    def handle(self, *args, database, **options):
        result = sync_roles(using=database)

        for group_name in result.groups_created:
            self.stdout.write(f"Created the group {group_name!r}.")
        for group_name in ROLES:
            added = result.added.get(group_name, [])
            removed = result.removed.get(group_name, [])
            self.stdout.write(f"{group_name}: {len(added)} permissions added, {len(removed)} removed.")
            if options["verbosity"] >= 2:
                for name in added:
                    self.stdout.write(f"  + {name}")
                for name in removed:
                    self.stdout.write(f"  - {name}")
        if result.missing_future:
            self.stdout.write(
                f"Skipped {len(result.missing_future)} permissions of models that do not exist yet."
            )
        if result.missing:
            raise CommandError(
                "These permissions in dunning_site/roles.py do not exist: "
                + ", ".join(result.missing)
                + ". Fix their names, or add them to FUTURE_PERMISSIONS if their model comes later."
            )
