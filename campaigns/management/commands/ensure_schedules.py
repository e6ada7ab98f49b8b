from django.core.management.base import BaseCommand

from campaigns.schedules import DUNNING_PASS_MINUTES, ensure_schedules


class Command(BaseCommand):
    help = f"Create or update the django-q2 schedule that runs the dunning pass every {DUNNING_PASS_MINUTES} minutes."

    def handle(self, *args, **options):
        schedule, created = ensure_schedules()
        action = "Created" if created else "Updated"
        self.stdout.write(
            f'{action} schedule "{schedule.name}": {schedule.func} every {schedule.minutes} minutes, '
            f"next run {schedule.next_run:%Y-%m-%d %H:%M %Z}."
        )
