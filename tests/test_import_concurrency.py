"""Two confirmations of the same preview at once apply it once (row locks, PostgreSQL)."""

import threading

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.db import connection

from customers.imports.services import ImportStateError, import_confirm, import_preview
from customers.models import ImportRecord, Invoice, Payment
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, invoice_row, write_csv


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_confirms_apply_once(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="0.00")])
    import_confirm(import_preview(first, kind="invoices", source_name="Spreadsheet"))
    second = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="60.00", amount_due="40.00")])
    record = import_preview(second, kind="invoices", source_name="Spreadsheet", historical=True)
    start = threading.Barrier(2)
    outcomes = []

    def confirm():
        try:
            start.wait()
            outcomes.append(import_confirm(record).status)
        except ImportStateError:
            outcomes.append("rejected")
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == sorted([ImportRecord.Status.APPLIED, "rejected"])
    assert Payment.objects.count() == 1
    assert Invoice.objects.get().version == 2
