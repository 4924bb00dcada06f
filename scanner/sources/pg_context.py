"""Context around a PostgreSQL sample read through the planner: the timestamp range of the
dated columns and the places named in country/region columns, with the same rule as the
sample itself — no cast, operator or function on a value whose type is not built in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from scanner.sources import pg_schema
from scanner.sources.relational import (
    PLACE_VALUE_CHARS,
    VIEW_ROW_CAP,
    Column,
    Places,
    Relation,
    RelationUnreadable,
    Stamps,
    place_counts,
    timestamp_ranges,
)

if TYPE_CHECKING:
    from scanner.sources.postgres import PostgresSource

PLACE_VALUE_BYTES = 256  # a place value of a type that is not built in: fetched up to this


def place_values(
    pg: PostgresSource, rel: Relation, source: sql.Composable, order: sql.Composable
) -> tuple[Places, list[tuple[str, Any]]]:
    """Country/region columns over `limits.rows` rows drawn like the sample (`source` and
    `order` as the sample's): `left()` on built-in types, a small value's output form
    (cut here) for any other type, never a cast of it."""

    def fetch(col: Column) -> list[object]:
        t = pg.column_type(rel, col)
        c = sql.Identifier(col.name)
        if pg_schema.is_text(t):
            what = sql.SQL("pg_catalog.left({}, {})").format(c, PLACE_VALUE_CHARS)
        elif t.builtin:
            what = sql.SQL("pg_catalog.left({}::pg_catalog.text, {})").format(c, PLACE_VALUE_CHARS)
        else:  # no cast: the output form of a small value, cut here
            what = sql.SQL("CASE WHEN pg_catalog.pg_column_size({}) <= {} THEN {} END").format(
                c, PLACE_VALUE_BYTES, c
            )
        rows = pg.rows(
            sql.SQL("SELECT {} FROM {} {} LIMIT {}").format(
                what, source, order, sql.Literal(pg.limits.rows)
            ),
            timeout=pg.meta_timeout,
        )
        return [r[0] if r[0] is None else str(r[0])[:PLACE_VALUE_CHARS] for r in rows]

    return place_counts(rel, fetch)


def timestamp_values(
    pg: PostgresSource, rel: Relation, ident: sql.Composable
) -> tuple[Stamps, list[tuple[str, Any]]]:
    """Oldest and newest values of the dated columns of built-in types (views: over their
    first VIEW_ROW_CAP rows); min/max of any other type would cast it or use its operators."""
    source: Any = ident
    if rel.is_view:
        source = sql.SQL("(SELECT * FROM {} LIMIT {}) s").format(ident, VIEW_ROW_CAP)

    def min_max(col: Column) -> tuple[object, object]:
        if not pg.column_type(rel, col).builtin:  # min/max would cast it, or use its operators
            raise RelationUnreadable("its type is not built in: no function runs on it")
        query = sql.SQL(
            "SELECT pg_catalog.min({c})::pg_catalog.text, pg_catalog.max({c})::pg_catalog.text"
            " FROM {source}"
        ).format(c=sql.Identifier(col.name), source=source)
        lo, hi = pg.rows(query, timeout=pg.meta_timeout)[0]
        return lo, hi

    return timestamp_ranges(rel, min_max)
