import datetime

from django.core.management.base import BaseCommand, CommandError

from customers.imports import plan_store


class Command(BaseCommand):
    help = (
        "Expire import previews that were not confirmed within --days days, and delete the stored plans "
        "of stale and failed imports. Applied imports keep their per-row changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="age in days after which an unconfirmed preview expires (default 30)")

    def handle(self, *args, days, **options):
        if days < 1:
            raise CommandError(f"--days {days} is too small; give 1 or more")
        expired, deleted = plan_store.expire_old_plans(datetime.timedelta(days=days))
        self.stdout.write(f"Expired {expired} previews older than {days} days; deleted {deleted} stored plan entries.")
