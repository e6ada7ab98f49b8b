import datetime
import zoneinfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.engine import run_pass
from campaigns.models import ToneTier


def parse_instant(value: str) -> datetime.datetime:
    """Parse an ISO 8601 instant; one without an offset is read in the business zone."""
    try:
        instant = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--at {value!r} is not an ISO 8601 instant; use a form such as 2026-03-01T09:00:00+00:00."
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
    return instant


def parse_date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date {value!r} is not a date in the form YYYY-MM-DD, such as 2026-03-01.") from None


class Command(BaseCommand):
    help = (
        "Run the dunning pass: create the touchpoints that are due, then send them. "
        "Prints a summary; with --dry-run, prints each message it would create and writes nothing."
    )

    def add_arguments(self, parser):
        when = parser.add_mutually_exclusive_group()
        when.add_argument(
            "--at",
            metavar="ISO-INSTANT",
            help=(
                "Run as of this instant, e.g. 2026-03-01T09:00:00+00:00 (without an offset: the business "
                "time zone). New touchpoints are due at it; delivery sends those due by the real clock."
            ),
        )
        when.add_argument(
            "--date",
            metavar="YYYY-MM-DD",
            help="Use this local date for every customer instead of the date in their time zone.",
        )
        parser.add_argument("--dry-run", action="store_true", help="List what would be created; write nothing.")

    def handle(self, *args, at=None, date=None, dry_run=False, **options):
        as_of = parse_instant(at) if at else None
        local_date = parse_date(date) if date else None

        result = run_pass(as_of=as_of, local_date=local_date, dry_run=dry_run, trigger="command")

        if dry_run:
            self.stdout.write(f"Dry run as of {result.as_of.isoformat()}: nothing was written.")
            for item in result.planned:
                line = (
                    f"  {item.customer_name} | invoice {item.invoice_number} | {item.tier_label} | "
                    f"{item.channel} template {item.template_key}"
                )
                if item.reason:
                    line += f" | suppressed: {item.reason}"
                self.stdout.write(line)
        else:
            self.stdout.write(f"Dunning pass as of {result.as_of.isoformat()} (run {result.run_id}).")

        verb = "Would create" if dry_run else "Created"
        queued = sum(result.created_by_tier.values())
        self.stdout.write(f"{verb} {queued} message(s) to send:")
        for tier, count in sorted(result.created_by_tier.items()):
            self.stdout.write(f"  {ToneTier(tier).label}: {count}")
        suppressed = sum(result.suppressed_by_reason.values())
        self.stdout.write(f"{verb} {suppressed} suppressed touchpoint(s):")
        for reason, count in sorted(result.suppressed_by_reason.items()):
            self.stdout.write(f"  {count} × {reason}")
        if result.duplicates_dropped:
            self.stdout.write(f"Dropped {result.duplicates_dropped} touchpoint(s) another pass had already created.")

        if result.delivery is not None:
            delivery = result.delivery
            self.stdout.write(f"Delivery by worker {delivery.worker}: {delivery.claimed} claimed.")
            for status, count in sorted(delivery.by_status.items()):
                self.stdout.write(f"  {status}: {count}")
            self.stdout.write(f"Sent {delivery.sent}, failed {delivery.failed}.")
