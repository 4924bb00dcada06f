"""A test-only detector that makes two scans overlap for certain: a rendezvous.

tests/state/test_concurrency.py installs it (a `faceaudit.detectors` entry point in a
temporary site directory) for two `faceaudit scan` processes. Each scans a tree holding one
PDF file that names a meeting folder, the scan's own name and the other's:

    %PDF-1.4
    %rendezvous /tmp/meet a b

Reading it, the detector leaves `a.arrived` in the folder and waits (up to WAIT_S) for
`b.arrived`; when it comes it leaves `a.met`. So each scan is in the middle of its run — its
state database open, its cache loaded, its writes still to come — when the other is too,
whatever the machine's load. It finds no face data and changes no result.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.detectors.models import ModelSpec
from scanner.model import ContentType, EvidenceKind

WAIT_S = 60.0
LINE = re.compile(rb"%rendezvous (\S+) (\S+) (\S+)")


class Rendezvous:
    id: ClassVar[str] = "test.rendezvous"
    cost: ClassVar[int] = 10
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_TAGGED
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PDF})
    description: ClassVar[str] = "Test plug-in: waits in a scan until another scan arrives"
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        found = LINE.search(item.data)
        if found is None:
            return DetectorOutput()
        folder, me, other = (Path(g.decode()) for g in found.groups())
        (folder / f"{me}.arrived").write_text("")
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end:
            if (folder / f"{other}.arrived").exists():
                (folder / f"{me}.met").write_text("")
                return DetectorOutput(notes=((f"{self.id}.met", str(other)),))
            time.sleep(0.02)
        return DetectorOutput(notes=((f"{self.id}.met", ""),))
