"""Import a spreadsheet of invoices, payments, customers or cards into a source from the command line."""

from django.core.management.base import BaseCommand, CommandError

from customers.imports import services
from customers.imports.errors import ImportFileError
from customers.imports.layouts import LAYOUT_SHORT_NAMES, LAYOUTS
from customers.models import ImportRecord, SavedLayout


class Command(BaseCommand):
    help = (
        "Import a CSV or XLSX file of invoices, payments, customers or payment cards into a source. "
        "The file is applied all at once or not at all; rejected rows are listed and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[str(kind) for kind in services.IMPORT_KINDS], help="What the file contains.")
        parser.add_argument("file", help="Path of the CSV or XLSX file.")
        parser.add_argument(
            "--source",
            help="Name of the source (ledger) the file comes from; created if missing. "
            'Default: "Stripe", "Xero" or "QuickBooks" for their layouts, "Spreadsheet" otherwise.',
        )
        parser.add_argument(
            "--layout",
            choices=sorted([*LAYOUTS, *LAYOUT_SHORT_NAMES]),
            help="File layout; detected from the header row when omitted.",
        )
        parser.add_argument("--saved-layout", help="Name of a saved layout (column mapping) to read the file with.")
        parser.add_argument("--encoding", help="Text encoding of a CSV file, such as utf-8 or windows-1252. Default: detected.")
        parser.add_argument("--delimiter", help='Delimiter of a CSV file: ",", ";", "tab" or another character. Default: detected.')
        parser.add_argument(
            "--date-order",
            choices=["day-first", "month-first"],
            help="Order of dates written as 01/02/2026. Default: the layout's (Xero day first, QuickBooks month first), "
            "else proven by a day above 12 in the file.",
        )
        parser.add_argument("--currency", help="Currency of a file without a currency column, as an ISO 4217 code.")
        parser.add_argument(
            "--snapshot",
            action="store_true",
            help="The file holds every open invoice of the source: open invoices missing from it are closed as settled.",
        )
        parser.add_argument(
            "--confirm-closing",
            action="store_true",
            help="Apply a snapshot even when it closes more than a fifth of the source's open invoices.",
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
        delimiter = "\t" if options["delimiter"] == "tab" else options["delimiter"]
        saved_layout = None
        if options["saved_layout"]:
            saved_layout = SavedLayout.objects.filter(name=options["saved_layout"]).first()
            if saved_layout is None:
                raise CommandError(f'no saved layout named "{options["saved_layout"]}"; save the column mapping in the admin first')
        try:
            layout_name = services.detect_file_layout(file, kind=kind, layout=layout, encoding=options["encoding"], delimiter=delimiter)
        except ImportFileError:
            layout_name = layout or ""  # the import below records and prints the error
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        source_name = source or services.default_source_name(layout_name)

        try:
            record = services.import_preview(
                file,
                kind=kind,
                source_name=source_name,
                layout=layout,
                historical=historical,
                is_snapshot=options["snapshot"],
                saved_layout=saved_layout,
                encoding=options["encoding"],
                delimiter=delimiter,
                date_order=options["date_order"],
                currency=options["currency"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.print_preview(record)
        if record.status != ImportRecord.Status.PREVIEWED or dry_run:
            return self.finish(record, dry_run)

        try:
            record = services.import_confirm(record, confirm_closing=options["confirm_closing"])
        except services.ClosingNotConfirmedError as error:
            raise CommandError(f"{error}: add --confirm-closing. Nothing was imported.") from None
        return self.finish(record, dry_run)

    def print_preview(self, record):
        detected = record.counts.get("detected", {})
        self.stdout.write(f"Layout: {record.layout or 'not detected'}")
        if detected:
            delimiter = f", delimiter {detected['delimiter']}" if detected.get("delimiter") else ""
            encoding = f", encoding {detected['encoding']}" if detected.get("encoding") else ""
            self.stdout.write(
                f"Detected: {detected['format'].upper()}{encoding}{delimiter}, date order {detected['date_order'].replace('_', '-')}, "
                f"header in row {detected['header_row']}"
            )
        self.stdout.write(f"Source: {record.source.name}")
        self.stdout.write(f"Historical: {'yes (no thank-you messages)' if record.is_historical else 'no'}")
        if record.is_snapshot:
            self.stdout.write("Snapshot: yes (open invoices missing from the file are closed)")

    def finish(self, record, dry_run):
        self.stdout.write(f"Rows: {record.row_count}")
        for entity, counts in services.ordered_counts(record.counts):
            summary = ", ".join(f"{count} {action}" for action, count in counts)
            self.stdout.write(f"{entity.capitalize()}: {summary}")
        for entry in record.changes:
            if entry.get("action") == "skip":
                self.stdout.write(f"Skipped row {entry['row']} ({entry['key']}): {entry.get('note', '')}")
            elif entry.get("action") == "close":
                self.stdout.write(f"Closed {entry['key']}: {entry.get('note', '')}")
        for message in record.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {message}"))
        for message in record.errors:
            self.stderr.write(message)

        if record.status in (ImportRecord.Status.REFUSED, ImportRecord.Status.FAILED, ImportRecord.Status.STALE):
            raise CommandError(f"{record.get_status_display()}: {len(record.errors)} error(s); nothing was imported.")
        if dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was written."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{record.get_status_display()}."))
