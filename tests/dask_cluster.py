"""A real Dask cluster for the tests: `dask scheduler` and `dask worker --nthreads 1`
processes on 127.0.0.1 (random ports), started from this checkout's interpreter. A missing
`dask` command or a cluster that does not come up is a failure, never a skip."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASK = str(Path(sys.executable).parent / "dask")


@dataclass
class Cluster:
    """A scheduler and its workers; `address` is what `--executor` takes."""

    folder: Path
    address: str = ""
    env: dict[str, str] = field(default_factory=dict)
    scheduler: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    tls: tuple[str, ...] = ()  # the command-line options of TLS, for scheduler and workers
    security: object | None = None  # a distributed.Security for the test's own client

    @property
    def executor(self) -> str:
        return self.address.replace("tcp://", "dask://")

    def worker_pids(self) -> dict[str, int]:
        """Each worker's process (not its nanny), by address, as the scheduler knows it."""
        from distributed import Client

        with Client(self.address, timeout=20, security=self.security) as client:
            pids: dict[str, int] = client.run(os.getpid)
        return pids

    def add_worker(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {**self.env, **(extra_env or {})}
        n = len(self.workers)
        log = (self.folder / f"worker-{n}.log").open("wb")
        proc = subprocess.Popen(
            [
                DASK,
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--local-directory",
                str(self.folder / f"worker-{n}"),
                *self.tls,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int, timeout: float = 90) -> None:
        from distributed import Client

        with Client(self.address, timeout=20, security=self.security) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in [*self.workers, self.scheduler]:
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)


def start_cluster(
    folder: Path,
    workers: int = 2,
    *,
    extra_env: dict[str, str] | None = None,
    tls: tuple[str, ...] = (),
    security: object | None = None,
) -> Cluster:
    """A scheduler on a random port of 127.0.0.1 and `workers` single-thread workers."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra_env or {})
    cluster = Cluster(folder, env=env, tls=tls, security=security)
    address_file = folder / "scheduler.json"
    log = (folder / "scheduler.log").open("wb")
    cluster.scheduler = subprocess.Popen(
        [
            DASK,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(address_file),
            *(("--protocol", "tls") if tls else ()),
            *tls,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    import json

    while True:
        if address_file.is_file():
            with contextlib.suppress(ValueError):
                cluster.address = json.loads(address_file.read_text())["address"]
                break
        if cluster.scheduler.poll() is not None or time.monotonic() > deadline:
            cluster.stop()
            raise AssertionError(
                "the Dask scheduler did not start: " + (folder / "scheduler.log").read_text()
            )
        time.sleep(0.2)
    for _ in range(workers):
        cluster.add_worker()
    if workers:
        try:
            cluster.wait_for_workers(workers)
        except BaseException:
            cluster.stop()
            raise
    return cluster
