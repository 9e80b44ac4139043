"""Plain bulk inserts past Django's per-field value preparation, for the ingest's hot path (new orders, their
lines and timeline events, page by page). `bulk_create` prepares every value of every row through the field's
`get_db_prep_save` chain and builds one placeholder per value; here each column's adapter is picked once per
statement, and:

- PostgreSQL: `COPY table (columns) FROM STDIN` per table and page (psycopg formats the rows in C: no SQL
  literal or array quoting per value, which cost a third of a page's insert time); when pks are wanted they are
  reserved first from the table's identity sequence (`SELECT nextval(…) FROM generate_series(1, n)`, one query) and
  copied with the rows. An upsert (`rows_upsert`) is one `INSERT … SELECT * FROM unnest(%s::type[], …) ON CONFLICT`
  (one array parameter per column, whatever the number of rows): COPY has no conflict clause;
- SQLite: `executemany` of a one-row INSERT when no pk is wanted, else multi-row `VALUES … RETURNING id` split by
  the variable limit (SQLite ≥ 3.35).

Same semantics as `bulk_create` without conflict options: a row that violates a unique constraint raises
`IntegrityError` (the caller's transaction rolls back); no signals; callable defaults are evaluated once per
statement; `auto_now`/`auto_now_add` fields get the statement's time. Rows are dicts keyed by attname (`order_id`,
not `order`); a missing key takes the field's default.

`rows_upsert` is the same insert with `ON CONFLICT (unique columns) DO UPDATE SET column = EXCLUDED.column` (both
engines), for `bulk_create(update_conflicts=True)`'s job on the hot path (the external-ref bindings of every page).
As with PostgreSQL's own rule, the rows must not repeat a key."""
from __future__ import annotations

import json
from typing import Any, Callable

from django.db import connection, models
from django.utils import timezone

# Field types whose Python values the database driver adapts as they are (after `to_python`-clean values).
_AS_IS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.DecimalField,
          models.ForeignKey, models.AutoField, models.BigAutoField)


def _adapter(field: models.Field) -> Callable[[Any], Any] | None:
    """How one column's value is prepared for the driver: None = as it is."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda v: None if v is None else json.dumps(v, cls=encoder)
    if isinstance(field, models.DateTimeField):
        if connection.vendor == "postgresql":
            return None
        adapt = connection.ops.adapt_datetimefield_value
        return lambda v: None if v is None else adapt(v)
    if isinstance(field, _AS_IS):
        return None
    return lambda v: field.get_db_prep_save(v, connection)  # anything else: Django's own preparation


def _columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def rows_insert(model: type[models.Model], rows: list[dict], *, returning: bool = False, now=None,
                _conflict: str = "") -> list[int]:
    """Insert `rows` (dicts by attname) into `model`'s table; the new pks in row order when `returning`."""
    if not rows:
        return []
    now = now or timezone.now()
    fields = _columns(model)
    columns = []
    for field in fields:
        auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        default = now if auto else field.get_default()
        attname = field.attname
        values = [default] * len(rows) if auto else [row.get(attname, default) for row in rows]
        adapt = _adapter(field)
        columns.append(values if adapt is None else [adapt(v) for v in values])
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not _conflict:
            ids = _pg_ids_reserve(cursor, model, len(rows)) if returning else []
            if returning:
                names = f"{pk}, {names}"
                columns = [ids, *columns]
            _pg_copy(cursor, f"COPY {table} ({names}) FROM STDIN", zip(*columns))
            return ids
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{_array_type(f)}" for f in fields)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){_conflict}"
                           + (f" RETURNING {pk}" if returning else ""), columns)
            return [r[0] for r in cursor.fetchall()] if returning else []
        tuples = list(zip(*columns))
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        if not returning:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES {one}{_conflict}", tuples)
            return []
        if _conflict:
            raise ValueError("rows_upsert returns no pks")
        if not connection.features.can_return_rows_from_bulk_insert:  # SQLite < 3.35: one row at a time
            ids = []
            for params in tuples:
                cursor.execute(f"INSERT INTO {table} ({names}) VALUES {one}", params)
                ids.append(cursor.lastrowid)
            return ids
        batch = max(1, (connection.features.max_query_params or 999) // len(fields))
        ids = []
        for start in range(0, len(tuples), batch):
            chunk = tuples[start:start + batch]
            cursor.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(chunk))} RETURNING {pk}",
                           [v for params in chunk for v in params])
            ids.extend(r[0] for r in cursor.fetchall())
        return ids


def rows_upsert(model: type[models.Model], rows: list[dict], *, unique: list[str], update: list[str], now=None) -> None:
    """Insert `rows`, updating the `update` columns of a row whose `unique` columns (attnames, a unique constraint's
    fields) already exist. One statement on PostgreSQL, one `executemany` on SQLite."""
    qn = connection.ops.quote_name
    by_attname = {f.attname: f.column for f in _columns(model)}
    conflict = (f" ON CONFLICT ({', '.join(qn(by_attname[a]) for a in unique)}) DO UPDATE SET "
                + ", ".join(f"{qn(by_attname[a])} = EXCLUDED.{qn(by_attname[a])}" for a in update))
    rows_insert(model, rows, now=now, _conflict=conflict)


def _pg_ids_reserve(cursor, model: type[models.Model], count: int) -> list[int]:
    """`count` new pks from the table's identity sequence (the pk column is `GENERATED BY DEFAULT AS IDENTITY`:
    explicit values are allowed and the sequence stays ahead of them)."""
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                   [model._meta.db_table, model._meta.pk.column, count])
    return [r[0] for r in cursor.fetchall()]


def _pg_copy(cursor, sql: str, rows) -> None:
    """COPY … FROM STDIN through Django's cursor: the connection's execute wrappers see it and, with queries logged
    (DEBUG, `assertNumQueries`), it is logged as one query; driver errors become Django's (`IntegrityError`)."""
    def copy(sql, params, many, context):
        with cursor.db.wrap_database_errors, cursor.cursor.copy(sql) as out:
            for row in rows:
                out.write_row(row)

    if cursor.db.queries_logged:
        with cursor.debug_sql(sql):
            return cursor._execute_with_wrappers(sql, None, False, copy)
    return cursor._execute_with_wrappers(sql, None, False, copy)


def _array_type(field: models.Field) -> str:
    return f"{field.db_type(connection)}[]"  # a foreign key's is its target's column type


def objs_insert(objs: list[models.Model], *, now=None) -> None:
    """Insert unsaved model instances (values as set on them); sets their pks, `auto_now` fields and saved state,
    as `bulk_create` does."""
    if not objs:
        return
    now = now or timezone.now()
    model = type(objs[0])
    ids = rows_insert(model, [obj.__dict__ for obj in objs], returning=True, now=now)
    auto = [f.attname for f in _columns(model) if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    for obj, pk in zip(objs, ids):
        obj.pk = pk
        for attname in auto:
            setattr(obj, attname, now)
        obj._state.adding, obj._state.db = False, connection.alias
