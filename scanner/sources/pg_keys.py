"""The keys of a PostgreSQL column's rows (scanner.sources.keys), read as safely as the
column itself: from a stored relation, `FROM ONLY` a table, by COPY when planning a SELECT
on it could run user code (pg_schema.risks_query), and compared on the client. Each row
comes with its primary key's values (from the catalogue: `pg_index.indisprimary`); a table
without one has rows named by their subject alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from scanner.errors import FaceauditError
from scanner.sources import pg_schema
from scanner.sources.keys import MAX_KEYS, KeyRead, KeysUnreadable, SubjectRow, subject_rows
from scanner.sources.pg_schema import RelationMeta
from scanner.sources.relational import EXACT_COUNT_ROWS, Relation

if TYPE_CHECKING:
    from scanner.sources.postgres import PostgresSource

COPY_KEY_ROWS = EXACT_COUNT_ROWS  # rows a COPY reads at most for the keys
PRIMARY_KEY = """
SELECT a.attname FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = %s::pg_catalog.regclass AND i.indisprimary
ORDER BY pg_catalog.array_position(i.indkey::pg_catalog.int2[], a.attnum)
"""


class _Cut(FaceauditError):
    """Raised inside a COPY block to stop it (psycopg cancels and drains the rest)."""


def read(
    source: PostgresSource, rel: Relation, meta: RelationMeta, want: KeyRead
) -> tuple[SubjectRow, ...]:
    names = {c.name for c in rel.columns}
    for name in (want.column, want.key_column):
        if name not in names:
            raise KeysUnreadable(f"{rel.qualified} has no stored column {name!r}")
    oid = sql.Identifier(rel.schema or "public", rel.name).as_string(source.conn)
    primary = [str(r[0]) for r in source.rows(PRIMARY_KEY, (oid,), timeout=source.meta_timeout)]
    primary = [p for p in primary if p in names]
    if meta.risk is None:
        query = sql.SQL("SELECT {k} FROM {rel} WHERE {c} IS NOT NULL LIMIT {n}").format(
            k=sql.SQL(", ").join(sql.Identifier(n) for n in (want.key_column, *primary)),
            rel=source.from_item(rel),
            c=sql.Identifier(want.column),
            n=sql.Literal(MAX_KEYS),
        )
        return subject_rows(primary, source.rows(query))
    return _by_copy(source, rel, meta, want, primary)


def _by_copy(
    source: PostgresSource, rel: Relation, meta: RelationMeta, want: KeyRead, primary: list[str]
) -> tuple[SubjectRow, ...]:
    why = f"planning a read of {rel.qualified} could run non-built-in code ({meta.risk})"
    if meta.relkind == "m":
        raise KeysUnreadable(f"{why}; COPY cannot read a materialized view")
    leaves: list[Any] = [(rel.schema or "public", rel.name, "r")]
    if meta.relkind == "p":
        oid = sql.Identifier(rel.schema or "public", rel.name).as_string(source.conn)
        leaves = source.rows(pg_schema.LEAVES, (oid,), timeout=source.meta_timeout)
    # each column once (COPY refuses a repeated one): the value, the subject, the key
    columns = list(dict.fromkeys((want.column, want.key_column, *primary)))
    at = [columns.index(n) for n in (want.key_column, *primary)]
    rows: list[list[Any]] = []
    seen = 0
    try:
        for schema, name, kind in leaves:
            if kind == "f":
                raise KeysUnreadable(f"{why}; a foreign partition is not read")
            statement = sql.SQL("COPY {} ({}) TO STDOUT").format(
                sql.Identifier(schema, name),
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            )
            with (
                source.statement(None, True),
                source.conn.cursor() as cur,
                cur.copy(statement) as stream,
            ):
                stream.set_types(["text"] * len(columns))
                for row in stream.rows():
                    seen += 1
                    if row[0] is not None:
                        rows.append([row[i] for i in at])
                    if seen > COPY_KEY_ROWS:
                        raise _Cut
    except _Cut:
        raise KeysUnreadable(
            f"{why}; read by COPY, which stops after {COPY_KEY_ROWS} rows"
        ) from None
    return subject_rows(primary, rows)
