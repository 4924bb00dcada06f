"""The Dask executor against a real cluster: `dask scheduler` and `dask worker --nthreads 1`
processes on 127.0.0.1 (tests/dask_cluster.py). A scan through the cluster reports what the
local pool reports; a worker SIGKILLed mid-scan costs nothing (its batch runs again
elsewhere, each item is recorded once); a scheduler that goes away ends the scan partial
(exit 3); a worker with other versions is refused before any work; TLS works and a
scheduler off this machine without it is warned about."""

from __future__ import annotations

import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from dask_cluster import Cluster, start_cluster

from scanner.config import Limits, ScanConfig
from scanner.engine import Progress, run_scan
from scanner.model import ExitCode, ProblemReason, ScanResult
from scanner.state.store import StateDB
from scanner.work import Partial

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
SUBSET = ("dlib_examples", "mtcnn_test_images", "insightface_images", "digikam_schema")


@pytest.fixture(scope="module")
def tree(devset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    """Part of the development set, read in place, and a zip of three of its photos (its
    members come back from the worker that opens it)."""
    folder = tmp_path_factory.mktemp("zipped")
    photos = sorted((devset / "dlib_examples" / "faces").glob("*.jpg"))[:3]
    with zipfile.ZipFile(folder / "photos.zip", "w") as archive:
        for photo in photos:
            archive.write(photo, photo.name)
    return (*(devset / name for name in SUBSET), folder)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def local(tree: tuple[Path, ...]) -> ScanResult:
    return run_scan(ScanConfig(targets=tree, workers=2))


def _cli(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACEAUDIT, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


def _compared(report: dict[str, object]) -> dict[str, object]:
    return {k: report[k] for k in ("items", "findings", "problems", "summary")}


def test_a_scan_through_dask_reports_what_the_local_pool_reports(
    cluster: Cluster, tree: tuple[Path, ...], tmp_path: Path
) -> None:
    targets = [str(t) for t in tree]
    common = ["scan", *targets, "--no-state", "--policy", "gdpr", "-f", "json", "-q"]
    here = _cli([*common, "-j", "2", "-o", str(tmp_path / "local.json")])
    there = _cli([*common, "--executor", cluster.executor, "-o", str(tmp_path / "dask.json")])
    assert here.returncode == there.returncode == ExitCode.FINDINGS, there.stderr
    assert "WARNING" not in there.stderr  # a scheduler on this machine
    local = json.loads((tmp_path / "local.json").read_text())
    dask = json.loads((tmp_path / "dask.json").read_text())
    assert _compared(dask) == _compared(local)
    assert local["items"] and local["findings"]  # something to compare
    assert local["summary"]["archive_members"] == 3  # the zip's members came back


def _problems(result: ScanResult) -> list[tuple[str, str]]:
    return sorted((p.location.display, p.reason.value) for p in result.problems)


def test_a_worker_killed_mid_scan_costs_nothing(
    tree: tuple[Path, ...], local: ScanResult, tmp_path: Path
) -> None:
    cluster = start_cluster(tmp_path / "cluster")
    try:
        victims = list(cluster.worker_pids().values())
        killed: list[int] = []

        def kill_one(progress: Progress) -> None:
            if not killed:  # the first batch is back: both workers hold the next ones
                os.kill(victims[0], signal.SIGKILL)
                killed.append(victims[0])

        config = ScanConfig(targets=tree, executor=cluster.executor)
        with StateDB(tmp_path / "state.db") as state:
            result = run_scan(config, state=state, progress=kill_one)
        assert killed
        assert not result.interrupted
        names = [r.location for r in result.items]
        assert len(names) == len(set(names))  # no duplicates
        assert result.items == local.items  # no gaps, the same evidence
        assert _problems(result) == _problems(local)
        assert result.stats.items_scanned == local.stats.items_scanned
        assert result.exit_code == local.exit_code
        # The state database is sound, and holds every item once: a second scan reuses all.
        with sqlite3.connect(tmp_path / "state.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with StateDB(tmp_path / "state.db") as state:
            again = run_scan(config, state=state)
        assert again.items == local.items
        assert again.stats.reused > 0 and again.stats.bytes_read == 0
    finally:
        cluster.stop()


def test_a_scheduler_gone_mid_scan_ends_it_partial(
    tree: tuple[Path, ...], local: ScanResult, tmp_path: Path
) -> None:
    cluster = start_cluster(tmp_path / "cluster")
    try:
        scheduler = cluster.scheduler
        assert scheduler is not None

        def kill_scheduler(progress: Progress) -> None:
            if scheduler.poll() is None:
                os.killpg(scheduler.pid, signal.SIGKILL)
                scheduler.wait(10)

        started = datetime.datetime.now()
        result = run_scan(
            ScanConfig(targets=tree, executor=cluster.executor), progress=kill_scheduler
        )
        assert (datetime.datetime.now() - started).total_seconds() < 120
    finally:
        cluster.stop()
    assert result.interrupted
    assert result.exit_code == ExitCode.INCOMPLETE
    assert 0 < len(result.items) < len(local.items)  # what came back is reported
    gone = [p for p in result.problems if p.reason is ProblemReason.INTERRUPTED]
    assert gone and all("went away" in p.detail for p in gone)
    assert any(p.location.display != "" for p in gone)  # the batches lost are named


def test_a_worker_with_other_versions_is_refused_before_any_work(
    devset: Path, tmp_path: Path
) -> None:
    """A worker whose installed faceaudit says 9.9.9 (a real distribution's metadata, found
    first on its path) is refused, by name, before any item is sent."""
    fake = tmp_path / "site"
    info = fake / "faceaudit-9.9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: faceaudit\nVersion: 9.9.9\n")
    cluster = start_cluster(tmp_path / "cluster", workers=0)
    try:
        path = os.pathsep.join((str(fake), cluster.env["PYTHONPATH"]))
        cluster.add_worker({"PYTHONPATH": path})
        cluster.wait_for_workers(1)
        run = _cli(
            [
                "scan",
                str(devset / "mtcnn_test_images"),
                "--no-state",
                "--executor",
                cluster.executor,
            ]
        )
    finally:
        cluster.stop()
    assert run.returncode == ExitCode.USAGE, run.stderr
    assert "other versions" in run.stderr and "faceaudit 9.9.9" in run.stderr
    assert run.stdout == ""  # no report: nothing was scanned


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), made here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "faceaudit-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_with_certificates_from_dask_config(devset: Path, tmp_path: Path) -> None:
    from distributed import Security

    cert, key = _certificate(tmp_path)
    tls = ("--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key))
    security = Security(
        tls_ca_file=str(cert),
        tls_client_cert=str(cert),
        tls_client_key=str(key),
        require_encryption=True,
    )
    cluster = start_cluster(tmp_path / "cluster", workers=1, tls=tls, security=security)
    config = {
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(cert),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key),
        "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s",
    }
    target = str(devset / "mtcnn_test_images")
    try:
        assert cluster.address.startswith("tls://127.0.0.1:")
        run = _cli(
            ["scan", target, "--no-state", "-f", "json", "--executor", cluster.address], **config
        )
        plain = _cli(
            ["scan", target, "--no-state", "--executor", cluster.executor.replace("tls", "dask")],
            DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="3s",
        )
    finally:
        cluster.stop()
    assert run.returncode == ExitCode.FINDINGS, run.stderr
    assert "WARNING" not in run.stderr
    assert len(json.loads(run.stdout)["items"]) == 1
    assert plain.returncode == ExitCode.USAGE  # a TLS scheduler does not speak plain TCP
    assert "cannot reach the Dask scheduler" in plain.stderr


def test_a_scheduler_off_this_machine_without_tls_is_warned_about(devset: Path) -> None:
    run = _cli(
        [
            "scan",
            str(devset / "mtcnn_test_images"),
            "--no-state",
            "--executor",
            "dask://192.0.2.1:8786",
        ],
        DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s",
    )
    assert run.returncode == ExitCode.USAGE
    assert "WARNING: the Dask scheduler tcp://192.0.2.1:8786 is not on this machine" in run.stderr
    assert "cannot reach the Dask scheduler" in run.stderr


@pytest.mark.parametrize("command", [["scan"], ["subject", "find", "--probe", "p.jpg"], ["triage"]])
def test_without_the_extra_the_option_names_it(command: list[str], tmp_path: Path) -> None:
    """`distributed` blocked from importing (as when it is not installed): a usage error."""
    code = (
        "import sys; sys.modules['distributed'] = None; sys.argv[0] = 'faceaudit'\n"
        "from scanner.cli import main; main()\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, *command, str(tmp_path), "--executor", "dask-local"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == ExitCode.USAGE, run.stderr
    assert "faceaudit's [dask] extra: pip install distributed" in run.stderr


def test_dask_local_starts_a_cluster_here(devset: Path) -> None:
    run = _cli(
        [
            "scan",
            str(devset / "mtcnn_test_images"),
            "--no-state",
            "-f",
            "json",
            "-j",
            "1",
            "--executor",
            "dask-local",
        ]
    )
    assert run.returncode == ExitCode.FINDINGS, run.stderr
    assert Counter(i["content_type"] for i in json.loads(run.stdout)["items"]) == {"jpeg": 1}


def test_a_hung_decoder_on_a_dask_worker_costs_one_item(cluster: Cluster, tmp_path: Path) -> None:
    """The batch runs through the worker pool on the Dask worker: the item over its time
    budget fails alone, the items of the same batch come back with their evidence."""
    from helpers import astronaut, encode
    from PIL import Image

    # ~4 s of work (decode 178 Mpx of 16-bit samples, just under the pixel limit, convert and
    # downscale) against a budget of 1.5 s; a face photo takes ~0.2 s: wide margins both ways.
    # (8-bit grey no longer serves: since the working image is decoded at its own size, it
    # finishes within the budget.)
    Image.new("I;16", (17_000, 10_500)).save(tmp_path / "slow.png", compress_level=1)
    for n in range(3):
        (tmp_path / f"face{n}.jpg").write_bytes(encode(astronaut(), "JPEG", quality=90))
    result = run_scan(
        ScanConfig(
            targets=(tmp_path,), executor=cluster.executor, limits=Limits(item_timeout_s=1.5)
        )
    )
    assert [(p.location.display.rsplit("/", 1)[-1], p.reason) for p in result.problems] == [
        ("slow.png", ProblemReason.TIMEOUT)
    ]
    assert sorted(r.location.display.rsplit("/", 1)[-1] for r in result.items) == [
        "face0.jpg",
        "face1.jpg",
        "face2.jpg",
    ]
    assert not result.interrupted


def _forms(vector: object) -> list[bytes]:
    """A descriptor's components as text and as float32/float64 bytes."""
    import struct

    import numpy as np

    out: list[bytes] = []
    for v in np.asarray(vector)[:32]:
        f = float(v)
        out += [f"{f:.6f}".encode(), repr(f).encode(), str(np.float32(f)).encode()]
        out += [struct.pack("<d", f), struct.pack("<f", f)]
    return [o for o in out if len(o.strip(b"-0.")) >= 5]


def test_probe_descriptors_are_never_written_on_a_worker(tmp_path: Path) -> None:
    """`subject find` through a cluster whose workers' temporary folder, local directory
    and logs are all under one folder: afterwards no file there holds the probe's bytes or
    any component of a descriptor (the probe's or the scanned face's)."""
    from helpers import astronaut, encode

    from scanner.subject.probe import load_probes

    probe = tmp_path / "requester.jpg"
    probe.write_bytes(encode(astronaut(), "JPEG", quality=95))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "badge.jpg").write_bytes(encode(astronaut().resize((360, 360)), "JPEG", quality=88))
    workers_tmp = tmp_path / "cluster" / "tmp"
    workers_tmp.mkdir(parents=True)
    cluster = start_cluster(tmp_path / "cluster", extra_env={"TMPDIR": str(workers_tmp)})
    try:
        run = _cli(
            [
                *("subject", "find", "--probe", str(probe), str(tree), "-f", "json"),
                *("--no-state", "--executor", cluster.executor),
            ]
        )
    finally:
        cluster.stop()
    assert run.returncode == ExitCode.FINDINGS, run.stderr
    (match,) = json.loads(run.stdout)["matches"]
    assert match["path"].endswith("badge.jpg")
    secrets = _forms(load_probes([probe]).descriptors[0])
    secrets += _forms(load_probes([tree / "badge.jpg"]).descriptors[0])
    probe_bytes = probe.read_bytes()
    secrets += [probe_bytes[i : i + 32] for i in range(0, len(probe_bytes) - 32, 997)]
    written = [p for p in (tmp_path / "cluster").rglob("*") if p.is_file()]
    assert any(p.name.endswith(".log") for p in written)  # the workers' logs are read too
    for path in written:
        blob = path.read_bytes()
        assert [s for s in secrets if s in blob] == [], path
        assert b"requester" not in blob, path


def test_a_file_a_worker_cannot_reach_is_that_items_problem(tmp_path: Path) -> None:
    """What a Dask worker does with a batch (run here, in this process, with its real
    pool): a path not there (a filesystem not mounted on that worker) is the item's problem,
    saying so; a file listed on another machine, whose network filesystem numbers the
    device differently (same inode, size, mtime), is examined."""
    from dataclasses import replace

    from helpers import astronaut, encode

    from scanner.engine import _Planner
    from scanner.executors.dask import close_pools, run_batch, versions
    from scanner.sources.filesystem import FileRef
    from scanner.work import WorkerSetup, WorkOutcome

    tree = tmp_path / "mounted"
    tree.mkdir()
    (tree / "face.jpg").write_bytes(encode(astronaut(), "JPEG", quality=90))
    config = ScanConfig(targets=(tree,), detectors=("face.yunet",))
    (listed,) = list(_Planner(config))
    assert isinstance(listed.ref, FileRef)
    elsewhere = replace(listed, ref=replace(listed.ref, dev=listed.ref.dev + 1))
    setup = WorkerSetup(config.detectors, config.detection, config.limits, config.sampling)
    try:
        answer = run_batch("t1", versions(setup), setup, (elsewhere,))
        (seen,) = answer.events
        assert isinstance(seen, WorkOutcome) and seen.result is not None
        assert seen.result.evidence and not seen.result.problems
        tree.rename(tmp_path / "unmounted")
        answer = run_batch("t1", versions(setup), setup, (listed,))
    finally:
        close_pools("t1")
    (missing,) = answer.events
    assert isinstance(missing, WorkOutcome) and missing.result is not None
    (problem,) = missing.result.problems
    assert problem.reason is ProblemReason.UNREADABLE_FILE
    assert "not found from the Dask worker on" in problem.detail
    assert "mounted at the same place on every worker" in problem.detail
    assert answer.mismatch == ""


def test_a_bucket_through_dask_is_read_by_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 bucket (moto's real server) scanned through the cluster reports what the local
    pool reports, and every object is fetched by a Dask worker (its own credentials, its
    User-Agent), never by the client, which only lists."""
    from dataclasses import replace

    import boto3
    import s3fs
    from helpers import astronaut, encode, no_face
    from s3_server import S3Server

    server = S3Server()
    env = server.use(monkeypatch, "not-a-real-secret-0123456789", tmp_path / "none")
    cluster = start_cluster(
        tmp_path / "cluster", extra_env={**env, "AWS_SDK_UA_APP_ID": "faceaudit-worker"}
    )
    try:
        s3 = boto3.client("s3", endpoint_url=server.url)
        s3.create_bucket(Bucket="uploads")
        face = encode(astronaut(), "JPEG")
        for n in range(5):
            s3.put_object(Bucket="uploads", Key=f"people/face{n}.jpg", Body=face)
        s3.put_object(Bucket="uploads", Key="things/coffee.jpg", Body=encode(no_face(), "JPEG"))
        archive = tmp_path / "old.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("badges/face.png", encode(astronaut(), "PNG"))
        s3.put_object(Bucket="uploads", Key="backups/old.zip", Body=archive.read_bytes())
        config = ScanConfig(targets=("s3://uploads",), workers=2)
        local = run_scan(config)
        server.clear_log()
        remote = run_scan(replace(config, executor=cluster.executor))
        requests = server.requests()
    finally:
        cluster.stop()
        server.stop()
        s3fs.S3FileSystem.clear_instance_cache()
    assert remote.items == local.items and len(local.items) == 6  # five photos, a member
    assert _problems(remote) == _problems(local)
    gets = [r for r in requests if r.method == "GET" and r.path.strip("/").count("/") >= 1]
    assert len(gets) == 7  # each object once
    assert all("faceaudit-worker" in r.agent for r in gets), [r.agent for r in gets]
    listings = [r for r in requests if r.method == "GET" and r not in gets]
    assert listings and not any("faceaudit-worker" in r.agent for r in listings)


def test_batches_in_flight_are_bounded(cluster: Cluster) -> None:
    """The listing is pulled only as batches come back: however long it is, at most two
    batches per worker thread are on the cluster (the client's memory stays flat)."""
    from scanner.config import DetectionSettings
    from scanner.executors import parse
    from scanner.executors.dask import DaskExecutor
    from scanner.model import ContentType, FileLocation
    from scanner.work import WorkerSetup, WorkItem

    pulled = 0

    def listing() -> Iterator[WorkItem]:
        nonlocal pulled
        for n in range(1, 201):
            pulled += 1
            data = f"note {n}\n".encode()
            yield WorkItem(
                n, FileLocation(f"note{n}.txt"), ContentType.TEXT, len(data), None, data=data
            )

    setup = WorkerSetup(("face.tags",), DetectionSettings(), Limits())
    seen: list[int] = []
    most = 0
    with DaskExecutor(parse(cluster.executor), setup, batch_items=4) as executor:
        for event in executor.run(listing()):
            most = max(most, len(executor.in_flight()))
            assert pulled <= len(seen) + 4 * 2 * 2 + 4  # done + in flight (+ the one listed)
            seen.append(event.outcome.seq if isinstance(event, Partial) else event.seq)
    assert sorted(seen) == list(range(1, 201))  # each once
    assert 0 < most <= 4 * 2 * 2


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """A PostgreSQL and a MariaDB database, each with a table of real face descriptors
    (dlib's, of real faces): a float8[] column and a BLOB of float32 values."""
    import psycopg
    from db_helpers import dlib_descriptors, mysql_connect, mysql_database, pg_database

    vectors = dlib_descriptors(12)
    with pg_database("fa_dask") as pg, mysql_database("fa_dask") as my:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE public.faces (id int PRIMARY KEY, created_at timestamptz, "
                "embedding float8[], note text)"
            )
            for i, v in enumerate(vectors):
                conn.execute(
                    "INSERT INTO public.faces VALUES (%s, %s, %s, %s)",
                    (i, datetime.datetime(2024, 1, 1 + i, tzinfo=datetime.UTC), v.tolist(), "x"),
                )
        conn2 = mysql_connect(my)
        with conn2.cursor() as cur:
            cur.execute(
                "CREATE TABLE faces (id INT PRIMARY KEY, created_at DATETIME, embedding BLOB)"
            )
            for i, v in enumerate(vectors):
                cur.execute(
                    "INSERT INTO faces VALUES (%s, %s, %s)",
                    (i, datetime.datetime(2024, 1, 1 + i), v.astype("<f4").tobytes()),
                )
        conn2.close()
        yield pg, my


def test_database_columns_are_sampled_by_the_dask_workers(
    cluster: Cluster, databases: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL and a MariaDB database through the cluster report what the local pool
    reports (items, evidence, findings), and what travels to the workers is a reference to
    each column (its URI, table and column, the sampling limits), never a sampled value:
    the workers sample the columns themselves."""
    import pickle
    import struct
    from dataclasses import replace

    from db_helpers import dlib_descriptors

    import scanner
    import scanner.executors.dask as on_dask
    from scanner.engine import _Planner
    from scanner.executors.dask import RemoteColumn
    from scanner.model import ContentType
    from scanner.policy.judgement import Judgement

    listed, travelled = [], []
    real_sent = on_dask.sent

    def recorded(item, sampling=None):  # type: ignore[no-untyped-def]
        out = real_sent(item, sampling)
        listed.append(item)
        travelled.append(out)
        return out

    monkeypatch.setattr(on_dask, "sent", recorded)
    config = ScanConfig(targets=databases, workers=2)
    as_of = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    judgement = Judgement(scanner.load_policy("gdpr"), as_of=as_of)
    local = run_scan(config, judgement=judgement)
    remote = run_scan(replace(config, executor=cluster.executor), judgement=judgement)
    evidence = {r.location.display: [e.detector for e in r.evidence] for r in local.items}
    assert any(name.startswith("postgresql://") for name in evidence), evidence
    assert any(name.startswith("mysql://") for name in evidence), evidence
    assert remote.items == local.items
    assert remote.findings == local.findings and local.findings
    assert _problems(remote) == _problems(local)
    assert remote.exit_code == local.exit_code
    columns = [i for i in travelled if i.content_type is ContentType.DB_COLUMN]
    assert len(columns) == local.stats.items_scanned >= 2
    assert all(isinstance(i.ref, RemoteColumn) and i.column is None for i in columns)
    assert all(i.ref.sampling == config.sampling for i in columns)
    # The client measured the columns (it decides which are worth examining) but fetched
    # no value: the same counts as a local listing's, no values.
    here = {i.location: i.column for i in _Planner(config) if i.column is not None}
    assert {i.location for i in listed} == set(here)
    for item in listed:
        assert item.column is not None and item.column.values == ()
        mine = here[item.location]
        assert mine is not None and mine.values
        assert (item.column.sampled_rows, item.column.oversized, item.column.notes) == (
            mine.sampled_rows,
            mine.oversized,
            mine.notes,
        )
    sent_bytes = b"".join(pickle.dumps(i) for i in travelled)
    for v in dlib_descriptors(12):
        assert struct.pack(">d", float(v[0])) not in sent_bytes  # pickled floats (float8[])
        assert v.astype("<f4").tobytes()[:16] not in sent_bytes  # the BLOB's bytes


def test_a_database_a_worker_cannot_reach_is_that_items_problem(
    databases: tuple[str, str],
) -> None:
    """What a Dask worker does with a batch of columns (run here, with its real pool): a
    column is sampled by the worker; a server the worker cannot reach (no route, another
    port) is each item's problem, naming the worker."""
    from dataclasses import replace

    from scanner.engine import _Planner
    from scanner.executors.dask import RemoteColumn, close_pools, run_batch, sent, versions
    from scanner.work import WorkerSetup, WorkOutcome

    config = ScanConfig(  # listed as for a cluster: the columns name their database's URI
        targets=(databases[0],), detectors=("embedding.column",), executor="dask://127.0.0.1:1"
    )
    listed = [sent(item, config.sampling) for item in _Planner(config)]
    assert listed and all(isinstance(i.ref, RemoteColumn) for i in listed)
    setup = WorkerSetup(config.detectors, config.detection, config.limits, config.sampling)
    unreachable = tuple(
        replace(i, ref=replace(i.ref, dsn="postgresql://127.0.0.1:9/nowhere"))  # type: ignore[type-var]
        for i in listed
    )
    try:
        read = run_batch("t2", versions(setup), setup, tuple(listed))
        lost = run_batch("t2", versions(setup), setup, unreachable)
    finally:
        close_pools("t2")
    outcomes = [e for e in read.events if isinstance(e, WorkOutcome)]
    assert any(o.result is not None and o.result.evidence for o in outcomes)
    assert len(lost.events) == len(listed)
    for event in lost.events:
        assert isinstance(event, WorkOutcome) and event.result is not None
        (problem,) = event.result.problems
        assert problem.reason is ProblemReason.DATABASE_UNREADABLE
        assert "cannot connect" in problem.detail
        assert "from the Dask worker on" in problem.detail


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_password_in_a_database_uri_is_refused_without_tls(scheme: str) -> None:
    """A database URI with a password would travel in clear text to every worker: refused
    before any work (exit 2 from the CLI), the password never quoted; through tls:// or to
    dask-local it may travel."""
    from scanner.errors import ExecutorError
    from scanner.executors import parse, refuse_secrets

    target = f"{scheme}://audit:Px7Secret@127.0.0.1:1/kyc"
    with pytest.raises(ExecutorError) as refused:
        run_scan(ScanConfig(targets=(target,), executor="dask://127.0.0.1:1"))
    assert "Px7Secret" not in str(refused.value) and "audit" not in str(refused.value)
    assert "holds a password" in str(refused.value)
    refuse_secrets(parse("tls://127.0.0.1:1"), [target])
    refuse_secrets(parse("dask-local"), [target])
    refuse_secrets(parse("dask://127.0.0.1:1"), [f"{scheme}://audit@127.0.0.1:1/kyc"])
    done = _cli(["scan", target, "--no-state", "-q", "--executor", "dask://127.0.0.1:1"])
    assert done.returncode == ExitCode.USAGE
    assert "holds a password" in done.stderr and "Px7Secret" not in done.stderr
