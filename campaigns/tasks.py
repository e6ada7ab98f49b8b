"""django-q2 entry points. Each only says "look for due work": the work itself lives in
touchpoint rows, so a task that is lost or runs twice never loses or duplicates a message.

Parameter names avoid the keywords django-q2 swallows (hook, group, timeout, ...).
"""

from django.db import transaction
from django_q.tasks import async_task

DELIVER_TASK = "campaigns.tasks.deliver_due_touchpoints"


def deliver_due_touchpoints():
    from campaigns.delivery import deliver_due

    return deliver_due()


def request_delivery():
    """Ask the cluster to deliver due touchpoints once the current transaction commits."""
    transaction.on_commit(lambda: async_task(DELIVER_TASK, task_name="deliver due touchpoints"))
