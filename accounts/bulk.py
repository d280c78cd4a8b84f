"""Inserting many rows of one model at once, for batch writers (a month's royalty statements
for every creator, with their lines, ledger entries, events and notifications).

On PostgreSQL the rows stream to the server in one COPY; elsewhere they go through the model's
`bulk_create`. Either way nothing is validated and no signal is sent (as with `bulk_create`),
and the database's constraints still apply: a violation raises IntegrityError inside the
caller's transaction.

- `insert_rows(Model, fields, rows)` takes plain tuples in the order of `fields` (field names; a
  foreign key by its column attribute, such as `statement_id`) holding the values as the model
  stores them, so no model instance is built at all;
- `insert_objects(objects)` takes unsaved instances of one model whose primary keys are set
  before saving (a `PublicIdField`, or an explicit value) and prepares each value as
  `bulk_create` does.

Measured on PostgreSQL 15 in one transaction, rolled back: 12,250 royalty lines took 0.66-0.71 s
through `bulk_create` and 0.11-0.22 s through `insert_rows`, most of the difference being
Django compiling the statement and preparing each value.
"""

from collections.abc import Iterable, Sequence

from django.db import connection, models

BATCH_SIZE = 1000


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            (model(**dict(zip(fields, row, strict=True))) for row in rows), batch_size=BATCH_SIZE
        )
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    # The raw psycopg cursor, so Django's wrapper turns its errors into IntegrityError & co.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def insert_objects(objects: list[models.Model]) -> list[models.Model]:
    """Save new instances of one model; returns them, saved (as `bulk_create` does)."""
    if not objects:
        return objects
    model = type(objects[0])
    if any(instance.pk is None for instance in objects):
        raise ValueError(f"insert_objects needs {model.__name__} primary keys set before saving")
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
    fields = model._meta.concrete_fields
    insert_rows(
        model,
        [field.attname for field in fields],
        (
            [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
            for instance in objects
        ),
    )
    for instance in objects:
        instance._state.adding = False
        instance._state.db = connection.alias
    return objects
