"""Insert many new model rows at once: with COPY on PostgreSQL, else with bulk_create.

COPY skips Django's SQL compilation of each value. Under cProfile, that compilation took
16 of bulk_create's 21 s for 100,000 invoices on the machine in docs/benchmarks.md. Like
bulk_create, COPY sends no signals and calls no save().
"""

from django.db import connection, models


@models.CharField.register_lookup
class InArray(models.Lookup):
    """`field__in_array=keys`, PostgreSQL only: `field = ANY(%s)` with the keys as one
    array parameter. psycopg adapts one array far faster than a placeholder per key of
    `field__in`, and the query text stays the same for any number of keys."""

    lookup_name = "in_array"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, [str(key) for key in self.rhs]]

# Below this many rows, bulk_create is as fast and returns the new primary keys.
COPY_MIN_ROWS = 1000
# Field types whose Python value psycopg can write to COPY as it is. Other fields
# (JSONField and the like) go through their get_db_prep_save first.
PLAIN_FIELD_TYPES = (
    models.BooleanField,
    models.CharField,
    models.DateField,
    models.DecimalField,
    models.ForeignKey,
    models.IntegerField,
    models.TextField,
)


def insert_rows(model, objects: list) -> None:
    """Insert the unsaved `objects` of `model` in the current transaction.

    bulk_create sets the objects' primary keys. COPY leaves them None, so a caller that
    needs the keys looks them up.
    """
    if connection.vendor != "postgresql" or len(objects) < COPY_MIN_ROWS:
        model.objects.bulk_create(objects)
        return

    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    plain = [isinstance(field, PLAIN_FIELD_TYPES) for field in fields]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        # Django's CursorWrapper has no copy(), so COPY runs on its `cursor`, the psycopg 3 cursor.
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for instance in objects:
                # pre_save fills auto_now and auto_now_add timestamps, as bulk_create does.
                values = [field.pre_save(instance, add=True) for field in fields]
                for index, is_plain in enumerate(plain):
                    if not is_plain:
                        values[index] = fields[index].get_db_prep_save(values[index], connection)
                copy.write_row(values)
