"""The benchmark dataset generator: deterministic, and writing the documented columns and rows."""

import csv
import datetime
import zoneinfo
from collections import defaultdict
from decimal import Decimal

import phonenumbers
import pytest
from openpyxl import load_workbook

from bench.dataset import (
    CURRENCY_PLACES,
    TEMPLATE_COLUMNS,
    XERO_COLUMNS,
    ZONES,
    DatasetConfig,
    DatasetGenerator,
    main,
    write_template_csv,
    write_template_xlsx,
    write_xero_csv,
)

SMALL = DatasetConfig(invoices=400, customers=60)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_csv_same_config_same_bytes(tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_template_csv(SMALL, first)
    write_template_csv(SMALL, second)

    assert first.read_bytes() == second.read_bytes()


def test_csv_other_seed_other_rows(tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_template_csv(SMALL, first)
    write_template_csv(DatasetConfig(invoices=400, customers=60, seed=SMALL.seed + 1), second)

    assert first.read_bytes() != second.read_bytes()


def test_csv_columns_and_row_count(tmp_path):
    path = tmp_path / "invoices.csv"
    written = write_template_csv(SMALL, path)
    rows = read_csv(path)

    assert written == 400
    assert tuple(rows[0]) == TEMPLATE_COLUMNS
    assert len(rows) == 1 + 400
    assert all(len(row) == len(TEMPLATE_COLUMNS) for row in rows[1:])


def test_csv_keys_unique_and_every_customer_used(tmp_path):
    path = tmp_path / "invoices.csv"
    write_template_csv(SMALL, path)
    records = [dict(zip(TEMPLATE_COLUMNS, row)) for row in read_csv(path)[1:]]

    numbers = [record["invoice_number"] for record in records]
    assert len(set(numbers)) == len(numbers)
    assert {record["customer_id"] for record in records} == {f"C{n:07d}" for n in range(1, 61)}


def test_csv_customer_fields_repeat_identically(tmp_path):
    path = tmp_path / "invoices.csv"
    write_template_csv(SMALL, path)
    customer_columns = TEMPLATE_COLUMNS[:9]
    seen = defaultdict(set)
    for row in read_csv(path)[1:]:
        seen[row[0]].add(tuple(row[: len(customer_columns)]))

    inconsistent = {customer_id: values for customer_id, values in seen.items() if len(values) != 1}
    assert inconsistent == {}


def test_csv_amounts_dates_and_zones_valid(tmp_path):
    path = tmp_path / "invoices.csv"
    write_template_csv(DatasetConfig(invoices=2000, customers=1500), path)
    earliest_due = SMALL.as_of - datetime.timedelta(days=SMALL.due_spread_days)
    latest_due = SMALL.as_of + datetime.timedelta(days=SMALL.due_ahead_days)

    for row in read_csv(path)[1:]:
        record = dict(zip(TEMPLATE_COLUMNS, row))
        amount, paid, due = (Decimal(record[name]) for name in ("amount", "amount_paid", "amount_due"))
        places = CURRENCY_PLACES[record["currency"]]
        for value in (amount, paid, due):
            assert value == value.quantize(Decimal(1).scaleb(-places)), record
            assert -value.as_tuple().exponent == places, record
        if record["status"] in ("void", "written_off"):
            assert due == 0, record
        else:
            assert amount == paid + due, record
        due_date = datetime.date.fromisoformat(record["due_date"])
        assert earliest_due <= due_date <= latest_due, record
        assert datetime.date.fromisoformat(record["issue_date"]) < due_date, record
        zoneinfo.ZoneInfo(record["time_zone"])
        phone = phonenumbers.parse(record["phone"], None)
        assert phonenumbers.is_valid_number(phone), record
        assert phonenumbers.region_code_for_number(phone) == record["country"], record


def test_csv_uses_every_currency_and_many_zones(tmp_path):
    path = tmp_path / "invoices.csv"
    write_template_csv(DatasetConfig(invoices=3000, customers=1000), path)
    records = [dict(zip(TEMPLATE_COLUMNS, row)) for row in read_csv(path)[1:]]

    assert {record["currency"] for record in records} == {"GBP", "EUR", "USD", "JPY", "AUD"}
    assert len({record["time_zone"] for record in records}) >= 35
    assert {record["status"] for record in records} == {"open", "paid", "void", "written_off"}


def test_zones_parameter_limits_zones(tmp_path):
    path = tmp_path / "invoices.csv"
    write_template_csv(DatasetConfig(invoices=500, customers=200, zones=3), path)
    zones = {row[8] for row in read_csv(path)[1:]}

    assert zones <= {zone for zone, *_rest in ZONES[:3]}
    assert len(zones) == 3


def test_currencies_parameter_limits_currencies(tmp_path):
    path = tmp_path / "invoices.csv"
    write_template_csv(DatasetConfig(invoices=500, customers=200, currencies=("JPY",)), path)
    records = [dict(zip(TEMPLATE_COLUMNS, row)) for row in read_csv(path)[1:]]

    assert {record["currency"] for record in records} == {"JPY"}
    assert all("." not in record["amount"] for record in records)


def test_zone_list_has_forty_real_zones():
    names = [zone for zone, *_rest in ZONES]

    assert len(names) == len(set(names)) == 40
    for name in names:
        zoneinfo.ZoneInfo(name)


def test_prior_touchpoints_follow_fraction():
    def flagged(fraction):
        config = DatasetConfig(invoices=2000, customers=300, prior_touchpoint_fraction=fraction)
        return [row for row in DatasetGenerator(config).invoices() if row.has_prior_touchpoint]

    eligible = [
        row
        for row in DatasetGenerator(DatasetConfig(invoices=2000, customers=300, prior_touchpoint_fraction=1.0)).invoices()
        if row.status == "open" and row.amount_due > 0 and row.due_date < SMALL.as_of
    ]
    assert flagged(0.0) == []
    assert len(flagged(1.0)) == len(eligible) > 0
    assert 0.2 * len(eligible) < len(flagged(0.3)) < 0.4 * len(eligible)


def test_xero_lines_add_up_to_total(tmp_path):
    path = tmp_path / "xero.csv"
    written = write_xero_csv(SMALL, path)
    rows = read_csv(path)

    assert tuple(rows[0]) == XERO_COLUMNS
    assert written == len(rows) - 1
    assert written > 400
    line_totals = defaultdict(Decimal)
    totals = {}
    for row in rows[1:]:
        record = dict(zip(XERO_COLUMNS, row))
        assert Decimal(record["Quantity"]) * Decimal(record["UnitAmount"]) == Decimal(record["LineAmount"]), record
        line_totals[record["InvoiceNumber"]] += Decimal(record["LineAmount"])
        totals[record["InvoiceNumber"]] = Decimal(record["Total"])
        datetime.datetime.strptime(record["DueDate"], "%d/%m/%Y")
        assert record["Type"] == "ACCREC"
    assert len(totals) == 400
    assert line_totals == totals


def test_xero_dates_are_day_first(tmp_path):
    template_path, xero_path = tmp_path / "invoices.csv", tmp_path / "xero.csv"
    write_template_csv(SMALL, template_path)
    write_xero_csv(SMALL, xero_path)
    due_by_number = {row[9]: row[11] for row in read_csv(template_path)[1:]}

    for row in read_csv(xero_path)[1:]:
        record = dict(zip(XERO_COLUMNS, row))
        day_first = datetime.datetime.strptime(record["DueDate"], "%d/%m/%Y").date()
        assert day_first.isoformat() == due_by_number[record["InvoiceNumber"]]


def test_xlsx_matches_csv(tmp_path):
    config = DatasetConfig(invoices=50, customers=20)
    csv_path, xlsx_path = tmp_path / "invoices.csv", tmp_path / "invoices.xlsx"
    write_template_csv(config, csv_path)
    written = write_template_xlsx(config, xlsx_path)
    csv_rows = read_csv(csv_path)

    workbook = load_workbook(xlsx_path, read_only=True, data_only=True)
    xlsx_rows = list(workbook.active.iter_rows(values_only=True))
    workbook.close()

    assert written == 50
    assert tuple(xlsx_rows[0]) == TEMPLATE_COLUMNS
    assert len(xlsx_rows) == 51
    for csv_row, xlsx_row in zip(csv_rows[1:], xlsx_rows[1:]):
        record = dict(zip(TEMPLATE_COLUMNS, xlsx_row))
        assert record["customer_id"] == csv_row[0]
        assert record["phone"] == csv_row[3]
        assert record["invoice_number"] == csv_row[9]
        assert record["due_date"].date().isoformat() == csv_row[11]
        assert Decimal(str(record["amount"])) == Decimal(csv_row[13])


def test_config_rejects_invalid_values():
    with pytest.raises(ValueError, match="zones=41"):
        DatasetConfig(zones=41)
    with pytest.raises(ValueError, match="currencies"):
        DatasetConfig(currencies=("CHF",))
    with pytest.raises(ValueError, match="prior_touchpoint_fraction"):
        DatasetConfig(prior_touchpoint_fraction=1.5)
    with pytest.raises(ValueError, match="customers=0"):
        DatasetConfig(customers=0)


def test_cli_writes_requested_rows(tmp_path):
    path = tmp_path / "cli.csv"
    exit_code = main(["--invoices", "30", "--customers", "10", "--currencies", "gbp,eur", "--output", str(path)])
    rows = read_csv(path)

    assert exit_code == 0
    assert len(rows) == 31
    assert {row[12] for row in rows[1:]} <= {"GBP", "EUR"}
