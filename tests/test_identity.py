"""A finding's identity does not depend on how its target is spelled, nor on the command that
found it (issue 13, points 1 and 4), on the demo organisation (real images, a real SQLite
database, a real zip) through the installed command:

- `scan org`, `scan /abs/org`, `scan ./org` and `cd org; scan .` match one baseline (exit 0);
  `--root` names findings from another directory, the same from every spelling;
- a format-1 baseline, its fingerprints computed with the formula format 1 used (rule, the
  location as displayed, the content digest), still matches a scan spelled as it was, and
  `--write-baseline` migrates it to format 2;
- `watch` gives a finding the fingerprint `scan` gives it, also for a file a batch rescans;
- SARIF names files relative to %SRCROOT% (the scan root or --root), a SQLite database's
  column by its database file with no path segment lost, and validates against the SARIF
  2.1.0 schema.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from reporters.test_sarif import sarif_errors

from scanner.api import load_policy
from scanner.config import ScanConfig
from scanner.demo_org import AS_OF, build_demo_org
from scanner.engine import run_scan
from scanner.policy.gate import LEGACY_NOTE
from scanner.policy.judgement import Judgement
from scanner.state.store import StateDB
from scanner.watch import Watcher

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
DESCRIPTION = "The directory findings are named from: --root, or the target."


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("identity")
    build_demo_org(where / "org")
    return where


def run(cwd: Path, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    policy = os.path.relpath(Path(cwd, target, "faceaudit-policy.yaml").resolve(), cwd)
    args = [FACEAUDIT, "scan", target, "-q", "-j", "2", "--no-state", "--policy", policy]
    args += ["--as-of", AS_OF.isoformat(), *extra]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def findings(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.returncode in (0, 1), proc.stderr
    found: list[dict[str, Any]] = json.loads(proc.stdout)["findings"]
    assert found
    return found


# The spellings of one target, from where each is typed: (cwd below base, target).
SPELLINGS = [(".", "org"), (".", "ABS"), (".", "./org"), ("org", "."), ("org/hr", "..")]


def spelled(base: Path, cwd: str, target: str) -> tuple[Path, str]:
    return base / cwd, str(base / "org") if target == "ABS" else target


def test_every_spelling_matches_one_baseline(base: Path) -> None:
    first = run(base, "org", "--write-baseline", "spelling.json", "--format", "json")
    assert first.returncode == 1  # the demo organisation has open findings
    written = json.loads((base / "spelling.json").read_text())
    assert written["faceaudit_baseline"] == 2
    identities = {f["identity"] for f in written["findings"]}
    assert "kyc/kyc.db#customers.face_embedding" in identities  # relative, like a file
    assert "backup/2019-laptop.zip!/projects/face-door/encodings.pickle" in identities
    prints = {f["fingerprint"] for f in findings(first)}
    for cwd, target in SPELLINGS:
        where, typed = spelled(base, cwd, target)
        proc = run(where, typed, "--baseline", str(base / "spelling.json"), "--format", "json")
        assert proc.returncode == 0, (cwd, target, proc.stdout[-2000:], proc.stderr)
        got = findings(proc)
        assert {f["fingerprint"] for f in got} == prints, (cwd, target)
        assert {f["disposition"] for f in got} == {"baseline"}
        if target == "ABS":  # the display keeps the spelling; the identity does not
            assert all(f["path"].startswith(("/", "sqlite:///")) for f in got)


def test_root_names_findings_from_another_directory_whatever_the_spelling(base: Path) -> None:
    prints = []
    for cwd, target in SPELLINGS:
        where, typed = spelled(base, cwd, target)
        proc = run(where, typed, "--root", str(base), "--format", "json")
        got = findings(proc)
        assert all(f["identity"].startswith("org/") for f in got), (cwd, target)
        prints.append({f["fingerprint"] for f in got})
    assert all(p == prints[0] for p in prints)
    outside = run(base, "org", "--root", str(base / "org" / "hr"))
    assert outside.returncode == 2
    assert "outside --root" in outside.stderr


def _old_formula(rule_id: str, identity: str, digest: str | None) -> str:
    """The fingerprint of baseline format 1, as faceaudit computed it before format 2."""
    text = "\0".join((rule_id, identity, digest or ""))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _format_1_baseline(report: dict[str, Any]) -> dict[str, Any]:
    """The baseline `--write-baseline` of format 1 wrote for this report's scan: each print
    over the location as displayed and the item's content digest (a duty of a whole store:
    over `store:<id>`, in both formats)."""
    digests = {item["path"]: item["sha256"] for item in report["items"]}
    entries = []
    for f in report["findings"]:
        store_print = _old_formula(f["rule_id"], f"store:{f['store']}", None)
        old = (
            store_print
            if f["fingerprint"] == store_print
            else _old_formula(f["rule_id"], f["path"], digests[f["path"]])
        )
        entries.append({"fingerprint": old, "rule_id": f["rule_id"], "location": f["path"]})
    entries.sort(key=lambda e: e["fingerprint"])
    return {"faceaudit_baseline": 1, "policy": report["policy"]["name"], "findings": entries}


def test_a_format_1_baseline_still_matches_and_is_migrated(base: Path) -> None:
    report = json.loads(run(base, "org", "--format", "json").stdout)
    old = _format_1_baseline(report)
    assert {e["fingerprint"] for e in old["findings"]}.isdisjoint(
        f["fingerprint"] for f in report["findings"]
    )  # the identity changed: the old prints are not the new ones
    (base / "format1.json").write_text(json.dumps(old, indent=2))
    proc = run(base, "org", "--baseline", "format1.json", "--format", "json")
    assert proc.returncode == 0, proc.stdout[-2000:]
    got = findings(proc)
    assert {f["disposition"] for f in got} == {"baseline"}
    assert {f["justification"] for f in got} == {LEGACY_NOTE}
    # spelled otherwise, the old prints (over the display) cannot match: what format 1 did
    assert run(base, str(base / "org"), "--baseline", "format1.json").returncode == 1
    # written again, the baseline is of format 2 and matches every spelling
    rewritten = run(base, "org", "--baseline", "format1.json", "--write-baseline", "f2.json")
    assert rewritten.returncode == 0
    doc = json.loads((base / "f2.json").read_text())
    assert doc["faceaudit_baseline"] == 2 and "legacy" not in doc
    assert run(base / "org", ".", "--baseline", str(base / "f2.json")).returncode == 0


def test_watch_names_findings_as_scan_does(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = tmp_path / "org"
    shutil.copytree(base / "org", org, symlinks=True)
    judgement = Judgement(load_policy(org / "faceaudit-policy.yaml"), as_of=AS_OF)
    events: list[dict[str, Any]] = []
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        with lock:
            events.append(event)

    def wait(kind: str, n: int) -> list[dict[str, Any]]:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            with lock:
                got = [e for e in events if e["event"] == kind]
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"no {n} {kind} events: {events}")

    db = StateDB(tmp_path / "state.db")
    config = ScanConfig(targets=(org,), workers=1)
    watcher = Watcher(config, db, emit, judgement=judgement, debounce_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        wait("ready", 1)
        initial = len(wait("finding", 1))
        # a new photo: a batch rescans this one file, named from the watched folder
        shutil.copyfile(org / "events" / "london-offsite-1.jpg", org / "events" / "new.jpg")
        found = wait("finding", initial + 1)
    finally:
        stop.set()
        thread.join(60)
        db.close()
    watched = {(e["rule_id"], Path(e["location"]).name): e["fingerprint"] for e in found}
    assert all(str(org) in e["location"] for e in found)  # watch shows absolute paths
    monkeypatch.chdir(tmp_path)  # scan spelled relative, from elsewhere
    scanned = run_scan(ScanConfig(targets=(Path("org"),), workers=1), judgement=judgement)
    by_scan = {(f.rule_id, Path(f.location.display).name): f.fingerprint for f in scanned.findings}
    assert ("ACME-NO-UK-RESIDENTS", "new.jpg") in watched
    assert watched == {k: v for k, v in by_scan.items() if k in watched}


def test_sarif_names_files_from_the_root(base: Path) -> None:
    """What GitHub code scanning needs, checked here: each result has a ruleId listed in the
    run's rules, a location with a physical location whose artifact `uri` is a relative
    reference (GitHub reads relative paths against the repository root and maps no
    absolute `file:` URI without a checkout path) under `uriBaseId` %SRCROOT%, which
    `originalUriBaseIds` resolves to an absolute `file:` URI ending in '/', and a
    `partialFingerprints` entry (GitHub matches alerts across runs by it); and the whole
    document validates against the SARIF 2.1.0 schema."""
    for cwd, target, root, prefix in [
        (base, "org", None, ""),
        (base / "org", ".", None, ""),
        (base / "org", ".", "..", "org/"),
        (base, str(base / "org"), str(base), "org/"),
    ]:
        extra = ("--root", root) if root else ()
        proc = run(cwd, target, "--format", "sarif", *extra)
        assert proc.returncode == 1, proc.stderr
        doc = json.loads(proc.stdout)
        assert sarif_errors(doc) == []
        (sarif_run,) = doc["runs"]
        expected_root = base if root else base / "org"
        assert sarif_run["originalUriBaseIds"] == {
            "%SRCROOT%": {
                "uri": f"file://{expected_root.resolve()}/",
                "description": {"text": DESCRIPTION},
            }
        }
        rule_ids = {r["id"] for r in sarif_run["tool"]["driver"]["rules"]}
        uris = set()
        for result in sarif_run["results"]:
            assert result["ruleId"] in rule_ids
            assert result["partialFingerprints"]["faceauditFingerprint/v1"]
            (location,) = result["locations"]
            artifact = location["physicalLocation"]["artifactLocation"]
            assert artifact["uriBaseId"] == "%SRCROOT%"
            assert not artifact["uri"].startswith(("/", "file:", "./", "../"))
            assert (expected_root / artifact["uri"]).is_file()  # a file of the tree
            uris.add(artifact["uri"])
        # the SQLite database's column is on its file, the whole path kept
        assert f"{prefix}kyc/kyc.db" in uris
        assert f"{prefix}backup/2019-laptop.zip" in uris


def test_reused_results_are_named_from_this_scans_root(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state keeps no anchor: an unchanged file reused under another --root (an archive
    member, a SQLite database's column included) is named from this scan's root."""
    monkeypatch.chdir(base)
    judgement = Judgement(load_policy(base / "org" / "faceaudit-policy.yaml"), as_of=AS_OF)
    newest = max(p.lstat().st_ctime for p in (base / "org").rglob("*"))
    time.sleep(max(0.0, newest + 2.2 - time.time()))  # files changed just now are not reused
    plain = ScanConfig(targets=(Path("org"),), workers=1)
    rooted = replace(plain, roots=(base,))
    with StateDB(tmp_path / "state.db") as db:
        first = run_scan(rooted, state=db, judgement=judgement)
        again = run_scan(plain, state=db, judgement=judgement)  # same display, other root
    assert again.stats.reused > 0
    fresh = run_scan(plain, judgement=judgement)
    assert {f"org/{f.location.identity}" for f in again.findings} == {
        f.location.identity for f in first.findings
    }
    assert sorted(f.fingerprint for f in again.findings) == sorted(
        f.fingerprint for f in fresh.findings
    )


def test_identities_of_each_kind_of_location() -> None:
    from scanner.model import Anchor, DatabaseLocation, FileLocation, MemberLocation
    from scanner.sources.database import server_ref, sqlite_ref

    photo = FileLocation("./share/a.jpg", Anchor("/srv/share", "a.jpg"))
    assert (photo.display, photo.identity) == ("./share/a.jpg", "a.jpg")
    member = photo.child("x/b.png")
    assert isinstance(member, MemberLocation) and member.identity == "a.jpg!/x/b.png"
    db = FileLocation("/srv/share/Apps/k.db", Anchor("/srv/share", "Apps/k.db"))
    column = DatabaseLocation(sqlite_ref(db.file, at=db), None, "faces", "embedding")
    assert column.display == "sqlite:///srv/share/Apps/k.db#faces.embedding"
    assert column.identity == "Apps/k.db#faces.embedding" and column.artifact == db
    spelled = [
        server_ref("postgresql://127.0.0.1:5432/immich"),
        server_ref("postgresql://LocalHost:5432/immich"),
        server_ref("postgresql://localhost:5432/immich"),
    ]
    assert {r.identity for r in spelled} == {"postgresql://localhost:5432/immich"}
    assert server_ref("mysql://DB.Example:3306/pp").identity == "mysql://db.example:3306/pp"
    assert photo == FileLocation("./share/a.jpg")  # the anchor is not part of equality


def test_subject_find_names_matches_as_scan_does(base: Path) -> None:
    """`subject find` reports each match's identity: the one a scan's findings have, from
    every spelling of the target (and from --root)."""
    probe = base / "probe.jpg"
    shutil.copyfile(base / "org" / "hr" / "badges" / "E1003.jpg", probe)
    seen = []
    for cwd, target, extra in [
        (base, "org", ()),
        (base / "org", ".", ()),
        (base, str(base / "org"), ()),
        (base / "org", ".", ("--root", "..")),
    ]:
        args = ["subject", "find", "--probe", str(probe), target, "-j", "2", "--no-state"]
        proc = subprocess.run(
            [FACEAUDIT, *args, "-f", "json", *extra],
            cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        matches = json.loads(proc.stdout)["matches"]
        seen.append({m["identity"] for m in matches})
    assert "hr/badges/E1003.jpg" in seen[0]
    assert seen[0] == seen[1] == seen[2]
    assert seen[3] == {f"org/{i}" for i in seen[0]}
    scanned = findings(run(base, "org", "--format", "json"))
    assert seen[0] & {f["identity"] for f in scanned}  # the finding's own identity


def test_problems_in_the_tree_are_named_from_the_root_too(tmp_path: Path) -> None:
    """A link the walker does not follow is a notification on its own path under %SRCROOT%,
    as results are (no absolute path of the machine that scanned)."""
    from scanner.reporters.sarif import to_document

    share = tmp_path / "share"
    (share / "docs").mkdir(parents=True)
    (share / "docs" / "elsewhere").symlink_to("/etc/hostname")
    result = run_scan(ScanConfig(targets=(str(share),), workers=0))
    (run_doc,) = to_document(result)["runs"]
    (note,) = run_doc["invocations"][0]["toolExecutionNotifications"]
    artifact = note["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "docs/elsewhere", "uriBaseId": "%SRCROOT%"}
    assert run_doc["originalUriBaseIds"]["%SRCROOT%"]["uri"] == f"file://{share.resolve()}/"


def test_a_server_database_keeps_its_fingerprint_whatever_the_host_spelling() -> None:
    """A real PostgreSQL database reached as 127.0.0.1, localhost and LocalHost, with and
    without a user in the URI: one identity, one fingerprint (the display keeps the
    spelling, never the credentials)."""
    import numpy as np
    import psycopg
    from db_helpers import dlib_descriptors, pg_database

    from scanner.reporters.findings import reported_findings

    with pg_database("fa_ident") as uri:
        name = uri.rsplit("/", 1)[1]
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE TABLE visitors (id serial PRIMARY KEY, face bytea)")
            for vector in dlib_descriptors(12):
                conn.execute(
                    "INSERT INTO visitors (face) VALUES (%s)",
                    (np.asarray(vector, dtype=np.float64).tobytes(),),
                )
        spellings = [
            f"postgresql://127.0.0.1:5432/{name}",
            f"postgresql://localhost:5432/{name}",
            f"postgres://postgres@LocalHost:5432/{name}",
        ]
        seen = []
        for spelled_uri in spellings:
            result = run_scan(ScanConfig(targets=(spelled_uri,), workers=0))
            found = reported_findings(result)
            assert found, result.problems
            seen.append({(f.location.identity, f.fingerprint) for f in found})
            assert all("postgres@" not in f.location.display for f in found)
    assert seen[0] == seen[1] == seen[2]
    assert {i for i, _ in seen[0]} == {f"postgresql://localhost:5432/{name}#public.visitors.face"}
