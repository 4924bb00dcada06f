"""Registers read for real: a CSV file, a SQLite database (read-only, untouched), a PostgreSQL
table; the subjects of a database store; unreadable registers are policy errors."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import db_helpers
import psycopg
import pytest
from helpers import snapshot

from scanner.config import SampleLimits
from scanner.policy import schema as s
from scanner.policy.registers import RegisterError, load_register, parse_time
from scanner.sources import keys
from scanner.sources.keys import KeyRead
from scanner.sources.postgres import PostgresSource


def consent_register(source: str, table: str | None = None) -> s.Register:
    return s.Register.model_validate(
        {
            "id": "consents",
            "kind": "consent",
            "source": source,
            "table": table,
            "key_column": "customer_id",
            "granted_column": "granted_at",
            "withdrawn_column": "withdrawn_at",
            "expires_column": "expires_at",
            "scope_column": "scope",
            "scope": "kyc",
        }
    )


def test_csv_register_keeps_the_latest_grant(tmp_path: Path) -> None:
    (tmp_path / "consents.csv").write_text(
        "customer_id,granted_at,withdrawn_at,expires_at,scope\n"
        "C1,2024-01-01,,2027-01-01,kyc\n"
        "C2,2023-01-01,2025-03-01,,kyc\n"
        "C2,2025-06-01,,,kyc\n"
    )
    data = load_register(consent_register("csv:consents.csv"), tmp_path)
    assert data.records["C2"].granted == datetime(2025, 6, 1, tzinfo=timezone.utc)
    assert data.records["C2"].withdrawn is None
    assert data.records["C1"].expires == datetime(2027, 1, 1, tzinfo=timezone.utc)


def test_csv_register_missing_column_and_bad_date(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("customer_id,granted_at\nC1,2024-01-01\n")
    with pytest.raises(RegisterError, match="no column"):
        load_register(consent_register("csv:c.csv"), tmp_path)
    (tmp_path / "d.csv").write_text(
        "customer_id,granted_at,withdrawn_at,expires_at,scope\nC1,yesterday,,,kyc\n"
    )
    with pytest.raises(RegisterError, match="C1"):
        load_register(consent_register("csv:d.csv"), tmp_path)
    with pytest.raises(RegisterError):
        load_register(consent_register("csv:absent.csv"), tmp_path)


def test_sqlite_register_and_subjects_leave_the_database_untouched(tmp_path: Path) -> None:
    db = tmp_path / "kyc.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE consents (customer_id TEXT, granted_at TEXT, "
            "withdrawn_at TEXT, expires_at TEXT, scope TEXT)"
        )
        conn.execute("INSERT INTO consents VALUES ('C1', '2024-01-01 10:00:00', NULL, NULL, 'kyc')")
        conn.execute("CREATE TABLE customers (customer_id TEXT, face BLOB)")
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?)",
            [("C1", b"x"), ("C2", b"y"), ("C3", None), ("C1", b"z")],
        )
    conn.close()
    before = snapshot(tmp_path)
    data = load_register(consent_register("sqlite:///" + str(db), "consents"), tmp_path)
    assert set(data.records) == {"C1"}
    read = KeyRead("sqlite://" + str(db), "customers", "face", "customer_id")
    with tempfile.TemporaryDirectory() as private:  # a worker's private directory
        found = keys.read_sqlite(read, private, 1 << 30)
    assert keys.subjects_of(found) == ("C1", "C2")
    assert [r.key.display for r in found] == ["rowid=1", "rowid=4", "rowid=2"]
    # no -wal/-shm created, content, size and mtime unchanged (SQLite opens the file itself,
    # so its access time may move: documented)
    assert {k: v[:3] for k, v in snapshot(tmp_path).items()} == {
        k: v[:3] for k, v in before.items()
    }


def test_postgres_register_read_only() -> None:
    with db_helpers.pg_database() as uri:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE public.consents (customer_id text, granted_at timestamptz, "
                "withdrawn_at timestamptz, expires_at date, scope text)"
            )
            conn.execute(
                "INSERT INTO public.consents VALUES ('C9', '2024-02-01T00:00:00Z', "
                "'2025-02-01T00:00:00Z', NULL, 'kyc')"
            )
            conn.execute("CREATE TABLE public.faces (customer_id text, embedding real[])")
            conn.execute("INSERT INTO public.faces VALUES ('C9', '{0.1,0.2}'), ('C8', NULL)")
        data = load_register(consent_register(uri, "public.consents"), Path())
        assert data.records["C9"].withdrawn == datetime(2025, 2, 1, tzinfo=timezone.utc)
        read = KeyRead(uri, "public.faces", "embedding", "customer_id")
        found = PostgresSource(uri, SampleLimits()).keys(read)
        assert [(r.key.parts, r.subject) for r in found] == [((), "C9")]  # no primary key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=timezone.utc)),
        ("2024-03-01T10:00:00+02:00", datetime(2024, 3, 1, 8, tzinfo=timezone.utc)),
        ("2024-03-01 10:00:00", datetime(2024, 3, 1, 10, tzinfo=timezone.utc)),
        ("1709251200", datetime(2024, 3, 1, tzinfo=timezone.utc)),
        (1709251200000, datetime(2024, 3, 1, tzinfo=timezone.utc)),
        ("", None),
        (None, None),
    ],
)
def test_times(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected
