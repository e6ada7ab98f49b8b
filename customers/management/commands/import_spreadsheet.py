"""Import a spreadsheet of invoices or payments into a source from the command line."""

from django.core.management.base import BaseCommand, CommandError

from customers.imports import services
from customers.imports.errors import ImportFileError
from customers.imports.layouts import LAYOUTS, LAYOUT_SHORT_NAMES
from customers.models import ImportRecord


class Command(BaseCommand):
    help = (
        "Import a CSV or XLSX file of invoices or payments into a source. The file is applied "
        "all at once or not at all; rejected rows are listed and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[str(kind) for kind in services.IMPORT_KINDS], help="What the file contains.")
        parser.add_argument("file", help="Path of the CSV or XLSX file.")
        parser.add_argument(
            "--source",
            help='Name of the source (ledger) the file comes from; created if missing. '
            'Default: "Stripe" for the Stripe layout, "Spreadsheet" otherwise.',
        )
        parser.add_argument(
            "--layout",
            choices=sorted([*LAYOUTS, *LAYOUT_SHORT_NAMES]),
            help="File layout; detected from the header row when omitted.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and show the changes without writing them.")
        history = parser.add_mutually_exclusive_group()
        history.add_argument(
            "--historical",
            dest="historical",
            action="store_const",
            const=True,
            help="Record payments silently (no thank-you). Default: only for the source's first import.",
        )
        history.add_argument(
            "--not-historical",
            dest="historical",
            action="store_const",
            const=False,
            help="Thank customers for recent payments, even on the source's first import.",
        )

    def handle(self, *args, kind, file, source, layout, dry_run, historical, **options):
        try:
            layout_name = services.detect_file_layout(file, kind=kind, layout=layout)
        except ImportFileError:
            layout_name = layout or ""  # the import below records and prints the error
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        source_name = source or services.default_source_name(layout_name)

        record = services.import_file(
            file,
            kind=kind,
            source_name=source_name,
            layout=layout,
            dry_run=dry_run,
            historical=historical,
        )

        self.stdout.write(f"Layout: {record.layout or 'not detected'}")
        self.stdout.write(f"Source: {record.source.name}")
        self.stdout.write(f"Historical: {'yes (no thank-you messages)' if record.is_historical else 'no'}")
        self.stdout.write(f"Rows: {record.row_count}")
        for entity, counts in services.ordered_counts(record.counts):
            summary = ", ".join(f"{count} {action}" for action, count in counts)
            self.stdout.write(f"{entity.capitalize()}: {summary}")
        for entry in record.changes:
            if entry.get("action") == "skip":
                self.stdout.write(f"Skipped row {entry['row']} ({entry['key']}): {entry.get('note', '')}")
        for message in record.errors:
            self.stderr.write(message)

        if record.status in (ImportRecord.Status.REFUSED, ImportRecord.Status.FAILED, ImportRecord.Status.STALE):
            raise CommandError(f"{record.get_status_display()}: {len(record.errors)} error(s); nothing was imported.")
        if dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was written."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{record.get_status_display()}."))
