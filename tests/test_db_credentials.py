"""Database credentials appear nowhere: not in a report of any format, not in `faceaudit
history`, not in the bytes of the state database, not in a driver's error message.

Every printable ASCII character (and a few non-ASCII ones) is put in the user and in the
password, raw and percent-encoded, of a `postgresql://` and a `mysql://` URI to the real
servers; each user and password carries a planted secret string. A URI whose raw character
makes the driver end the userinfo early (a raw `/`, `?`, `#`, or for libpq `@`) is refused
without being displayed; the others reach the server and fail (no such role or account)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from db_helpers import MY_HOST, MY_PORT, PG_HOST, PG_PORT, pg_database, reachable

from scanner.sources.database import credentials, redact
from scanner.sources.mysql_schema import display_uri as mysql_display
from scanner.sources.pg_session import display_uri as pg_display

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
USER_SECRET, PASSWORD_SECRET = "Ux7SecretUser", "Px7SecretPass"
CHARS = [chr(c) for c in range(32, 127)] + ["é", "€", "字"]
FORMATS = ("json", "console", "sarif", "junit", "csv", "markdown", "html")
# json gets every URI; the other formats the characters that quoting, escaping
# and URI parsing treat specially (each CLI run costs seconds on a 2-core machine)
SPECIAL = set("@:/?#% \\\"'<>&;=+[]")


def uris(scheme: str, host: str, port: int, db: str) -> list[str]:
    out = []
    for ch in CHARS:
        for encode in (False, True):
            c = urllib.parse.quote(ch, safe="") if encode else ch
            user, password = f"{USER_SECRET}{c}u", f"{PASSWORD_SECRET}{c}{PASSWORD_SECRET}"
            out.append(f"{scheme}://{user}:{password}@{host}:{port}/{db}")
    return out


def leaks(data: bytes) -> list[str]:
    found = []
    for secret in (USER_SECRET, PASSWORD_SECRET):
        for form in (secret, urllib.parse.quote(secret)):
            if form.encode() in data:
                found.append(form)
    return found


@pytest.fixture(scope="module")
def targets() -> list[str]:
    if not (reachable(PG_HOST, PG_PORT) and reachable(MY_HOST, MY_PORT)):
        pytest.skip("needs the PostgreSQL and MariaDB servers")
    with pg_database("fa_cred") as pg:
        db = pg.rsplit("/", 1)[1]
        yield uris("postgresql", PG_HOST, PG_PORT, db) + uris("mysql", MY_HOST, MY_PORT, "mysql")


def test_no_credential_in_any_report_the_history_or_the_state(
    targets: list[str], tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    outputs = b""
    special = [t for t in targets if SPECIAL & set(urllib.parse.unquote(t.split("@")[0]))]
    assert len(special) >= 4 * len(SPECIAL)
    for fmt in FORMATS:
        report = tmp_path / f"report.{fmt}"
        scanned = targets if fmt == "json" else special
        proc = subprocess.run(
            [
                FACEAUDIT,
                "scan",
                *scanned,
                "-j",
                "0",
                "-f",
                fmt,
                "-o",
                str(report),
                "--state",
                str(state),
            ],
            capture_output=True,
            timeout=600,
            check=False,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, HOME=str(tmp_path)),
        )
        assert proc.returncode == 3, proc.stderr[-2000:]
        outputs += proc.stdout + proc.stderr + report.read_bytes()
        if fmt == "json":
            text = report.read_text(encoding="utf-8")
            problems = json.loads(text)["problems"]
            # (a URI given twice is read once: raw and encoded forms often coincide)
            assert [p["reason"] for p in problems] == ["database_unreadable"] * len(set(targets))
            assert text.count("percent-encode it") >= 4  # raw / ? # (and @ for libpq)
            assert text.count("does not exist") + text.count("Access denied") > 240
    history = subprocess.run(
        [FACEAUDIT, "history", "--state", str(state), "-f", "json"],
        capture_output=True,
        timeout=120,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    assert b"postgresql://127.0.0.1:5432/" in history.stdout
    outputs += history.stdout + history.stderr
    for path in tmp_path.iterdir():  # the state database and its sidecars, byte for byte
        if path.name.startswith("state.db"):
            outputs += path.read_bytes()
    assert leaks(outputs) == []


def test_a_failed_connection_says_why_without_the_password() -> None:
    secret = PASSWORD_SECRET + "@/?#%zz"
    for uri in (
        f"postgresql://{USER_SECRET}:{urllib.parse.quote(secret, safe='')}@127.0.0.1:1/db",
        f"mysql://{USER_SECRET}:{urllib.parse.quote(secret, safe='')}@127.0.0.1:1/db",
        f"postgresql://{USER_SECRET}:{secret}@127.0.0.1:1/db",  # malformed: refused
    ):
        proc = subprocess.run(
            [FACEAUDIT, "scan", uri, "-f", "json"],
            capture_output=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 3
        assert leaks(proc.stdout + proc.stderr) == []
        assert b"127.0.0.1:1/db" in proc.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mysql://user:pa@ss@host/db", "mysql://***@host/db"),
        ("see mysql://u:p/a?s#s@host:3306/db: failed", "see mysql://***@host:3306/db: failed"),
        (
            "postgresql://u:p w@h/db?password=x&sslmode=y",
            "postgresql://***@h/db?password=***&sslmode=y",
        ),
        ("sqlite:///srv/a@b.db#t.c", "sqlite:///srv/a@b.db#t.c"),
        ("postgresql://host:5432/db", "postgresql://host:5432/db"),
        ("a\nmysql://u:p@h/d\nb@c", "a\nmysql://***@h/d\nb@c"),
    ],
)
def test_redact_removes_the_whole_userinfo(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_displays_and_ambiguity_follow_the_drivers() -> None:
    # urllib (our parsing for PyMySQL) takes the userinfo up to the LAST @ of the netloc
    assert mysql_display("mysql://u:pa@ss@h:3307/db") == "mysql://h:3307/db"
    assert credentials("mysql://u:pa@ss@h/db", "u:pa@ss").exact
    # libpq takes it up to the FIRST @: the rest of the password would become the host
    assert pg_display("postgresql://u:pa@ss@h:5433/db") == "postgresql://h:5433/db"
    assert pg_display("postgresql://u:p@h/db?application_name=x") == "postgresql://h:5432/db"
    assert pg_display("postgresql://secretuser@h") == "postgresql://h:5432/"  # not the user
    assert mysql_display("mysql://u:p/w@h/db") == "mysql://h/db"
