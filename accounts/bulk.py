"""Inserting many rows of one model at once without building a model instance for each.

`insert_rows(Model, fields, rows)` takes plain tuples in the order of `fields` (field names; a
foreign key by its column attribute, such as `statement_id`), holding the values as the model
stores them. On PostgreSQL the rows stream to the server in one COPY; elsewhere they go through
the model's `bulk_create`. Nothing is filled in, validated or signalled: callers pass rows built
from checked data, and the database's constraints still apply (a violation raises
IntegrityError inside the caller's transaction, as `bulk_create` would).

Measured on 12,250 royalty lines: `bulk_create` 0.66-0.71 s, COPY 0.11-0.22 s (PostgreSQL 15,
the same transaction, rolled back), most of the difference being Django preparing each value.
"""

from collections.abc import Iterable, Sequence

from django.db import connection, models


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple], *, batch_size=2000
) -> None:
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            (model(**dict(zip(fields, row, strict=True))) for row in rows), batch_size=batch_size
        )
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
