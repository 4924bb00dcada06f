"""A site directory that test-only plug-in distributions are installed into, as pip would
(`*.dist-info` with METADATA and entry_points.txt, the modules beside it), on the path of
the test process and of the processes it starts (workers, the CLI)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Site:
    path: Path
    modules: dict[str, str] = field(default_factory=dict)  # name -> source, by default

    def install(
        self,
        dist: str,
        entry_points: dict[str, str],
        modules: dict[str, str] | None = None,
        group: str = "faceaudit.detectors",
    ) -> None:
        for name, source in (modules or self.modules).items():
            (self.path / f"{name}.py").write_text(source)
        info = self.path / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        points = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{group}]\n{points}")
        (info / "RECORD").write_text("")
        importlib.invalidate_caches()


def installed_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: dict[str, str]
) -> Iterator[Site]:
    path = tmp_path / "site-packages"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    inherited = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(path), inherited) if p))
    yield Site(path, modules)
    for name in [m for m in sys.modules if m.startswith("faceaudit_")]:
        del sys.modules[name]
    importlib.invalidate_caches()
