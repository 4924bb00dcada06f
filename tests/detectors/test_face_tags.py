"""`face.tags` on real files: face regions and person tags in XMP embedded by Pillow in real
photos without a face, and in sidecar files; hard negatives; hostile packets; a real scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import encode, no_face, snapshot
from PIL import Image, PngImagePlugin, features

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelCache
from scanner.detectors.face_tags import FaceTagsDetector
from scanner.model import (
    ContentType,
    Evidence,
    EvidenceKind,
    ExitCode,
    FaceBox,
    FileLocation,
    ProblemReason,
    ScanResult,
)
from scanner.sniff import HEAD_BYTES, sniff

CONTEXT = DetectContext(DetectionSettings(), Limits(), ModelCache())

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMLNS = (
    'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
    'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
    'xmlns:MP="http://ns.microsoft.com/photo/1.2/" '
    'xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#" '
    'xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#" '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:digiKam="http://www.digikam.org/ns/1.0/" '
    'xmlns:lr="http://ns.adobe.com/lightroom/1.0/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


def packet(body: str, *, xpacket: bool = True) -> bytes:
    text = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
        f'<rdf:Description rdf:about="" {XMLNS}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>'
    )
    if xpacket:
        text = (
            f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{text}\n<?xpacket end="w"?>'
        )
    return text.encode("utf-8")


def region(name: str, kind: str, x: float, y: float, w: float, h: float) -> str:
    return (
        f'<rdf:li><rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="{kind}">'
        f'<mwg-rs:Area stArea:x="{x}" stArea:y="{y}" stArea:w="{w}" stArea:h="{h}" '
        'stArea:unit="normalized"/></rdf:Description></rdf:li>'
    )


def mwg(*regions: str) -> str:
    return (
        '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>'
        + "".join(regions)
        + "</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"
    )


def bag(prop: str, *items: str) -> str:
    return f"<{prop}><rdf:Bag>{''.join(f'<rdf:li>{i}</rdf:li>' for i in items)}</rdf:Bag></{prop}>"


def digest(name: str) -> str:
    return hashlib.sha256(" ".join(name.split()).casefold().encode()).hexdigest()[:16]


JANE, JOHN = digest("Jane Doe"), digest("John Roe")
NAMES = ("Jane", "Doe", "John", "Roe", "Rex")

TWO_FACES = packet(
    mwg(
        region("Jane Doe", "Face", 0.5, 0.4, 0.2, 0.3),
        region("John Roe", "Face", 0.25, 0.25, 0.1, 0.1),
        region("Rex", "Pet", 0.8, 0.8, 0.1, 0.1),
    )
)
PEOPLE_ONLY = packet(bag("Iptc4xmpExt:PersonInImage", "Jane Doe", "John Roe"))
KEYWORDS_ONLY = packet(
    bag("digiKam:TagsList", "People/Jane  Doe", "Places/Paris")
    + bag("lr:hierarchicalSubject", "People|jane doe")
)
MS_PEOPLE = packet(
    '<MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>'
    '<rdf:li MPReg:Rectangle="0.1, 0.2, 0.3, 0.4" MPReg:PersonDisplayName="Jane Doe"/>'
    "</rdf:Bag></MPRI:Regions></MP:RegionInfo>"
)
NOT_PEOPLE = packet(
    bag("digiKam:TagsList", "Places/Paris", "Events/Wedding")
    + bag("dc:subject", "Jane Doe")
    + mwg(region("Rex", "Pet", 0.5, 0.5, 0.2, 0.2), region("AF point", "Focus", 0.5, 0.5, 0.1, 0.1))
)
ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x:xmpmeta [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">'
    b'<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    + packet(bag("Iptc4xmpExt:PersonInImage", "&e;", "&x;"), xpacket=False)
)


def png_itxt(im: Image.Image, xmp: bytes) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
    return encode(im, "PNG", pnginfo=info)


def heif(im: Image.Image, xmp: bytes) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encode(im, "HEIF", xmp=xmp, quality=50)


def avif(im: Image.Image, xmp: bytes) -> bytes:
    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF codec")
    return encode(im, "AVIF", xmp=xmp, quality=50)


WRITERS: dict[str, Callable[[Image.Image, bytes], bytes]] = {
    "jpeg": lambda im, xmp: encode(im, "JPEG", xmp=xmp),
    "png": png_itxt,
    "webp": lambda im, xmp: encode(im, "WEBP", xmp=xmp),
    "tiff": lambda im, xmp: encode(im, "TIFF", tiffinfo={700: xmp}),
    "heif": heif,
    "avif": avif,
    "sidecar": lambda im, xmp: xmp,
    "sidecar-bom": lambda im, xmp: b"\xef\xbb\xbf" + xmp,
}


def detect(data: bytes, limits: Limits | None = None) -> DetectorOutput:
    item = LoadedItem(FileLocation("test"), sniff(data[:HEAD_BYTES]), data)
    assert item.content_type in FaceTagsDetector.content_types
    ctx = CONTEXT if limits is None else DetectContext(DetectionSettings(), limits, ModelCache())
    return FaceTagsDetector().detect(item, ctx)


def assert_no_names(output: DetectorOutput) -> None:
    text = repr(output)
    for name in NAMES:
        assert name not in text, name


def test_contract() -> None:
    assert FaceTagsDetector.id == "face.tags"
    assert FaceTagsDetector.kind is EvidenceKind.FACE_TAGGED
    assert ContentType.XMP in FaceTagsDetector.content_types
    assert {ct for ct in ContentType if ct.is_image} <= FaceTagsDetector.content_types
    assert not {ct for ct in ContentType if ct.is_archive} & FaceTagsDetector.content_types


def test_tagged_jpeg_of_a_photo_without_a_face() -> None:
    """The exact evidence: counts, MWG boxes moved from centre to top-left, digests only."""
    data = encode(no_face(), "JPEG", xmp=TWO_FACES)
    assert sniff(data[:HEAD_BYTES]) is ContentType.JPEG
    out = detect(data)
    assert out.problems == ()
    assert out.notes == ()
    assert out.evidence == (
        Evidence(
            kind=EvidenceKind.FACE_TAGGED,
            detector="face.tags",
            confidence=1.0,
            faces=2,
            boxes=(
                FaceBox(0.4, 0.25, 0.2, 0.3, confidence=1.0, method="xmp-region"),
                FaceBox(0.2, 0.2, 0.1, 0.1, confidence=1.0, method="xmp-region"),
            ),
            details=(
                ("face_regions", 2),
                ("named_people", 2),
                ("person_keywords", 0),
                ("schemas", "mwg-regions"),
                ("name_digests", ",".join(sorted((JANE, JOHN)))),
            ),
        ),
    )
    assert out.evidence[0].severity.label == "medium"
    assert_no_names(out)


# (id, packet, faces, boxes, people's digests, person_keywords, schemas, confidence)
POSITIVES: list[tuple[str, bytes, int, int, set[str], int, str, float]] = [
    ("mwg-regions", TWO_FACES, 2, 2, {JANE, JOHN}, 0, "mwg-regions", 1.0),
    ("microsoft-people", MS_PEOPLE, 1, 1, {JANE}, 0, "microsoft-people", 1.0),
    ("iptc-person-in-image", PEOPLE_ONLY, 2, 0, {JANE, JOHN}, 0, "iptc-person-in-image", 0.8),
    ("person-keywords", KEYWORDS_ONLY, 1, 0, {JANE}, 2, "digikam-tags,lightroom-keywords", 0.8),
]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize(
    ("xmp", "faces", "boxes", "people", "keywords", "schemas", "confidence"),
    [p[1:] for p in POSITIVES],
    ids=[p[0] for p in POSITIVES],
)
def test_positive(
    writer: str,
    xmp: bytes,
    faces: int,
    boxes: int,
    people: set[str],
    keywords: int,
    schemas: str,
    confidence: float,
) -> None:
    data = WRITERS[writer](no_face("chelsea.png"), xmp)
    out = detect(data)
    assert out.problems == ()
    (evidence,) = out.evidence
    assert (evidence.kind, evidence.detector) == (EvidenceKind.FACE_TAGGED, "face.tags")
    assert evidence.faces == faces
    assert len(evidence.boxes) == boxes
    assert all(b.method == "xmp-region" for b in evidence.boxes)
    assert evidence.confidence == confidence
    assert evidence.detail("named_people") == len(people)
    assert evidence.detail("person_keywords") == keywords
    assert evidence.detail("schemas") == schemas
    assert evidence.detail("name_digests") == ",".join(sorted(people))
    assert_no_names(out)


def test_sidecar_is_sniffed_as_xmp() -> None:
    for data in (TWO_FACES, b"\xef\xbb\xbf" + TWO_FACES, packet("", xpacket=False)):
        assert sniff(data[:HEAD_BYTES]) is ContentType.XMP


NEGATIVES: list[tuple[str, Callable[[], bytes]]] = [
    ("plain-jpeg", lambda: encode(no_face(), "JPEG")),
    ("plain-png", lambda: encode(no_face(), "PNG")),
    ("jpeg-with-exif-only", lambda: encode(no_face(), "JPEG", exif=Image.Exif())),
    ("jpeg-with-untagged-xmp", lambda: encode(no_face(), "JPEG", xmp=packet(""))),
    ("jpeg-pets-places-subjects", lambda: encode(no_face(), "JPEG", xmp=NOT_PEOPLE)),
    ("sidecar-without-people", lambda: NOT_PEOPLE),
    ("sidecar-empty-description", lambda: packet("")),
    # A name in the *pixels* is not a tag: text drawn on the photo is never read.
    ("jpeg-with-a-name-in-a-comment", lambda: encode(no_face(), "JPEG", comment=b"Jane Doe")),
]


@pytest.mark.parametrize("make", [n[1] for n in NEGATIVES], ids=[n[0] for n in NEGATIVES])
def test_hard_negative(make: Callable[[], bytes]) -> None:
    assert detect(make()) == DetectorOutput()


@pytest.mark.parametrize(
    "make",
    [
        lambda: ENTITY_BOMB,
        lambda: encode(no_face(), "JPEG", xmp=ENTITY_BOMB.split(b"]>\n", 1)[1]),
        lambda: encode(no_face(), "JPEG", xmp=packet("<dc:subject><rdf:Bag>")),
        lambda: TWO_FACES[: TWO_FACES.index(b"</rdf:RDF>")],
    ],
    ids=["entity-bomb-sidecar", "undefined-entities-in-jpeg", "malformed-in-jpeg", "unterminated"],
)
def test_unreadable_packet_is_a_decode_error(make: Callable[[], bytes]) -> None:
    out = detect(make())
    assert out.evidence == ()
    assert out.problems == (
        (
            ProblemReason.DECODE_ERROR,
            "1 XMP packet(s) could not be parsed (malformed, unterminated or over the "
            f"{Limits().xmp_max_bytes} byte limit, or refused as an entity/DTD construct)",
        ),
    )
    assert "root:" not in repr(out)  # /etc/passwd was never read


def test_packet_over_the_limit_is_reported_not_skipped() -> None:
    data = encode(no_face(), "JPEG", xmp=TWO_FACES)
    size = TWO_FACES.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>") - TWO_FACES.index(b"<x:xmpmeta")
    assert detect(data, Limits(xmp_max_bytes=size)).evidence[0].faces == 2
    out = detect(data, Limits(xmp_max_bytes=size - 1))
    assert out.evidence == ()
    assert out.problems[0][0] is ProblemReason.DECODE_ERROR
    assert f"over the {size - 1} byte limit" in out.problems[0][1]


def test_unreadable_packet_next_to_tags_still_gives_evidence() -> None:
    """Evidence found is reported; the unreadable packet does not turn it into a failure."""
    data = TWO_FACES + b"\n" + packet("<broken>")
    out = detect(data)
    assert out.problems == ()
    assert out.evidence[0].faces == 2


# --- end to end ----------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 1])
def test_scan_reports_tagged_photo_and_sidecar(
    tmp_path: Path, scan: Callable[..., ScanResult], workers: int
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "tagged.jpg").write_bytes(encode(no_face(), "JPEG", xmp=TWO_FACES))
    (root / "IMG_0001.CR2.xmp").write_bytes(PEOPLE_ONLY)
    (root / "untagged.jpg").write_bytes(encode(no_face("chelsea.png"), "JPEG"))
    (root / "places.xmp").write_bytes(NOT_PEOPLE)
    before = snapshot(root)

    result = scan(root, workers=workers)

    assert snapshot(root) == before
    by_name = {i.location.path.rsplit("/", 1)[-1]: i for i in result.items}
    assert sorted(by_name) == ["IMG_0001.CR2.xmp", "tagged.jpg"]
    photo, sidecar = by_name["tagged.jpg"], by_name["IMG_0001.CR2.xmp"]
    assert photo.content_type is ContentType.JPEG
    assert sidecar.content_type is ContentType.XMP
    assert [e.kind.value for e in photo.evidence] == ["face_tagged"]
    assert [e.kind.value for e in sidecar.evidence] == ["face_tagged"]
    assert photo.evidence[0].faces == 2
    assert sidecar.evidence[0].faces == 2
    assert photo.evidence[0].detail("name_digests") == ",".join(sorted((JANE, JOHN)))
    assert result.problems == ()
    assert result.exit_code is ExitCode.FINDINGS  # findings, and the scan is complete
    for name in NAMES:
        assert name not in repr(result)


# --- boxes stay inside the image -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        ((0.5, 0.4, 0.2, 0.3), FaceBox(0.4, 0.25, 0.2, 0.3, 1.0, "xmp-region")),
        ((0.05, 0.5, 0.2, 0.2), FaceBox(0.0, 0.4, 0.15, 0.2, 1.0, "xmp-region")),  # left edge
        ((0.98, 0.99, 0.1, 0.1), FaceBox(0.93, 0.94, 0.07, 0.06, 1.0, "xmp-region")),
        ((0.5, 0.5, 3.0, 3.0), FaceBox(0.0, 0.0, 1.0, 1.0, 1.0, "xmp-region")),
        ((1.5, 0.5, 0.1, 0.1), FaceBox(1.0, 0.45, 0.0, 0.1, 1.0, "xmp-region")),  # outside
        ((0.5, 0.5, -0.2, 0.2), FaceBox(0.6, 0.4, 0.0, 0.2, 1.0, "xmp-region")),  # x - w/2
    ],
    ids=["inside", "left-edge", "bottom-right-edge", "larger-than-image", "outside", "negative"],
)
def test_tagged_areas_are_clipped_to_the_image(
    area: tuple[float, float, float, float], expected: FaceBox
) -> None:
    xmp = packet(mwg(region("Jane Doe", "Face", *area)))
    (evidence,) = detect(encode(no_face(), "JPEG", xmp=xmp)).evidence
    assert evidence.boxes == (expected,)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_area_is_a_face_without_a_box(value: str) -> None:
    xmp = packet(mwg(region("Jane Doe", "Face", 0.5, 0.5, 0.2, 0.2)).replace('"0.5"', f'"{value}"'))
    out = detect(encode(no_face(), "JPEG", xmp=xmp))
    (evidence,) = out.evidence
    assert (evidence.faces, evidence.boxes) == (1, ())
    assert "nan" not in repr(out).lower().replace("named_people", "")
