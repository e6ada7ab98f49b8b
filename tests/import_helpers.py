"""Builders for the import tests: template rows, CSV files in any encoding and delimiter,
and XLSX workbooks written with openpyxl."""

import csv
import io

import openpyxl

TEMPLATE_INVOICE_HEADER = [
    "customer_id", "customer_name", "email", "phone", "country", "customer_type", "segment", "locale",
    "time_zone", "invoice_number", "issue_date", "due_date", "currency", "amount", "amount_paid",
    "amount_due", "status", "payment_link", "description",
]
PAYMENT_HEADER = ["invoice_number", "amount", "paid_on", "reference", "method", "currency"]


def invoice_row(**overrides) -> dict:
    row = {
        "customer_id": "C-1",
        "customer_name": "Harbour Tiles Ltd",
        "email": "accounts@harbourtiles.example",
        "phone": "",
        "country": "GB",
        "customer_type": "business",
        "segment": "",
        "locale": "en-GB",
        "time_zone": "",
        "invoice_number": "INV-1",
        "issue_date": "2026-11-01",
        "due_date": "2026-12-01",
        "currency": "GBP",
        "amount": "100.00",
        "amount_paid": "0.00",
        "amount_due": "100.00",
        "status": "open",
        "payment_link": "https://pay.example/INV-1",
        "description": "",
    }
    row.update(overrides)
    return row


def csv_text(header, rows, *, delimiter=",") -> str:
    """Return CSV text; a row may be a dict (by header), a list, or None for a blank line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        if row is None:
            buffer.write("\r\n")
        elif isinstance(row, dict):
            writer.writerow([row.get(name, "") for name in header])
        else:
            writer.writerow(row)
    return buffer.getvalue()


def write_csv(path, header, rows, *, delimiter=",", encoding="utf-8"):
    path.write_bytes(csv_text(header, rows, delimiter=delimiter).encode(encoding))
    return path


def write_xlsx(path, header, rows):
    """Write a workbook; a row may be a dict, a list of cell values, or None for a blank row."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        if row is None:
            sheet.append([])
        elif isinstance(row, dict):
            sheet.append([row.get(name) for name in header])
        else:
            sheet.append(row)
    workbook.save(path)
    return path
