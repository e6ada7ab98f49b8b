"""django-q2 entry points. Each only requests a look for due work, because the work itself
lives in touchpoint rows. A task that is lost or runs twice therefore neither loses nor
duplicates a message.

Parameter names avoid the keywords django-q2 swallows (hook, group, timeout, ...).
"""

from django.db import transaction
from django_q.tasks import async_task

DELIVER_TASK = "campaigns.tasks.deliver_due_touchpoints"
PASS_TASK = "campaigns.tasks.run_dunning_pass"


def deliver_due_touchpoints():
    from campaigns.delivery import deliver_due

    return deliver_due().counts()


def request_delivery():
    """Ask the cluster to deliver due touchpoints once the current transaction commits."""
    transaction.on_commit(lambda: async_task(DELIVER_TASK, task_name="deliver due touchpoints"))


def run_dunning_pass():
    """Run the dunning pass as of the real clock, then ask the cluster to deliver.

    The schedule's intended time is deliberately not used: after downtime django-q2
    runs a late slot with the first missed slot's time, and the pass must act on now.
    """
    from campaigns.engine import run_pass

    result = run_pass(trigger="schedule", delivery="enqueue")
    return result.counts()
