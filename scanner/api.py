"""The library's entry points, re-exported by `scanner`: check a configuration, scan, judge,
render. The CLI is a thin adapter over these; nothing here prints or reads the environment.

    from scanner import ScanConfig, scan, render, Format
    result = scan(ScanConfig(targets=["photos", "sqlite:///srv/kyc.db"]))
    print(render(result, Format.JSON))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.config import ScanConfig
from scanner.errors import ConfigError

if TYPE_CHECKING:
    from scanner.engine import ProgressCallback
    from scanner.model import Location, ScanResult
    from scanner.policy.judgement import Judgement
    from scanner.policy.loader import Policy
    from scanner.sources.keys import SubjectRow
    from scanner.state.store import StateDB


def check(config: ScanConfig) -> ScanConfig:
    """What needs the registries, checked before any work (ConfigError naming what is
    wrong): the detector ids (an empty choice becomes the default set, plug-ins included),
    the include/exclude patterns, the targets' URI schemes, the executor (its extra
    installed), and that every path target is inside the roots (`roots`, `--root`) when
    there are some."""
    from scanner import executors
    from scanner.detectors import PluginError, default_detectors, detector_ids
    from scanner.sources import check_target, is_source_uri
    from scanner.sources.globs import PathFilter
    from scanner.sources.roots import check_targets

    try:
        detectors = config.detectors or default_detectors()
        known = detector_ids()
    except PluginError as exc:
        raise ConfigError(str(exc)) from None
    unknown = [d for d in detectors if d not in known]
    if unknown:
        raise ConfigError(f"unknown detector {', '.join(unknown)} (known: {', '.join(known)})")
    try:
        PathFilter.build(config.include, config.exclude)
    except (ValueError, re.error) as exc:
        raise ConfigError(f"bad include/exclude pattern: {exc}") from None
    for uri in config.uris:
        if not is_source_uri(uri):
            scheme = uri.split("://", 1)[0]
            raise ConfigError(f"no source reads {scheme}:// targets")
        check_target(uri)
    check_targets(config.paths, config.roots)  # every path inside --root
    executors.require(executors.parse(config.executor))  # its extra installed
    return replace(config, detectors=tuple(detectors))


def scan(
    config: ScanConfig,
    *,
    judgement: Judgement | None = None,
    state: StateDB | None = None,
    progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> ScanResult:
    """Scan every target and return the result; with `judgement`, judged against it. Bad
    input never raises: it is in the result's problems (and makes it incomplete). Raises
    ConfigError for a configuration that cannot be used, PolicyErrors for a register named by
    the policy that cannot be read, before any work starts."""
    from scanner.engine import run_scan

    return run_scan(
        check(config),
        judgement=judgement,
        state=state,
        progress=progress,
        clock=clock,
    )


def load_policy(ref: str | Path) -> Policy:
    """A policy file, or a built-in pack by name (`gdpr`, `bipa`, …; `faceaudit policy
    list`); raises PolicyErrors (a FaceauditError) naming the file, line and rule of every
    problem."""
    from scanner.engine import tool_version
    from scanner.policy.loader import (
        PolicyError,
        PolicyErrors,
        builtin_packs,
        is_pack_name,
        unknown_pack,
    )
    from scanner.policy.loader import load_policy as load

    packs = builtin_packs()
    if isinstance(ref, str) and ref not in packs and is_pack_name(ref) and not Path(ref).exists():
        raise PolicyErrors([PolicyError(ref, None, None, unknown_pack(ref))])
    path = packs[ref] if isinstance(ref, str) and ref in packs else Path(ref)
    return load(path, tool_version())


def judge(
    result: ScanResult,
    judgement: Judgement,
    *,
    subjects: Mapping[Location, Sequence[SubjectRow | str]] | None = None,
) -> ScanResult:
    """Judge a scan's evidence again — at another date (`judgement.as_of`), with other
    waivers or another baseline — without scanning. Pure but for the policy's registers,
    read here. The subjects of database stores keyed by a column are read by `scan` (they
    need the databases); without them here, those stores' per-subject rules see no subject.
    A subject given as a plain id names no row (findings then list it without a row key)."""
    from scanner.model import RowKey
    from scanner.policy.facts import load_registers
    from scanner.policy.judgement import judge as judged
    from scanner.sources.keys import SubjectRow

    rows = {
        where: tuple(r if isinstance(r, SubjectRow) else SubjectRow(RowKey(), r) for r in given)
        for where, given in (subjects or {}).items()
    }
    return judged(result, judgement, load_registers(judgement.policy), rows)
