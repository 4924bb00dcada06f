"""Where the items of a scan are examined, chosen by `--executor`.

`local` (the default) is the worker pool of this machine (scanner.pool). Any other executor
is one module of this package, named in the fixed table EXECUTORS and imported only when a
scan asks for it (its engine is an optional extra): `dask://HOST:PORT` and `tls://HOST:PORT`
(an existing Dask scheduler) and `dask-local` (a Dask LocalCluster on this machine) are
scanner.executors.dask. Every executor is a scanner.pool.Executor: it takes item
references and yields what comes back; the engine records each item once.
"""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from scanner.errors import ConfigError, ExecutorError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from scanner.pool import Executor
    from scanner.work import WorkerSetup

LOCAL = "local"
DASK_LOCAL = "dask-local"
# executor kind -> (its module, the distribution it needs, the extra that installs it)
EXECUTORS: dict[str, tuple[str, str, str]] = {
    "dask": ("scanner.executors.dask", "distributed", "dask"),
}
SERVER_SCHEMES = frozenset({"postgresql", "postgres", "mysql", "mariadb"})  # sampled remotely
_SCHEMES = {"dask": "tcp", "tcp": "tcp", "tls": "tls"}  # scheme typed -> Dask's protocol


@dataclass(frozen=True)
class ExecutorSpec:
    """A parsed `--executor`: its kind, and the scheduler's address for a cluster
    (`tcp://host:port` or `tls://host:port`; None: a cluster started here, or the pool)."""

    kind: str  # "local" or a key of EXECUTORS
    address: str | None = None
    host: str = ""

    @property
    def tls(self) -> bool:
        return self.address is not None and self.address.startswith("tls://")


def parse(text: str) -> ExecutorSpec:
    """`local`, `dask-local`, `dask://HOST:PORT` or `tls://HOST:PORT` (ConfigError else)."""
    if text == LOCAL:
        return ExecutorSpec(LOCAL)
    if text == DASK_LOCAL:
        return ExecutorSpec("dask")
    scheme, sep, _ = text.partition("://")
    if not sep or scheme not in _SCHEMES:
        raise ConfigError(
            f"executor {text!r} is not one of: local, dask-local, dask://HOST:PORT, tls://HOST:PORT"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"executor {text!r}: {exc}") from None
    if not parts.hostname or port is None or parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"executor {text!r} must be {scheme}://HOST:PORT")
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return ExecutorSpec("dask", f"{_SCHEMES[scheme]}://{shown}:{port}", host)


def refuse_secrets(spec: ExecutorSpec, targets: Iterable[str]) -> None:
    """ExecutorError when a database URI holds a password and the scheduler is reached
    without TLS: the URI travels to every worker (RemoteColumn), so in clear text over the
    network. Through TLS, or to a cluster started here (dask-local), it may travel; the
    workers' own PGPASSWORD, ~/.pgpass or a password-less account are better."""
    if spec.kind == LOCAL or spec.tls or spec.address is None:
        return
    from scanner.sources import display, scheme_of
    from scanner.sources.database import has_secret

    for target in targets:
        if scheme_of(target) in SERVER_SCHEMES and has_secret(target):
            raise ExecutorError(
                f"the database URI {display(target)} holds a password, which would travel in "
                f"clear text to every worker of {spec.address} (its workers sample the "
                "columns themselves): give the workers the password (PGPASSWORD or "
                "~/.pgpass on each worker for PostgreSQL) and take it out of the URI, or "
                "reach the scheduler through tls://"
            )


def require(spec: ExecutorSpec) -> None:
    """ConfigError naming the extra to install when the executor's engine is missing."""
    if spec.kind == LOCAL:
        return
    _, distribution, extra = EXECUTORS[spec.kind]
    try:
        missing = importlib.util.find_spec(distribution) is None
    except (ImportError, ValueError):  # a parent package missing, or blocked in sys.modules
        missing = True
    if missing:
        raise ConfigError(
            f"executor {spec.kind} needs faceaudit's [{extra}] extra: pip install "
            f"{distribution} (in a checkout: pip install '.[{extra}]')"
        )


def insecure_warning(spec: ExecutorSpec) -> str | None:
    """A warning when a scheduler off this machine is reached without TLS: whoever can reach
    an unauthenticated Dask scheduler runs code on every worker (docs/scale-out.md)."""
    if spec.address is None or spec.tls or _loopback(spec.host):
        return None
    return (
        f"the Dask scheduler {spec.address} is not on this machine and the connection is not "
        "TLS: anyone who can reach that scheduler can run code on its workers, and the "
        "items' locations and results travel in clear; use tls://HOST:PORT with certificates "
        "(docs/scale-out.md)"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: may be anywhere


def open_executor(
    spec: ExecutorSpec, setup: WorkerSetup, workers: int
) -> AbstractContextManager[Executor]:
    """The executor of `spec` (not the local pool: the engine builds that itself), from its
    module in EXECUTORS; `workers`: how many a cluster started here has."""
    require(spec)
    module = importlib.import_module(EXECUTORS[spec.kind][0])
    build = cast("Callable[..., AbstractContextManager[Executor]]", module.build)
    return build(spec, setup, workers)
