"""The public library: what `scanner` exports, that docs/library.md's examples run as written,
that importing it costs nothing, and that every error the package raises is a FaceauditError."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import astronaut, encode

import scanner
from scanner.errors import FaceauditError

DOCS = Path(__file__).resolve().parents[1] / "docs"
PACKAGE = Path(scanner.__file__).resolve().parent


def test_every_export_resolves_and_all_lists_them() -> None:
    assert scanner.__all__ == sorted(scanner._EXPORTS)
    for name in scanner.__all__:
        assert getattr(scanner, name) is not None, name
    with pytest.raises(AttributeError):
        _ = scanner.run_scan  # an internal name is not part of the library


def test_importing_the_library_imports_nothing_heavy() -> None:
    code = (
        "import sys, scanner\n"
        "heavy = [m for m in ('numpy', 'PIL', 'pydantic', 'scanner.engine', 'psycopg')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def _examples() -> list[str]:
    text = (DOCS / "library.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_the_library_page_has_examples() -> None:
    assert len(_examples()) == 3


@pytest.mark.parametrize("index", range(3))
def test_the_library_examples_run_as_written(tmp_path: Path, index: int) -> None:
    """Each example runs as it is written, in a folder holding a `photos` folder with a face
    (the SQLite database it names does not exist: a problem in the result, not an error)."""
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "badge.jpg").write_bytes(encode(astronaut(), "JPEG"))
    proc = subprocess.run(
        [sys.executable, "-c", _examples()[index]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    if index == 0:  # a face photo in no declared store: a finding; the missing database
        assert "high FA-UNDECLARED-STORE photos/badge.jpg" in proc.stdout
        assert proc.stdout.rstrip().endswith("INCOMPLETE")  # makes the scan incomplete
    elif index == 1:  # a scan with a state database of its own, shared with other runs
        assert (tmp_path / "share.db").is_file()
        assert proc.stdout.startswith("1 items,")
    else:
        assert "unknown detector face.magic" in proc.stdout


def test_scan_checks_its_configuration_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(scanner.ConfigError, match="unknown detector"):
        scanner.scan(scanner.ScanConfig(targets=[str(tmp_path)], detectors=("nope",)))
    with pytest.raises(scanner.ConfigError, match="include/exclude"):
        scanner.scan(scanner.ScanConfig(targets=[str(tmp_path)], exclude=("[z-a]",)))
    with pytest.raises(scanner.ConfigError, match=r"no source reads ftp://"):
        scanner.scan(scanner.ScanConfig(targets=["ftp://host/share"]))
    with pytest.raises(scanner.ConfigError, match=r"limits\.max_file_bytes"):
        scanner.Limits(max_file_bytes=0)
    with pytest.raises(scanner.ConfigError, match=r"detection\.embedding_threshold"):
        scanner.DetectionSettings(embedding_threshold=2.0)
    with pytest.raises(scanner.ConfigError, match="workers"):
        scanner.ScanConfig(targets=[], workers=-1)
    with pytest.raises(scanner.ConfigError, match="one string"):
        scanner.ScanConfig(targets="photos")  # type: ignore[arg-type]


def test_judge_again_at_another_date(tmp_path: Path) -> None:
    """A result judged later without scanning: the same findings, evaluated at the new date."""
    from datetime import datetime, timezone

    (tmp_path / "badge.jpg").write_bytes(encode(astronaut(), "JPEG"))
    policy = scanner.load_policy("gdpr")
    config = scanner.ScanConfig(targets=[str(tmp_path)], workers=0)
    first = scanner.scan(config, judgement=scanner.Judgement(policy))
    later = datetime(2040, 1, 1, tzinfo=timezone.utc)
    again = scanner.judge(first, scanner.Judgement(policy, as_of=later))
    assert again.policy is not None and again.policy.evaluated_at == later
    assert {f.rule_id for f in again.findings} >= {f.rule_id for f in first.findings}


def _exception_classes() -> list[tuple[str, str, list[str]]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if any(b.endswith(("Exception", "Error")) for b in bases) or node.name.endswith(
                    "Error"
                ):
                    found.append((str(path.relative_to(PACKAGE)), node.name, bases))
    return found


def test_every_error_of_the_library_is_a_faceaudit_error() -> None:
    """Every exception class the package defines derives from FaceauditError (directly, or
    through another of the package's errors)."""
    import importlib

    assert len(_exception_classes()) > 20
    for rel, name, _ in _exception_classes():
        module = importlib.import_module("scanner." + rel.removesuffix(".py").replace("/", "."))
        cls = getattr(module, name)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            assert issubclass(cls, FaceauditError), f"{rel}: {name}"
