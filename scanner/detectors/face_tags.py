"""`face.tags`: face regions and person tags in XMP (embedded or in a sidecar file).

A photo manager that stored "this region is a face" or "this is Jane" has already processed
the image for identification: that metadata is evidence on its own (kind `face_tagged`),
even when the pixels are too small or too poor for a detector.
"""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import (
    IMAGE_TYPES,
    DetectContext,
    DetectorOutput,
    LoadedItem,
    ModelSpec,
)
from scanner.faces import xmp
from scanner.faces.geometry import RelBox
from scanner.model import ContentType, Evidence, EvidenceKind, FaceBox, ProblemReason


class FaceTagsDetector:
    id: ClassVar[str] = "face.tags"
    cost: ClassVar[int] = 1
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_TAGGED
    content_types: ClassVar[frozenset[ContentType]] = IMAGE_TYPES | {ContentType.XMP}
    description: ClassVar[str] = (
        "Face regions and person tags in XMP: MWG regions, Microsoft People, ACDSee, IPTC "
        "PersonInImage, digiKam/Lightroom/Windows person keywords (names hashed)"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()  # XMP is read from the bytes, never decoded
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        tags = xmp.read_face_tags(item.data, ctx.limits.xmp_max_bytes)
        problems: tuple[tuple[ProblemReason, str], ...] = ()
        if tags.unreadable_packets and not tags.any:
            problems = (
                (
                    ProblemReason.DECODE_ERROR,
                    f"{tags.unreadable_packets} XMP packet(s) could not be parsed "
                    "(malformed, unterminated or over the "
                    f"{ctx.limits.xmp_max_bytes} byte limit, or refused as an entity/DTD "
                    "construct)",
                ),
            )
        if not tags.any:
            return DetectorOutput(problems=problems)
        faces = tags.face_regions or len(tags.name_digests)
        # Tagged areas are taken as written, so clip them to the image (0..1) like face.yunet.
        clipped = (RelBox(r.x, r.y, r.w, r.h).clipped() for r in tags.regions)
        boxes = tuple(
            FaceBox(
                x=round(b.x, 4),
                y=round(b.y, 4),
                w=round(b.w, 4),
                h=round(b.h, 4),
                confidence=1.0,
                method="xmp-region",
            )
            for b in clipped
        )
        evidence = Evidence(
            kind=EvidenceKind.FACE_TAGGED,
            detector=self.id,
            confidence=1.0 if tags.face_regions else 0.8,
            faces=faces,
            boxes=boxes,
            details=(
                ("face_regions", tags.face_regions),
                ("named_people", len(tags.name_digests)),
                ("person_keywords", tags.person_keywords),
                ("schemas", ",".join(tags.schemas)),
                ("name_digests", ",".join(tags.name_digests)),
            ),
        )
        return DetectorOutput((evidence,), problems=problems)
