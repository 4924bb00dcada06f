"""Benchmark: embedding detection in databases against a plain full read of the same table.

Builds (once, cached) a 1,000,000-row SQLite table and a 100,000-row PostgreSQL table of
128-d float32 face-descriptor-like vectors (dlib's statistics: a shared mean direction, norms
near 1.4) with an id, a person label and a creation time. Then, in one run:

- full read:  every row's vector fetched (`SELECT embedding FROM faces`), the floor a naive
              scanner pays;
- faceaudit:  a real `run_scan` of the database URI (sampled columns, row counts, timestamp
              range, classification), end to end.

It prints rows/s for both (faceaudit's rows/s = rows in the table / scan time) and the ratio.
Targets are context, not assertions.

    python bench/bench_databases.py [--sqlite-rows 1000000] [--pg-rows 100000] [--skip-pg]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PG_URI = "postgresql://postgres@127.0.0.1:5432/faceaudit_bench"


def descriptor_batch(rng: np.random.Generator, n: int) -> np.ndarray:
    """Vectors with dlib-like statistics (never real faces: generated)."""
    mean = np.linspace(-0.1, 0.1, 128) * np.cos(np.arange(128))
    x = mean + rng.normal(scale=0.09, size=(n, 128)) * rng.uniform(0.5, 1.5, size=128)
    x *= (1.45 / np.linalg.norm(x, axis=1))[:, None]
    return x.astype(np.float32)


def build_sqlite(path: Path, rows: int) -> None:
    stamp = path.with_suffix(f".{rows}.ok")
    if stamp.exists() and path.exists():
        return
    path.unlink(missing_ok=True)
    rng = np.random.default_rng(1)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute(
        "CREATE TABLE faces (id INTEGER PRIMARY KEY, person TEXT, created_at TEXT, embedding BLOB)"
    )
    done = 0
    while done < rows:
        n = min(50_000, rows - done)
        vecs = descriptor_batch(rng, n)
        db.executemany(
            "INSERT INTO faces (person, created_at, embedding) VALUES (?, ?, ?)",
            (
                (
                    f"person {i % 9973}",
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00",
                    v.tobytes(),
                )
                for i, v in zip(range(done, done + n), vecs, strict=True)
            ),
        )
        done += n
    db.commit()
    db.close()
    stamp.write_text("complete\n")


def full_read_sqlite(path: Path) -> tuple[int, float]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    t0 = time.perf_counter()
    n = 0
    for (blob,) in db.execute("SELECT embedding FROM faces"):
        n += blob is not None
    seconds = time.perf_counter() - t0
    db.close()
    return n, seconds


def build_postgres(rows: int) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        admin = psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError:
        return False
    with admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'faceaudit_bench'"
        ).fetchone()
        if not exists:
            admin.execute("CREATE DATABASE faceaudit_bench")
    with psycopg.connect(PG_URI) as conn:
        have = conn.execute("SELECT to_regclass('public.faces') IS NOT NULL").fetchone()
        if have and have[0]:
            count = conn.execute("SELECT count(*) FROM public.faces").fetchone()
            if count and count[0] == rows:
                return True
            conn.execute("DROP TABLE public.faces")
        conn.execute(
            "CREATE TABLE public.faces (id bigserial PRIMARY KEY, person text, "
            "created_at timestamptz, embedding float4[])"
        )
        rng = np.random.default_rng(2)
        with conn.cursor().copy(
            "COPY public.faces (person, created_at, embedding) FROM STDIN"
        ) as copy:
            for start in range(0, rows, 20_000):
                for i, v in enumerate(descriptor_batch(rng, min(20_000, rows - start))):
                    copy.write_row((f"person {start + i}", "2024-05-01T10:00:00Z", v.tolist()))
        conn.execute("ANALYZE public.faces")
    return True


def full_read_postgres() -> tuple[int, float]:
    import psycopg

    with psycopg.connect(PG_URI) as conn:
        t0 = time.perf_counter()
        n = 0
        with conn.cursor(name="full_read") as cur:
            cur.itersize = 5000
            cur.execute("SELECT embedding FROM public.faces")
            for (vec,) in cur:
                n += vec is not None
        return n, time.perf_counter() - t0


def scan(uri: str) -> tuple[float, str]:
    from scanner.config import ScanConfig
    from scanner.engine import run_scan

    t0 = time.perf_counter()
    result = run_scan(ScanConfig(targets=(uri,), workers=2))
    seconds = time.perf_counter() - t0
    found = [
        f"{i.location.display}: {i.primary.kind.value} count={i.primary.detail('count')} "
        f"confidence={i.primary.confidence}"
        for i in result.items
        if i.primary
    ]
    problems = [f"{p.reason.value}: {p.detail}" for p in result.problems]
    return seconds, "; ".join(found + problems) or "nothing found"


def report(name: str, rows: int, read: tuple[int, float], seconds: float, found: str) -> None:
    read_rows, read_s = read
    print(f"\n{name}: {rows} rows")
    print(f"  full read   {read_rows / read_s:>12,.0f} rows/s  ({read_s:.2f} s)")
    print(f"  faceaudit   {rows / seconds:>12,.0f} rows/s  ({seconds:.2f} s, end to end)")
    print(f"  ratio       {(rows / seconds) / (read_rows / read_s):>12.1f}x the full read")
    print(f"  found       {found}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqlite-rows", type=int, default=1_000_000)
    parser.add_argument("--pg-rows", type=int, default=100_000)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args(argv)

    corpus = HERE / "corpus" / "databases"
    corpus.mkdir(parents=True, exist_ok=True)
    db = corpus / "faces-bench.db"
    t0 = time.perf_counter()
    build_sqlite(db, args.sqlite_rows)
    print(
        f"SQLite table ready ({db.stat().st_size / 1e6:.0f} MB, {time.perf_counter() - t0:.1f} s)"
    )
    read = full_read_sqlite(db)
    seconds, found = scan(f"sqlite://{db}")
    report("SQLite", args.sqlite_rows, read, seconds, found)

    if not args.skip_pg:
        if not build_postgres(args.pg_rows):
            print("\nPostgreSQL on 127.0.0.1:5432 not reachable (or psycopg missing): skipped")
            return 0
        read = full_read_postgres()
        seconds, found = scan(PG_URI)
        report("PostgreSQL", args.pg_rows, read, seconds, found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
