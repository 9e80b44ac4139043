"""Seed once per test process, restore per test: the database rows a seed function wrote, replayed as plain INSERTs.

The reliability suite runs 260 scenarios in the sandbox demo; seeding it through the services (catalog, emulated
shops, OAuth, configuration import, routing rules, stock) costs about 1.5 s per scenario, three quarters of the whole
suite's time. `seeded(key, seed)` runs `seed` the first time, records what it changed in every table (rows
inserted, updated, deleted, by primary key) and, for every later test whose database starts from the same state,
writes exactly those changes back with one `executemany` per table instead of calling `seed` again.

Sound only where the seed's effects are rows of this database (the demo's are: emulators, hub and broker all live
in it). The state a snapshot was taken from is fingerprinted (row count and largest primary key of every table):
when it differs (a transactional test flushed the database and content types came back with new ids, say), the
seed runs again and the snapshot is retaken. Explicit ids leave PostgreSQL's sequences behind: they are reset
after each restore. Foreign keys are deferred on both engines and the restore is one transaction, so tables are
written in any order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.core.management.color import no_style
from django.db import connection, transaction

IGNORED_TABLES = {"django_migrations", "sqlite_sequence"}


@dataclass
class TableChange:
    columns: list[str]
    pk_index: int | None  # None: no single-column primary key known; rows are matched whole
    delete_keys: list  # primary keys (or whole rows) to remove
    insert_rows: list[tuple]  # rows to write (inserted by the seed, or the new version of a row it updated)


@dataclass
class Snapshot:
    base: dict[str, tuple]
    changes: dict[str, TableChange]


_SNAPSHOTS: dict[str, Snapshot] = {}


def _models_by_table() -> dict[str, type]:
    return {m._meta.db_table: m for m in apps.get_models(include_auto_created=True)}


def _tables() -> list[str]:
    return sorted(t for t in connection.introspection.table_names() if t not in IGNORED_TABLES)


def _pk_column(model) -> str | None:
    return model._meta.pk.column if model is not None and model._meta.pk is not None else None


def fingerprint() -> dict[str, tuple]:
    """Row count and largest primary key of every table: equal fingerprints, same starting rows for a seed."""
    models = _models_by_table()
    qn = connection.ops.quote_name
    out = {}
    with connection.cursor() as cursor:
        for table in _tables():
            pk = _pk_column(models.get(table))
            cursor.execute(f"SELECT COUNT(*){f', MAX({qn(pk)})' if pk else ''} FROM {qn(table)}")
            out[table] = tuple(cursor.fetchone())
    return out


def _dump() -> dict[str, tuple[list[str], int | None, dict]]:
    models = _models_by_table()
    qn = connection.ops.quote_name
    out = {}
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(f"SELECT * FROM {qn(table)}")
            columns = [c[0] for c in cursor.description]
            pk = _pk_column(models.get(table))
            pk_index = columns.index(pk) if pk in columns else None
            rows = {(row[pk_index] if pk_index is not None else row): row for row in map(tuple, cursor.fetchall())}
            out[table] = (columns, pk_index, rows)
    return out


def _diff(before: dict, after: dict) -> dict[str, TableChange]:
    changes = {}
    for table, (columns, pk_index, rows) in after.items():
        old = before.get(table, (columns, pk_index, {}))[2]
        deleted = [key for key in old if key not in rows]
        changed = [key for key, row in rows.items() if key in old and old[key] != row]
        inserted = [key for key in rows if key not in old]
        if deleted or changed or inserted:
            changes[table] = TableChange(columns=columns, pk_index=pk_index, delete_keys=deleted + changed,
                                         insert_rows=[rows[key] for key in changed + inserted])
    return changes


def _restore(changes: dict[str, TableChange]) -> None:
    qn = connection.ops.quote_name
    models = _models_by_table()
    # One transaction: foreign keys are checked at its end (in a transactional test each statement would commit).
    with transaction.atomic(), connection.cursor() as cursor:
        for table, change in changes.items():
            if change.delete_keys:
                if change.pk_index is not None:
                    where = f"{qn(change.columns[change.pk_index])} = %s"
                    cursor.executemany(f"DELETE FROM {qn(table)} WHERE {where}", [(key,) for key in change.delete_keys])
                else:
                    where = " AND ".join(f"{qn(c)} = %s" for c in change.columns)
                    cursor.executemany(f"DELETE FROM {qn(table)} WHERE {where}", change.delete_keys)
            if change.insert_rows:
                columns = ", ".join(qn(c) for c in change.columns)
                marks = ", ".join(["%s"] * len(change.columns))
                cursor.executemany(f"INSERT INTO {qn(table)} ({columns}) VALUES ({marks})", change.insert_rows)
        touched = [models[t] for t in changes if t in models]
        for statement in connection.ops.sequence_reset_sql(no_style(), touched):
            cursor.execute(statement)


def seeded(key: str, seed: Callable[[], object]) -> bool:
    """Bring the database to the state `seed()` leaves it in. Returns True when the snapshot was replayed, False
    when `seed` ran (first use in this process, or a different starting state)."""
    base = fingerprint()
    snapshot = _SNAPSHOTS.get(key)
    if snapshot is not None and snapshot.base == base:
        _restore(snapshot.changes)
        return True
    before = _dump()
    seed()
    _SNAPSHOTS[key] = Snapshot(base=base, changes=_diff(before, _dump()))
    return False
