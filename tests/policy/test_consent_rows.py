"""Row-level consent findings (issue 13, points 5 and 2): a column's consent finding names each
failing row — its primary key (or rowid), the subject id joined with the register, and why —
bounded in the reports for people, every row in the JSON report; and its fingerprint covers
exactly the rows it saw, so a new non-consenting subject is a new finding, not absorbed into
an old baseline. Real SQLite files, a real PostgreSQL and a real MariaDB; the CLI's gate."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from db_helpers import mysql_connect, mysql_database, pg_database
from subject_helpers import dlib_like

from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.model import ExitCode, Finding, RowKey, ScanResult
from scanner.policy.judgement import Judgement
from scanner.policy.loader import load_policy
from scanner.reporters import Format, render

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
RULE = "GDPR-9-2-A-CONSENT"
# subject -> (granted, withdrawn, expires, scope); V3 is not in the register at all
REGISTER = {
    "V1": ("2024-01-01", "", "", "kyc"),  # valid
    "V2": ("2024-01-01", "", "2025-01-01", "kyc"),  # expired
    "V4": ("2024-01-01", "", "", "marketing"),  # out of scope
    "V5": ("2024-01-01", "2025-06-01", "", "kyc"),  # withdrawn
}
# (id, subject): V2 has two rows with a template
ROWS = [(1, "V1"), (2, "V2"), (3, "V3"), (4, "V4"), (5, "V5"), (6, "V2")]
EXPECTED = [
    ("id=2", "V2", "expired"),
    ("id=6", "V2", "expired"),
    ("id=3", "V3", "missing"),
    ("id=4", "V4", "out_of_scope"),
    ("id=5", "V5", "withdrawn"),
]

POLICY = """\
schema_version: 1
name: kiosk
extends: [gdpr]
stores:
  - id: visitors
    databases: ["*visitors.face_encoding"]
    kinds: [face_embedding]
    purpose: visitor recognition at the kiosk
    legal_basis: [gdpr-9-2-a]
    retention: {period: P5Y, from: creation}
    region: [FR]
    owner: dpo@kiosk.example
    dpia: DPIA-1
    retention_schedule_url: https://kiosk.example/retention
    subject: {column: customer_id}
    consent_register: consents
registers:
  - id: consents
    kind: consent
    source: "csv:consents.csv"
    key_column: customer_id
    granted_column: granted_at
    withdrawn_column: withdrawn_at
    expires_column: expires_at
    scope_column: scope
    scope: kyc
"""


def write_policy(base: Path) -> Path:
    lines = ["customer_id,granted_at,withdrawn_at,expires_at,scope"]
    lines += [f"{k},{','.join(v)}" for k, v in REGISTER.items()]
    (base / "consents.csv").write_text("\n".join(lines) + "\n")
    (base / "policy.yaml").write_text(POLICY)
    return base / "policy.yaml"


def blob(i: int) -> bytes:
    return bytes(dlib_like(1, seed=100 + i)[0].astype("<f4").tobytes())


def sqlite_target(base: Path) -> tuple[str, Callable[[int, str], None]]:
    db = base / "kiosk.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE visitors (id INTEGER PRIMARY KEY, customer_id TEXT, face_encoding BLOB)"
        )
    conn.close()

    def add(i: int, subject: str) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO visitors VALUES (?, ?, ?)", (i, subject, blob(i)))
        conn.close()

    return f"sqlite:///{db}", add


def scan(target: str, policy: Path, baseline: frozenset[str] | None = None) -> ScanResult:
    judgement = Judgement(load_policy(policy), baseline=baseline, as_of=AS_OF)
    config = ScanConfig(targets=(target,), workers=0)
    return run_scan(config, judgement=judgement, record_history=False)


def consent(result: ScanResult) -> Finding:
    (found,) = [f for f in result.findings if f.rule_id == RULE]
    return found


def listed(f: Finding) -> list[tuple[str, str, str]]:
    assert f.rows is not None
    return [(r.key.display, r.subject, r.reason) for r in f.rows.rows]


@pytest.fixture
def pg_target() -> Iterator[tuple[str, Callable[[int, str], None]]]:
    import psycopg

    with pg_database() as uri:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE public.visitors (id integer PRIMARY KEY, customer_id text, "
                "face_encoding bytea)"
            )

        def add(i: int, subject: str) -> None:
            with psycopg.connect(uri, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO public.visitors VALUES (%s, %s, %s)", (i, subject, blob(i))
                )

        yield uri, add


@pytest.fixture
def mariadb_target() -> Iterator[tuple[str, Callable[[int, str], None]]]:
    with mysql_database() as uri:
        conn = mysql_connect(uri)
        conn.cursor().execute(
            "CREATE TABLE visitors (id INT PRIMARY KEY, customer_id VARCHAR(16), "
            "face_encoding BLOB)"
        )
        conn.close()

        def add(i: int, subject: str) -> None:
            c = mysql_connect(uri)
            c.cursor().execute("INSERT INTO visitors VALUES (%s, %s, %s)", (i, subject, blob(i)))
            c.close()

        yield uri, add


@pytest.mark.parametrize("server", ["sqlite", "postgresql", "mariadb"])
def test_the_consent_finding_names_its_rows(
    server: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    policy = write_policy(tmp_path)
    if server == "sqlite":
        target, add = sqlite_target(tmp_path)
    else:
        fixture = "pg_target" if server == "postgresql" else "mariadb_target"
        target, add = request.getfixturevalue(fixture)
    for i, subject in ROWS:
        add(i, subject)
    result = scan(target, policy)
    f = consent(result)
    assert "consent of 4 of 5 subjects is not valid" in f.message
    assert listed(f) == EXPECTED
    assert f.rows is not None and f.rows.total == 5 and f.fact("rows") == 5
    assert f.rows.rows[0].key == RowKey((("id", "2"),))
    # the JSON report holds every row (never the template), and validates
    document = json.loads(render(result, Format.JSON))
    (entry,) = [x for x in document["findings"] if x["rule_id"] == RULE]
    assert entry["rows"]["total"] == 5 and entry["rows"]["listed"] == 5
    assert [(r["key"], r["subject"], r["reason"]) for r in entry["rows"]["rows"]][:2] == [
        ({"id": "2"}, "V2", "expired"),
        ({"id": "6"}, "V2", "expired"),
    ]
    assert entry["rows"]["digest"] == f.rows.digest
    # the console names them too
    console = render(result, Format.CONSOLE)
    assert "row id=3 (subject V3): missing" in console
    assert "row id=4 (subject V4): out of scope" in console


def test_a_sqlite_table_without_a_primary_key_names_rows_by_rowid(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    db = tmp_path / "kiosk.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE visitors (customer_id TEXT, face_encoding BLOB)")
        conn.executemany("INSERT INTO visitors VALUES (?, ?)", [(s, blob(i)) for i, s in ROWS])
    conn.close()
    f = consent(scan(f"sqlite:///{db}", policy))
    assert [k for k, _, _ in listed(f)] == ["rowid=2", "rowid=6", "rowid=3", "rowid=4", "rowid=5"]


def test_reports_for_people_list_ten_rows_and_count_the_rest(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    target, add = sqlite_target(tmp_path)
    add(1, "V1")
    for i in range(2, 16):  # 14 rows of subjects that are not in the register
        add(i, f"N{i:02d}")
    result = scan(target, policy)
    f = consent(result)
    assert f.rows is not None and f.rows.total == 14 and len(f.rows.rows) == 14
    for fmt in (Format.CONSOLE, Format.MARKDOWN, Format.HTML):
        text = render(result, fmt)
        assert "row id=2 (subject N02): missing" in text, fmt
        assert "row id=11 (subject N11): missing" in text, fmt
        assert "row id=12 (subject N12)" not in text, fmt
        assert "and 4 more rows" in text, fmt
    document = json.loads(render(result, Format.JSON))
    (entry,) = [x for x in document["findings"] if x["rule_id"] == RULE]
    assert len(entry["rows"]["rows"]) == 14


def test_a_new_non_consenting_subject_is_a_new_finding(tmp_path: Path) -> None:
    """'4 of 5' becomes '5 of 6': the baseline no longer covers it; unchanged data matches."""
    policy = write_policy(tmp_path)
    target, add = sqlite_target(tmp_path)
    for i, subject in ROWS:
        add(i, subject)
    first = consent(scan(target, policy))
    known = frozenset({first.fingerprint})
    again = consent(scan(target, policy, baseline=known))
    assert again.fingerprint == first.fingerprint and again.disposition.value == "baseline"
    add(7, "V7")  # a new visitor without consent
    after = scan(target, policy, baseline=known)
    new = consent(after)
    assert "consent of 5 of 6 subjects" in new.message
    assert new.fingerprint != first.fingerprint and new.disposition.value == "open"
    assert ("id=7", "V7", "missing") in listed(new)
    assert after.exit_code is ExitCode.FINDINGS


def test_the_gate_fails_when_a_non_consenting_row_is_added(tmp_path: Path) -> None:
    """The CLI, end to end: baseline written, a new row without consent, exit 1."""
    policy = write_policy(tmp_path)
    target, add = sqlite_target(tmp_path)
    for i, subject in ROWS:
        add(i, subject)
    baseline = tmp_path / "baseline.json"

    def gate(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(sys.executable, "-m", "scanner", "scan", target, "--policy", str(policy)),
                *("--as-of", "2026-06-01", "--no-state", "-j", "1", *extra),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            env=dict(os.environ),
            check=False,
            stdin=subprocess.DEVNULL,
        )

    written = gate("--write-baseline", str(baseline))
    assert written.returncode == 1, written.stdout + written.stderr
    same = gate("--baseline", str(baseline))
    assert same.returncode == 0, same.stdout + same.stderr
    add(7, "V7")
    changed = gate("--baseline", str(baseline))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "row id=7 (subject V7): missing" in changed.stdout
