"""A test-only detector that makes two scans overlap for certain: a rendezvous.

tests/state/test_concurrency.py installs it (a `faceaudit.detectors` entry point in a
temporary site directory) for `faceaudit scan` processes. Each scans a tree holding a PDF
file that names a meeting folder and how many are to meet there:

    %PDF-1.4
    %rendezvous /tmp/meet 2

Reading it, the detector leaves `<its pid>.arrived` in the folder and waits (up to WAIT_S)
until that many have arrived; then it leaves `<its pid>.met`. So each scan is in the middle of
its run — its state database open, its cache loaded, its writes still to come — when the
others are too, whatever the machine's load. It finds no face data and changes no result.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.detectors.models import ModelSpec
from scanner.model import ContentType, EvidenceKind

WAIT_S = 60.0
LINE = re.compile(rb"%rendezvous (\S+) (\d+)")


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
        folder, count = Path(found.group(1).decode()), int(found.group(2))
        me = os.getpid()
        (folder / f"{me}.arrived").write_text("")
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end:
            if len(list(folder.glob("*.arrived"))) >= count:
                (folder / f"{me}.met").write_text("")
                return DetectorOutput(notes=((f"{self.id}.met", count),))
            time.sleep(0.02)
        return DetectorOutput(notes=((f"{self.id}.met", 0),))
