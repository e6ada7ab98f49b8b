"""Create the new rows of a stored plan with one INSERT ... SELECT per model, on PostgreSQL.

The entries' JSON is read by the database, so a large file's new customers and invoices
never become Python objects at confirm. The columns come from the model: a field the
entry sets is read from `fields -> name -> 1` (the new value of the [old, new] pair),
auto_now fields get now(), and any other field gets the default that bulk_create would
store. Updates stay in Python (`pipeline.apply_customers`, `pipeline.apply_invoices`),
because each changes a few fields of one stored row.
"""

from django.db import connection, models

from customers.models import Customer, ImportEntry, Invoice


class SetApplyError(Exception):
    """The INSERT wrote another number of rows than the plan has entries to create."""


def is_supported() -> bool:
    return connection.vendor == "postgresql"


def value_expression(field, parameters: list) -> str:
    """Return the SQL for `field`'s new value in the entry `e`, appending its parameters."""
    name = field.name
    if isinstance(field, models.JSONField):
        extracted = f"(e.fields -> '{name}' -> 1)"
    else:
        extracted = f"(e.fields -> '{name}' ->> 1)::{field.cast_db_type(connection)}"
    if field.null and not field.has_default():
        default = None
    else:
        # get_default() is "" for a text field without a default, as bulk_create stores.
        default = field.get_db_prep_save(field.get_default(), connection)
    parameters.append(default)
    return f"CASE WHEN e.fields ? '{name}' THEN {extracted} ELSE %s END"


def insert_created(record, model, entity: str, *, joins: dict | None = None) -> int:
    """Insert a row of `model` for each `entity` entry of `record` with action "create".

    `joins` maps a column to (SQL expression, parameters, JOIN clause, parameters) for
    columns that are not copied from the entry, such as a foreign key found by its key.
    Raises SetApplyError when a row is missing, for example an invoice whose customer
    does not exist, so that the transaction writes nothing.
    """
    joins = joins or {}
    columns, expressions, select_parameters = [], [], []
    join_clauses, join_parameters = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.column in joins:
            expression, parameters, clause, clause_parameters = joins[field.column]
            expressions.append(expression)
            select_parameters.extend(parameters)
            join_clauses.append(clause)
            join_parameters.extend(clause_parameters)
        elif field.column == "source_id":
            expressions.append("%s")
            select_parameters.append(record.source_id)
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expressions.append("now()")
        else:
            expressions.append(value_expression(field, select_parameters))

    entries_table = connection.ops.quote_name(ImportEntry._meta.db_table)
    # MATERIALIZED parses each entry's JSON once. Inlined, the cast would run again for
    # every reference to `fields`, about two per column.
    sql = (
        f"WITH e AS MATERIALIZED (SELECT data::jsonb -> 'fields' AS fields, position FROM {entries_table} "
        "WHERE record_id = %s AND entity = %s AND action = 'create') "
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM e "
        f"{' '.join(join_clauses)} ORDER BY e.position"
    )
    expected = ImportEntry.objects.filter(record=record, entity=entity, action="create").count()
    if not expected:
        # A file that changes nothing writes no statement at all.
        return 0
    with connection.cursor() as cursor:
        cursor.execute(sql, [record.pk, entity, *select_parameters, *join_parameters])
        inserted = cursor.rowcount
    if inserted != expected:
        raise SetApplyError(
            f"wrote {inserted} of the plan's {expected} new {model._meta.verbose_name_plural}, so a row it needs "
            "(such as an invoice's customer) is missing; upload the file again for a new preview"
        )
    return inserted


def insert_customers(record) -> int:
    return insert_created(record, Customer, "customer")


def insert_invoices(record) -> int:
    """Insert the plan's new invoices, each linked to its customer by the customer's key."""
    customers = connection.ops.quote_name(Customer._meta.db_table)
    join = (
        "c.id",
        [],
        f"JOIN {customers} AS c ON c.source_id = %s AND c.external_id = e.fields -> 'customer' ->> 1",
        [record.source_id],
    )
    return insert_created(record, Invoice, "invoice", joins={"customer_id": join})
