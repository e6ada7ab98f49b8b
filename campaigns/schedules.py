"""The django-q2 schedules this project needs, created or updated idempotently."""

from django.db import transaction
from django_q.models import Schedule

from campaigns.tasks import PASS_TASK

DUNNING_PASS_SCHEDULE = "dunning pass"
DUNNING_PASS_MINUTES = 15


@transaction.atomic
def ensure_schedules() -> tuple[Schedule, bool]:
    """Create or update the 15-minute "dunning pass" schedule; return it and whether it
    was created.

    Schedule.name is not unique in django-q2, so copies with the same name (made by hand
    in the admin, for example) are deleted to keep one pass per slot.
    """
    existing = list(Schedule.objects.select_for_update().filter(name=DUNNING_PASS_SCHEDULE).order_by("id"))
    for extra in existing[1:]:
        extra.delete()

    # next_run is left alone on update, so re-running this does not move the next slot.
    schedule, created = Schedule.objects.update_or_create(
        name=DUNNING_PASS_SCHEDULE,
        defaults={
            "func": PASS_TASK,
            "args": None,
            "kwargs": None,
            "schedule_type": Schedule.MINUTES,
            "minutes": DUNNING_PASS_MINUTES,
            "repeats": -1,
        },
    )
    return schedule, created
