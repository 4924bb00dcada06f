"""faceaudit: find stored face images and face templates, judge them against retention and
legal-basis policies, and report them.

The library, which the `faceaudit` command is a thin adapter over (docs/library.md):

    from scanner import ScanConfig, scan, render, Format

    result = scan(ScanConfig(targets=["photos", "sqlite:///srv/kyc.db"]))
    print(render(result, Format.JSON))

Every name below is imported on first use, so `import scanner` (and `faceaudit --help`)
stays instant. Every error the library raises derives from `FaceauditError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_EXPORTS = {
    # entry points
    "scan": "scanner.api",
    "check": "scanner.api",
    "judge": "scanner.api",
    "render": "scanner.reporters",
    "Format": "scanner.reporters",
    # configuration
    "ScanConfig": "scanner.config",
    "Limits": "scanner.config",
    "DetectionSettings": "scanner.config",
    "SampleLimits": "scanner.config",
    # judgement
    "Judgement": "scanner.policy.judgement",
    "load_policy": "scanner.api",
    "load_waivers": "scanner.policy.gate",
    "load_baseline": "scanner.policy.gate",
    # results
    "ScanResult": "scanner.model",
    "ItemResult": "scanner.model",
    "Evidence": "scanner.model",
    "EvidenceKind": "scanner.model",
    "FaceBox": "scanner.model",
    "Finding": "scanner.model",
    "Disposition": "scanner.model",
    "Problem": "scanner.model",
    "ProblemReason": "scanner.model",
    "Severity": "scanner.model",
    "ExitCode": "scanner.model",
    "Location": "scanner.model",
    "FileLocation": "scanner.model",
    "MemberLocation": "scanner.model",
    "DatabaseLocation": "scanner.model",
    "DatabaseRef": "scanner.model",
    "ObjectLocation": "scanner.model",
    "ScanLocation": "scanner.model",
    # errors
    "FaceauditError": "scanner.errors",
    "ConfigError": "scanner.errors",
    "PolicyErrors": "scanner.policy.loader",
}

__all__ = [
    "ConfigError",
    "DatabaseLocation",
    "DatabaseRef",
    "DetectionSettings",
    "Disposition",
    "Evidence",
    "EvidenceKind",
    "ExitCode",
    "FaceBox",
    "FaceauditError",
    "FileLocation",
    "Finding",
    "Format",
    "ItemResult",
    "Judgement",
    "Limits",
    "Location",
    "MemberLocation",
    "ObjectLocation",
    "PolicyErrors",
    "Problem",
    "ProblemReason",
    "SampleLimits",
    "ScanConfig",
    "ScanLocation",
    "ScanResult",
    "Severity",
    "check",
    "judge",
    "load_baseline",
    "load_policy",
    "load_waivers",
    "render",
    "scan",
]  # the same names as _EXPORTS (a test checks it)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scanner' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from scanner.api import check, judge, load_policy, scan
    from scanner.config import DetectionSettings, Limits, SampleLimits, ScanConfig
    from scanner.errors import ConfigError, FaceauditError
    from scanner.model import (
        DatabaseLocation,
        DatabaseRef,
        Disposition,
        Evidence,
        EvidenceKind,
        ExitCode,
        FaceBox,
        FileLocation,
        Finding,
        ItemResult,
        Location,
        MemberLocation,
        ObjectLocation,
        Problem,
        ProblemReason,
        ScanLocation,
        ScanResult,
        Severity,
    )
    from scanner.policy.gate import load_baseline, load_waivers
    from scanner.policy.judgement import Judgement
    from scanner.policy.loader import PolicyErrors
    from scanner.reporters import Format, render
