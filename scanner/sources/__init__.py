"""Sources: the places items come from, in one registry.

A target without a scheme is a path, claimed by the filesystem source; a target `scheme://…`
by the source module registered for its scheme in SOURCES (built-ins, listed explicitly) or
by a plug-in (the `faceaudit.sources` entry points, loaded when a scan asks for a scheme no
built-in claims). A source module provides:

- `open_source(target, ctx) -> Source` (scanner.sources.base): its items, in the main process;
- `display(target) -> str`: how reports, the history and the state name the target (never a
  credential);
- optionally `check(target)`: raises ConfigError when the target cannot be used (a missing
  optional package, an unknown option), called before the scan starts;
- optionally `read_rows(target, sql, base) -> list[rows]`: the rows of one read-only query,
  for a policy's registers kept in it (SQLite, PostgreSQL);
- optionally `read_keys(target, read, sampling) -> tuple[SubjectRow, ...]`: the rows of a
  column, by key and subject (scanner.sources.keys), for a policy's per-subject checks
  (PostgreSQL, MariaDB/MySQL; a SQLite file's are read in a worker,
  scanner.sources.keys.read_sqlite).

No other module lists schemes. Drivers are imported only when a target of their scheme is
scanned, so `faceaudit --help` stays instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from scanner.errors import ConfigError
from scanner.sources.base import Source, SourceContext

if TYPE_CHECKING:
    from scanner.config import SampleLimits
    from scanner.model import Problem
    from scanner.sources.database import ColumnSample
    from scanner.sources.keys import KeyRead, SubjectRow

# scheme -> the module implementing it (see above)
SOURCES: dict[str, str] = {
    "sqlite": "scanner.sources.sqlite_uri",
    "postgresql": "scanner.sources.postgres",
    "postgres": "scanner.sources.postgres",
    "mysql": "scanner.sources.mysql",
    "mariadb": "scanner.sources.mysql",
    "s3": "scanner.sources.objects",
    "gs": "scanner.sources.objects",
    "gcs": "scanner.sources.objects",
    "az": "scanner.sources.objects",
    "abfs": "scanner.sources.objects",
}
ENTRY_POINT_GROUP = "faceaudit.sources"


def scheme_of(target: str | Path) -> str:
    """`postgresql+psycopg://…` -> `postgresql`; a path (no `scheme://`) -> ""."""
    if isinstance(target, Path):
        return ""
    head, sep, _ = target.partition("://")
    return head.split("+", 1)[0].lower() if sep else ""


def _plugins() -> dict[str, str]:
    """Schemes claimed by installed plug-ins: entry point name -> the module's name."""
    found = entry_points(group=ENTRY_POINT_GROUP)
    return {ep.name.lower(): ep.value for ep in found if ep.name.lower() not in SOURCES}


def is_source_uri(target: str | Path) -> bool:
    """A target some registered source claims by its scheme."""
    scheme = scheme_of(target)
    return bool(scheme) and (scheme in SOURCES or scheme in _plugins())


def module_for(target: str | Path) -> ModuleType:
    """The module of the source claiming `target` (ConfigError when none does)."""
    scheme = scheme_of(target)
    name = SOURCES.get(scheme) or _plugins().get(scheme)
    if name is None:
        raise ConfigError(f"no source reads {scheme}:// targets")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"the source for {scheme}:// cannot be loaded: {exc}") from None


def open_target(target: str | Path, ctx: SourceContext) -> Source:
    """The source of one target: a path's filesystem source, or a scheme's."""
    if not scheme_of(target):
        from scanner.sources.filesystem import FilesystemSource

        return FilesystemSource(Path(target), ctx)
    source: Source = module_for(target).open_source(str(target), ctx)
    return source


def check_target(target: str) -> None:
    """A URI target its source can use: ConfigError naming what is wrong (a missing extra, an
    unknown option), before any work; a source without a `check` accepts every target."""
    checker = getattr(module_for(target), "check", None)
    if checker is not None:
        checker(target)


def display(target: str | Path) -> str:
    """How a target is named in reports, the history and the state (never a credential)."""
    if not scheme_of(target):
        return str(target)
    shown: str = module_for(target).display(str(target))
    return shown


def read_rows(target: str, sql: str, base: Path | None = None) -> Sequence[Sequence[Any]]:
    """The rows of one read-only query, from a source that can answer one (registers);
    ConfigError when the target's source cannot."""
    module = module_for(target)
    reader = getattr(module, "read_rows", None)
    if reader is None:
        raise ConfigError(f"{scheme_of(target)}:// sources cannot hold a register")
    rows: Sequence[Sequence[Any]] = reader(target, sql, base)
    return rows


def holds_registers(target: str) -> bool:
    """Whether a policy's register may be kept at `target` (its source answers queries)."""
    try:
        return hasattr(module_for(target), "read_rows")
    except ConfigError:
        return False


def read_relation(target: str, table: str, sampling: SampleLimits) -> list[ColumnSample | Problem]:
    """One relation's sampled columns, read in this process from the database server at
    `target` (a Dask worker samples the columns the client listed: scanner.executors.dask);
    ConfigError when the target's source cannot; DatabaseError when the server cannot be
    read."""
    reader = getattr(module_for(target), "read_relation", None)
    if reader is None:
        raise ConfigError(f"{scheme_of(target)}:// sources cannot sample one relation")
    samples: list[ColumnSample | Problem] = reader(target, table, sampling)
    return samples


def read_keys(read: KeyRead, sampling: SampleLimits) -> tuple[SubjectRow, ...]:
    """The rows of a column, by key and subject, from a source that reads them in this process (a
    database server); raises KeysUnreadable when the target's source cannot."""
    from scanner.sources.keys import KeysUnreadable

    try:
        reader = getattr(module_for(read.database), "read_keys", None)
    except ConfigError as exc:
        raise KeysUnreadable(str(exc)) from None
    scheme = scheme_of(read.database)
    if reader is None:
        raise KeysUnreadable(f"the subjects of {scheme}:// columns cannot be read")
    found: tuple[SubjectRow, ...] = reader(read.database, read, sampling)
    return found
