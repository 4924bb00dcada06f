"""Orchestration: sources -> (sniff) -> worker pool -> detectors -> ScanResult.

The engine never prints and never reads the environment: a caller passes a ScanConfig and,
optionally, a progress callback and a clock.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.config import ScanConfig
from scanner.detectors import DEFAULT_DETECTORS, check_ids, default_detectors, distributions
from scanner.errors import ExecutorLost
from scanner.model import (
    NOT_STARTED,
    ContentType,
    FileLocation,
    ItemResult,
    Location,
    Problem,
    ProblemReason,
    ScanLocation,
    ScanResult,
    ScanStats,
)
from scanner.sources import display, open_target, read_keys
from scanner.sources.base import ListingMark, SourceContext, SourceItem
from scanner.sources.globs import PathFilter
from scanner.sources.roots import check_targets, resolved_roots
from scanner.version import distribution_version, tool_version

# What only some scans need is imported by them (start-up, docs/scanning.md): the policy
# schema (pydantic) with a judgement, the state database with one, the context enrichers
# (and their reference tables) with an item, the object-store readers with a store; the
# worker pool and the work messages when an item needs examining (_OnDemand).
if TYPE_CHECKING:
    from scanner.policy.judgement import Judgement
    from scanner.policy.loader import Policy
    from scanner.policy.registers import RegisterData
    from scanner.pool import Event, Executor, WorkerPool
    from scanner.sources.database import ColumnSample
    from scanner.sources.keys import SubjectRow
    from scanner.state.incremental import Incremental
    from scanner.state.store import StateDB
    from scanner.work import ItemHook, WorkItem, WorkOutcome

__all__ = ["Progress", "ProgressCallback", "model_versions", "run_scan", "tool_version"]


@dataclass(frozen=True)
class Progress:
    """Reported to the caller's callback as the scan advances."""

    discovered: int  # files and archive members looked at
    queued: int  # items sent to the detectors
    done: int  # items the detectors finished
    current: str  # display path of the last finished item


ProgressCallback = Callable[[Progress], None]


def model_versions(
    detectors: tuple[str, ...] = DEFAULT_DETECTORS,
) -> tuple[tuple[str, str], ...]:
    """The versions of the distributions the detectors declare (scanner.detectors.base):
    they key the state and are named in the report."""
    return tuple((d, distribution_version(d)) for d in distributions(detectors))


class _Planner:
    """Walks every target and yields work items; records problems and counters on the way.

    Files are not opened here: a worker sniffs each one and examines it or opens it as a
    container (scanner.expand). The databases named by URI are sampled here, except SQLite
    files, which are opened in a worker like any other untrusted file."""

    def __init__(self, config: ScanConfig, incremental: Incremental | None = None) -> None:
        self.config = config
        self.incremental = incremental
        self.since_ns = (
            int(config.since.timestamp() * 1_000_000_000) if config.since is not None else None
        )
        self.excluded_since = 0
        self.filter = PathFilter.build(config.include, config.exclude)
        self.roots = resolved_roots(config.roots)
        self.problems: list[Problem] = []
        self.by_type: collections.Counter[str] = collections.Counter()
        self.discovered = 0
        self.queued = 0
        self.directories = 0
        self.excluded = 0
        self.hardlinks = 0
        self.archive_members = 0
        # archives and mailboxes opened, with the members counted in each (ScanResult)
        self.containers: list[tuple[Location, int]] = []
        self.pages_examined = 0
        self.pages_total = 0
        self.media: collections.Counter[str] = collections.Counter()
        self.atime_preserved = True
        self.aliases: dict[Location, list[Location]] = collections.defaultdict(list)
        self._first_by_key: dict[tuple[int, ...], Location] = {}
        self._walked_dirs: set[tuple[int, int]] = set()
        self._own_dirs: set[tuple[int, int]] = set()
        self._seq = 0
        # what the current listing page holds: (work item seq or None when reused, display),
        # or a problem the source reported (scanner.state.incremental checkpoints)
        self._page: list[tuple[int | None, str] | Problem] = []
        self.state_errors: list[str] = []
        self._paged = False

    def skip(self, own: str) -> None:
        """A folder of the scan's own (the workers' private directories): never walked."""
        try:
            st = os.stat(own)
        except OSError:
            return
        self._own_dirs.add((st.st_dev, st.st_ino))

    def __iter__(self) -> Iterator[WorkItem]:
        ctx = SourceContext(
            self.filter,
            self.config.sampling,
            self._walked_dirs,
            self._own_dirs,
            self.roots,
            max_file_bytes=self.config.limits.max_file_bytes,
            checkpoints=self if self.incremental is not None else None,
            sample_values=self.config.executor == "local",
        )
        targets: list[Path | str] = [*dict.fromkeys(self.config.paths), *self.config.uris]
        for target in targets:
            source = open_target(target, ctx)
            self._page.clear()
            # a source that lists in pages (ListingMark) names its listing: only its items
            # are kept until their page's mark
            self._paged = self.incremental is not None and hasattr(source, "listing")
            for entry in source.items():
                if isinstance(entry, ListingMark):
                    self._listing_mark(entry)
                elif isinstance(entry, Problem):
                    self.problems.append(entry)
                    if self._paged:
                        self._page.append(entry)
                elif entry.column is not None:
                    yield from self._column(entry.column)
                else:
                    yield from self._item(entry)
            self.directories += source.stats.directories
            self.excluded += source.stats.excluded
            self.atime_preserved &= source.stats.atime_preserved

    def _listing_id(self, listing: str) -> str:
        """A listing's checkpoint applies to a scan that would list and judge it alike."""
        from scanner.state.incremental import config_key

        assert self.incremental is not None
        config = self.config
        return config_key(
            [
                listing,
                self.incremental.key,
                config.include,
                config.exclude,
                self.since_ns,
                config.limits.max_file_bytes,
            ]
        )

    def resume(self, listing: str) -> ListingMark | None:
        """scanner.sources.base.Checkpoints: where an interrupted listing goes on; what it
        had looked at is reported from the state (its counts here)."""
        if self.incremental is None:
            return None
        resumed = self.incremental.resume(self._listing_id(listing))
        if resumed is None:
            return None
        mark, reused = resumed
        self.by_type.update(reused.content_types)
        self.discovered += reused.members + reused.items
        self.archive_members += reused.members
        return replace(mark, listing=listing)

    def _listing_mark(self, mark: ListingMark) -> None:
        page, self._page = self._page, []
        inc = self.incremental
        if inc is not None:
            listing = self._listing_id(mark.listing)
            try:
                inc.listing_mark(replace(mark, listing=listing), self._seq, page)
            except (sqlite3.Error, OSError, OverflowError) as exc:
                self.state_errors.append(f"{type(exc).__name__}: {exc}")

    def next_seq(self) -> int:
        self._seq += 1
        self.queued += 1
        return self._seq

    def counted(self, outcome: WorkOutcome) -> None:
        """What a worker found inside a file: its type, members and columns."""
        self.by_type.update(dict(outcome.content_types))
        self.discovered += outcome.members + outcome.columns
        self.archive_members += outcome.members
        self.pages_examined += outcome.pages
        self.pages_total += outcome.pages_total
        self.media.update(dict(outcome.media))
        if outcome.container is not None and outcome.members > 0:
            self.containers.append((outcome.container, outcome.members))
        self.atime_preserved &= outcome.atime_preserved

    def _item(self, item: SourceItem) -> Iterator[WorkItem]:
        """Something to read: queued for a worker unless --since, a hard link of what was
        queued, or unchanged since the last scan leaves it out."""
        changed = max(item.mtime_ns or 0, item.ctime_ns or 0)
        if self.since_ns is not None and item.mtime_ns is not None and changed < self.since_ns:
            self.excluded_since += 1  # --since: unchanged since then, not looked at
            return
        if not item.database:
            self.discovered += 1
        if item.alias_key is not None:
            first = self._first_by_key.get(item.alias_key)
            if first is not None:  # a hard link: same content, reported under both names
                if first != item.location:
                    self.hardlinks += 1
                    self.aliases[first].append(item.location)
                return
            self._first_by_key[item.alias_key] = item.location
        inc = self.incremental if item.identity is not None and not item.database else None
        if inc is not None:
            reused = inc.reuse(item)
            if reused is not None:  # unchanged since the last scan: its results, not decoded
                if self._paged:
                    self._page.append((None, item.location.display))
                self.by_type.update(reused.content_types)
                self.discovered += reused.members
                self.archive_members += reused.members
                return
        from scanner.work import WorkItem

        seq = self.next_seq()
        if inc is not None:
            inc.begin(item, seq)
            if self._paged:
                self._page.append((seq, item.location.display))
        yield WorkItem(
            seq, item.location, None, item.size, item.mtime_ns, ref=item.ref, database=item.database
        )

    def admit(self, parent: WorkItem, child: WorkItem) -> WorkItem | None:
        """A member or column a worker handed back: numbered, or dropped when a column of a
        database named by URI is unchanged since the last scan (its result is reused)."""
        inc = self.incremental
        if parent.database and child.column is not None:
            if inc is not None and inc.reuse_column(child.column):
                return None
            seq = self.next_seq()
            if inc is not None:
                inc.queued_column(seq, child.column)
            return replace(child, seq=seq)
        seq = self.next_seq()
        if inc is not None:
            inc.spawned(parent.seq, seq)
        return replace(child, seq=seq)

    def _column(self, column: ColumnSample) -> Iterator[WorkItem]:
        """A column a database server's source sampled here (a SQLite file's come back from
        the worker that opened it)."""
        self.discovered += 1
        self.by_type[ContentType.DB_COLUMN.value] += 1
        if self.incremental is not None and self.incremental.reuse_column(column):
            return  # same watermark (rows, newest timestamp) as last time
        from scanner.work import WorkItem

        seq = self.next_seq()
        if self.incremental is not None:
            self.incremental.queued_column(seq, column)
        yield WorkItem(seq, column.location, ContentType.DB_COLUMN, 0, None, column=column)

    def _problem(self, location: Location, reason: ProblemReason, detail: str) -> None:
        self.problems.append(Problem(location, reason, detail))


def scan_config_key(config: ScanConfig, models: tuple[tuple[str, str], ...] | None = None) -> str:
    """What detection results depend on: a change here invalidates the state's entries.
    `models`: model_versions of the configuration's detectors, when known already."""
    from scanner.state.incremental import config_key

    return config_key(
        (
            tool_version(),
            models
            if models is not None
            else model_versions(config.detectors or default_detectors()),
            config.detectors,
            config.detection.as_settings(),
            config.limits.as_settings(),
            sorted(config.sampling.__dict__.items()),
        )
    )


def run_scan(  # noqa: PLR0915 (the orchestration, step by step)
    config: ScanConfig,
    *,
    progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    state: StateDB | None = None,
    record_history: bool = True,
    hook: ItemHook | None = None,
    on_extra: Callable[[ItemResult, object], None] | None = None,
    shared_pool: WorkerPool | None = None,
    judgement: Judgement | None = None,
) -> ScanResult:
    """Scan every target of `config` and return the result (never raises for bad input).

    With `judgement`, the evidence is judged (scanner.policy.judgement): the result holds
    findings; what the policy needs beside the scan (the subjects of database stores) is read
    the way the scan reads (a SQLite file in a worker).

    With `state`, files and columns unchanged since its last scan are not looked at again
    (their results are reused), and the scan is recorded in its history.

    With `hook` (scanner.work.ItemHook: a face search, scanner.subject), the workers run it
    after the detectors on every item with evidence, and `on_extra` receives each answer with
    the item's result, in memory; unchanged items the hook `needs_look` at are looked at
    again (its answers are never stored), the others are still reused."""
    if not config.detectors:
        config = replace(config, detectors=default_detectors())
    check_ids(config.detectors)  # unknown detector ids fail before any work starts
    check_targets(config.paths, config.roots)  # and targets outside --root
    # registers are configuration: unreadable ones fail (PolicyErrors) before any work starts
    registers = _registers(judgement)
    models = model_versions(config.detectors)
    started = clock()
    incremental = (
        _incremental(state, scan_config_key(config, models), started, hook)
        if state is not None
        else None
    )
    planner = _Planner(config, incremental)
    results: list[ItemResult] = []
    problems: list[Problem] = []
    bytes_read = 0
    done = 0
    interrupted = False
    state_errors: list[str] = []  # writes to the state database that failed

    def collect(event: Event) -> None:
        from scanner.work import Partial

        nonlocal bytes_read, done
        done += 1
        in_place = isinstance(event, Partial)
        outcome = event.outcome if isinstance(event, Partial) else event
        bytes_read += outcome.bytes_read
        raw = outcome.result
        if not in_place:
            planner.counted(outcome)
            problems.extend(outcome.problems)
        if incremental is not None:
            if in_place:
                _guard(state_errors, lambda: incremental.partial(outcome.seq, raw))
            else:
                _guard(state_errors, lambda: incremental.outcome(outcome.seq, raw, outcome))
            if raw is not None and incremental.has_no_watermark(outcome.seq):
                note = ("state.watermark", "none: no timestamp column, examined again each scan")
                raw = replace(raw, notes=(*raw.notes, note))
        if raw is None:
            if progress is not None and outcome.problems:
                where = outcome.problems[0].location.display
                progress(Progress(planner.discovered, planner.queued, done, where))
            return
        result = _enrich(raw)
        if on_extra is not None and outcome.extra is not None:
            on_extra(result, outcome.extra)
        problems.extend(result.problems)
        if result.evidence:
            results.append(result)
        if progress is not None:
            progress(Progress(planner.discovered, planner.queued, done, result.location.display))

    executor: Executor
    subjects: dict[Location, tuple[SubjectRow, ...]] = {}
    with contextlib.ExitStack() as stack:
        # shared_pool: a long-lived pool (watch), whose models stay loaded
        executor = shared_pool or _executor(config, hook, stack, planner)
        planner.skip(executor.private_root)
        try:
            # objects of a store are fetched a few at a time ahead of the workers (a cluster's
            # workers fetch their own: scanner.executors)
            queued: Iterable[WorkItem] = planner
            if config.executor == "local" and config.uris:  # only a URI may name a store
                from scanner.sources.object_read import prefetching, reads_objects

                if reads_objects(config.uris):
                    queued = prefetching(planner)
            for event in executor.run(queued, planner.admit):
                collect(event)
        except KeyboardInterrupt:
            interrupted = True
            _interrupted(executor.in_flight(), problems)
        except ExecutorLost as exc:  # the cluster went away: what came back is reported
            interrupted = True
            _interrupted(executor.in_flight(), problems, str(exc))
        if incremental is not None:
            _merge_reused(incremental, results, problems)
            _guard(state_errors, incremental.save)  # files looked at completely
        # Hard links found after their first name was scanned: same content, every name.
        results += [
            replace(r, location=alias)
            for r in list(results)
            for alias in planner.aliases.get(r.location, ())
        ]
        if judgement is not None and not interrupted:
            try:  # whose data the columns hold: read like the columns themselves
                subjects = _subjects(executor, config, judgement.policy, results, problems)
            except KeyboardInterrupt:
                interrupted = True
                _interrupted(executor.in_flight(), problems)
            except ExecutorLost as exc:
                interrupted = True
                _interrupted(executor.in_flight(), problems, str(exc))
        protections = executor.protections
    finished = clock()
    items = tuple(sorted(results, key=lambda r: r.location))
    state_errors[:0] = planner.state_errors  # checkpoints of listings that were not saved
    problems.extend(_state_problems(state, state_errors))
    all_problems = sorted(planner.problems + problems, key=lambda p: (p.location, p.reason.value))
    stats = _stats(planner, bytes_read, incremental)
    result = ScanResult(
        tool_version=tool_version(),
        models=models,
        started_at=started,
        finished_at=finished,
        targets=tuple(str(t) for t in dict.fromkeys(config.paths))
        + tuple(dict.fromkeys(display(u) for u in config.uris)),
        settings=config.as_settings(),
        items=items,
        problems=tuple(all_problems),
        stats=stats,
        interrupted=interrupted,
        fail_on=config.fail_on,
        allow_incomplete=config.allow_incomplete,
        protections=protections,
        containers=tuple(planner.containers),
    )
    if judgement is not None:
        from scanner.policy.judgement import judge

        result = judge(result, judgement, registers, subjects)
    if state is not None and record_history:
        result = _record(state, result, state_errors)
    return result


def _registers(judgement: Judgement | None) -> dict[str, RegisterData]:
    if judgement is None:
        return {}
    from scanner.policy.facts import load_registers

    return load_registers(judgement.policy)


def _incremental(state: StateDB, key: str, started: datetime, hook: ItemHook | None) -> Incremental:
    from scanner.state.incremental import Incremental

    return Incremental(
        state,
        key,
        int(started.timestamp() * 1e9),
        needs_look=hook.needs_look if hook is not None else None,
    )


def _interrupted(pending: list[WorkItem], problems: list[Problem], why: str = "") -> None:
    cause = f" ({why})" if why else ""
    for item in pending:
        problems.append(
            Problem(item.location, ProblemReason.INTERRUPTED, f"scan interrupted{cause}")
        )
    problems.append(
        Problem(
            ScanLocation(),
            ProblemReason.INTERRUPTED,
            f"scan interrupted{cause} before every target was walked; this report is partial",
        )
    )


def _executor(
    config: ScanConfig, hook: ItemHook | None, stack: contextlib.ExitStack, planner: _Planner
) -> Executor:
    """The executor `config.executor` names, entered on `stack`: the pool of this machine,
    when the first item needs it (_OnDemand), this process with no workers, or a cluster
    (scanner.executors; its extra is checked)."""

    def opened() -> contextlib.AbstractContextManager[Executor]:
        from scanner.pool import InlineExecutor, WorkerPool
        from scanner.work import WorkerSetup

        setup = WorkerSetup(
            config.detectors, config.detection, config.limits, config.sampling, hook=hook
        )
        if config.executor != "local":
            from scanner.executors import open_executor, parse, refuse_secrets

            spec = parse(config.executor)
            refuse_secrets(spec, config.uris)
            return open_executor(spec, setup, max(config.workers, 1))
        if config.workers <= 0:
            return InlineExecutor(setup)
        return WorkerPool(setup, config.workers)

    if config.executor == "local" and config.workers > 0:
        return _OnDemand(opened, stack, planner)
    return stack.enter_context(opened())


class _OnDemand:
    """This machine's worker pool, imported and entered when the first item needs it: a scan
    that examines nothing (an empty folder, a rescan the state serves whole) imports neither
    the pool nor the work messages, and creates no private folder. The pool starts its
    workers on the first item too; until then it would report the same protections."""

    def __init__(
        self,
        opened: Callable[[], contextlib.AbstractContextManager[Executor]],
        stack: contextlib.ExitStack,
        planner: _Planner,
    ) -> None:
        self._opened = opened
        self._stack = stack
        self._planner = planner
        self._executor: Executor | None = None
        self.private_root = ""

    @property
    def protections(self) -> tuple[tuple[str, str], ...]:
        return NOT_STARTED if self._executor is None else self._executor.protections

    def _entered(self) -> Executor:
        if self._executor is None:
            self._executor = self._stack.enter_context(self._opened())
            self.private_root = self._executor.private_root
            self._planner.skip(self.private_root)  # before the walk goes on
        return self._executor

    def run(
        self,
        items: Iterable[WorkItem],
        on_spawn: Callable[[WorkItem, WorkItem], WorkItem | None] | None = None,
    ) -> Iterator[Event]:
        pending = iter(items)
        for first in pending:  # the walk, until an item needs examining
            executor = self._entered()
            yield from executor.run(itertools.chain((first,), pending), on_spawn)
            return

    def in_flight(self) -> list[WorkItem]:
        return [] if self._executor is None else self._executor.in_flight()


def _record(state: StateDB, result: ScanResult, errors: list[str]) -> ScanResult:
    """The scan in the state's history; if that write fails (and nothing failed before),
    the result says so."""
    from scanner.state.history import record_scan, trend_of

    failed = bool(errors)
    _guard(errors, lambda: record_scan(state, result))
    if failed or not errors:
        try:
            return replace(result, trend=trend_of(state, result))
        except (sqlite3.Error, OSError):
            return result  # the trend is a view of the history; the scan stands without it
    problems = sorted(
        (*result.problems, *_state_problems(state, errors)),
        key=lambda p: (p.location, p.reason.value),
    )
    return replace(result, problems=tuple(problems))


def _guard(errors: list[str], write: Callable[[], object]) -> None:
    """A write to the state database that fails (a full disk, an I/O error) costs the next
    scan its reuse, never this scan its report: the failure becomes a problem of the result.
    Each write is one transaction, so the state stays as it was before that write."""
    try:
        write()
    except (sqlite3.Error, OSError, OverflowError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


def _state_problems(state: StateDB | None, errors: list[str]) -> list[Problem]:
    if state is None or not errors:
        return []
    more = f" (and {len(errors) - 1} more writes)" if len(errors) > 1 else ""
    detail = (
        f"the state database could not be written: {errors[0]}{more}; every result is in this "
        "report, and the next scan looks again at what this one examined"
    )
    return [Problem(FileLocation(str(state.path)), ProblemReason.STATE_NOT_SAVED, detail)]


def _stats(planner: _Planner, bytes_read: int, incremental: Incremental | None) -> ScanStats:
    return ScanStats(
        items_scanned=planner.discovered,
        bytes_read=bytes_read,
        directories=planner.directories,
        excluded=planner.excluded + planner.excluded_since,
        hardlinks=planner.hardlinks,
        archive_members=planner.archive_members,
        pages_examined=planner.pages_examined,
        pages_total=planner.pages_total,
        media=tuple(sorted(planner.media.items())),
        by_content_type=tuple(sorted(planner.by_type.items())),
        atime_preserved=planner.atime_preserved,
        reused=(incremental.reused_files + incremental.reused_columns) if incremental else 0,
    )


def _enrich(raw: ItemResult) -> ItemResult:
    """`scanner.context.enrich`, imported when the first item is done (an empty scan has
    none)."""
    from scanner.context import enrich

    return enrich(raw)


def _merge_reused(
    incremental: Incremental, results: list[ItemResult], problems: list[Problem]
) -> None:
    """Unchanged since the last scan: its results (enriched afresh: xattrs, registers and
    the clock may have changed). What was looked at completely is saved afterwards (an
    interrupted file is not)."""
    for raw in incremental.reused_results:
        reused = _enrich(raw)
        problems.extend(reused.problems)
        if reused.evidence:
            results.append(reused)
    problems.extend(incremental.reused_problems)


def _subjects(
    executor: Executor,
    config: ScanConfig,
    policy: Policy,
    results: list[ItemResult],
    problems: list[Problem],
) -> dict[Location, tuple[SubjectRow, ...]]:
    """The keys and subjects of the rows of every column with evidence in a store keyed by
    a column, read as the columns were: a SQLite file in a worker, a server through its
    source."""
    from scanner.policy.facts import subject_reads, unread
    from scanner.sources.keys import KeysUnreadable
    from scanner.work import Partial, WorkItem

    uris = {display(u): u for u in config.uris}
    reads = subject_reads(policy, results, uris)
    out: dict[Location, tuple[SubjectRow, ...]] = {}
    local = [r for r in reads if not r.read.is_sqlite]
    for subject in local:
        try:
            out[subject.location] = read_keys(subject.read, config.sampling)
        except KeysUnreadable as exc:
            problems.append(unread(subject, str(exc)))
    files = [r for r in reads if r.read.is_sqlite]
    work = [WorkItem(-(n + 1), r.location, None, 0, None, keys=r.read) for n, r in enumerate(files)]
    by_seq = {w.seq: subject for w, subject in zip(work, files, strict=True)}
    for event in executor.run(work):
        if isinstance(event, Partial) or event.seq not in by_seq:
            continue
        subject = by_seq[event.seq]
        if event.problems or event.result is not None:
            why = event.problems[0].detail if event.problems else "the worker failed"
            problems.append(unread(subject, why))
        else:
            out[subject.location] = event.keys
    return out
