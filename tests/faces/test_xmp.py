"""XMP face tags: every schema in both RDF serialisations, names only as digests, hostile XML,
and packets embedded in real JPEG, PNG, WebP and TIFF files written by Pillow.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time

import pytest
from helpers import encode, no_face
from PIL import Image, PngImagePlugin

from scanner.faces.xmp import FaceTags, Region, name_digest, read_face_tags

MAX = 4 << 20

NAMESPACES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "MP": "http://ns.microsoft.com/photo/1.2/",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "acdsee-rs": "http://ns.acdsee.com/regions/",
    "acdsee-stArea": "http://ns.acdsee.com/sType/Area#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "MicrosoftPhoto": "http://ns.microsoft.com/photo/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def packet(body: str, *, xpacket: bool = False) -> bytes:
    """One XMP packet: `body` is the content of an rdf:Description with every namespace."""
    xmlns = " ".join(f'xmlns:{p}="{u}"' for p, u in NAMESPACES.items() if p != "rdf")
    text = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="test">'
        f'<rdf:RDF xmlns:rdf="{NAMESPACES["rdf"]}">'
        f'<rdf:Description rdf:about="" {xmlns}>{body}</rdf:Description>'
        "</rdf:RDF></x:xmpmeta>"
    )
    if xpacket:
        text = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            + text
            + '\n<?xpacket end="w"?>'
        )
    return text.encode("utf-8")


def digest(name: str) -> str:
    """Independent of the code under test: sha256 of the case-folded, space-collapsed name."""
    return hashlib.sha256(" ".join(name.split()).casefold().encode()).hexdigest()[:16]


JANE, JOHN = digest("Jane Doe"), digest("John Roe")

# --- the schemas -----------------------------------------------------------------------------

MWG_ATTRIBUTES = """
<mwg-rs:Regions rdf:parseType="Resource">
 <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
 <mwg-rs:RegionList><rdf:Bag>
  <rdf:li><rdf:Description mwg-rs:Name="Jane Doe" mwg-rs:Type="Face">
   <mwg-rs:Area stArea:x="0.5" stArea:y="0.4" stArea:w="0.2" stArea:h="0.3"
    stArea:unit="normalized"/>
  </rdf:Description></rdf:li>
  <rdf:li><rdf:Description mwg-rs:Name="John Roe" mwg-rs:Type="Face">
   <mwg-rs:Area stArea:x="0.25" stArea:y="0.25" stArea:w="0.1" stArea:h="0.1"
    stArea:unit="normalized"/>
  </rdf:Description></rdf:li>
  <rdf:li><rdf:Description mwg-rs:Name="Rex" mwg-rs:Type="Pet">
   <mwg-rs:Area stArea:x="0.8" stArea:y="0.8" stArea:w="0.1" stArea:h="0.1"
    stArea:unit="normalized"/>
  </rdf:Description></rdf:li>
 </rdf:Bag></mwg-rs:RegionList>
</mwg-rs:Regions>
"""

MWG_ELEMENTS = """
<mwg-rs:Regions rdf:parseType="Resource">
 <mwg-rs:RegionList><rdf:Bag>
  <rdf:li rdf:parseType="Resource">
   <mwg-rs:Area rdf:parseType="Resource">
    <stArea:x>0.5</stArea:x><stArea:y>0.4</stArea:y><stArea:w>0.2</stArea:w>
    <stArea:h>0.3</stArea:h><stArea:unit>normalized</stArea:unit>
   </mwg-rs:Area>
   <mwg-rs:Name>Jane Doe</mwg-rs:Name>
   <mwg-rs:Type>Face</mwg-rs:Type>
  </rdf:li>
  <rdf:li rdf:parseType="Resource">
   <mwg-rs:Area rdf:parseType="Resource">
    <stArea:x>0.1</stArea:x><stArea:y>0.1</stArea:y><stArea:w>0.1</stArea:w>
    <stArea:h>0.1</stArea:h><stArea:unit>normalized</stArea:unit>
   </mwg-rs:Area>
   <mwg-rs:Type>Pet</mwg-rs:Type>
  </rdf:li>
 </rdf:Bag></mwg-rs:RegionList>
</mwg-rs:Regions>
"""

# The same region with the Area struct as a nested rdf:Description (valid RDF/XML).
MWG_NESTED_DESCRIPTION = """
<mwg-rs:Regions><rdf:Description>
 <mwg-rs:RegionList><rdf:Bag>
  <rdf:li><rdf:Description>
   <mwg-rs:Type>Face</mwg-rs:Type>
   <mwg-rs:Name><rdf:Alt><rdf:li xml:lang="x-default">Jane Doe</rdf:li></rdf:Alt></mwg-rs:Name>
   <mwg-rs:Area><rdf:Description stArea:x="0.5" stArea:y="0.4" stArea:w="0.2"
     stArea:h="0.3" stArea:unit="normalized"/></mwg-rs:Area>
  </rdf:Description></rdf:li>
 </rdf:Bag></mwg-rs:RegionList>
</rdf:Description></mwg-rs:Regions>
"""

MWG_PIXEL_UNIT = """
<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
 <rdf:li mwg-rs:Type="face"><mwg-rs:Area stArea:x="200" stArea:y="100" stArea:w="40"
   stArea:h="40" stArea:unit="pixel"/></rdf:li>
</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
"""

MICROSOFT = """
<MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
 <rdf:li rdf:parseType="Resource">
  <MPReg:Rectangle>0.1, 0.2, 0.3, 0.4</MPReg:Rectangle>
  <MPReg:PersonDisplayName>Jane Doe</MPReg:PersonDisplayName>
 </rdf:li>
 <rdf:li MPReg:Rectangle="0.5,0.5,0.25,0.25" MPReg:PersonDisplayName="John Roe"/>
</rdf:Bag></MPRI:Regions></MP:RegionInfo>
"""

ACDSEE = """
<acdsee-rs:Regions rdf:parseType="Resource"><acdsee-rs:RegionList><rdf:Bag>
 <rdf:li><rdf:Description acdsee-rs:Type="Face" acdsee-rs:Name="Jane Doe"
   acdsee-rs:NameAssignType="manual">
  <acdsee-rs:DLYArea acdsee-stArea:x="0.5" acdsee-stArea:y="0.4" acdsee-stArea:w="0.2"
    acdsee-stArea:h="0.3"/>
 </rdf:Description></rdf:li>
 <rdf:li><rdf:Description acdsee-rs:Type="Barcode" acdsee-rs:Name="ISBN"/></rdf:li>
</rdf:Bag></acdsee-rs:RegionList></acdsee-rs:Regions>
"""

IPTC_PERSON = """
<Iptc4xmpExt:PersonInImage><rdf:Bag>
 <rdf:li>Jane Doe</rdf:li><rdf:li>John Roe</rdf:li><rdf:li>  </rdf:li>
</rdf:Bag></Iptc4xmpExt:PersonInImage>
"""


def iptc_region(kind: str) -> str:
    return f"""
 <rdf:li rdf:parseType="Resource">
  <Iptc4xmpExt:RegionBoundary rdf:parseType="Resource">
   <Iptc4xmpExt:rbShape>rectangle</Iptc4xmpExt:rbShape>
   <Iptc4xmpExt:rbUnit>relative</Iptc4xmpExt:rbUnit>
   <Iptc4xmpExt:rbX>0.1</Iptc4xmpExt:rbX><Iptc4xmpExt:rbY>0.2</Iptc4xmpExt:rbY>
   <Iptc4xmpExt:rbW>0.3</Iptc4xmpExt:rbW><Iptc4xmpExt:rbH>0.4</Iptc4xmpExt:rbH>
  </Iptc4xmpExt:RegionBoundary>
  <Iptc4xmpExt:RCtype><rdf:Bag><rdf:li rdf:parseType="Resource">
   <Iptc4xmpExt:Name><rdf:Alt><rdf:li xml:lang="x-default">{kind}</rdf:li></rdf:Alt>
   </Iptc4xmpExt:Name>
   <xmp:Identifier><rdf:Bag>
    <rdf:li>http://cv.iptc.org/newscodes/imageregiontype/{kind.lower()}</rdf:li>
   </rdf:Bag></xmp:Identifier>
  </rdf:li></rdf:Bag></Iptc4xmpExt:RCtype>
 </rdf:li>"""


IPTC_REGIONS = (
    "<Iptc4xmpExt:ImageRegion><rdf:Bag>"
    + iptc_region("Human")
    + iptc_region("Animal")
    + iptc_region("Human")
    + "</rdf:Bag></Iptc4xmpExt:ImageRegion>"
)


def keywords(ns: str, prop: str, container: str, *items: str) -> str:
    lis = "".join(f"<rdf:li>{i}</rdf:li>" for i in items)
    return f"<{ns}:{prop}><rdf:{container}>{lis}</rdf:{container}></{ns}:{prop}>"


DIGIKAM = keywords(
    "digiKam", "TagsList", "Seq", "People/Jane Doe", "Places/Paris", "People", "Events/People"
)
LIGHTROOM = keywords(
    "lr", "hierarchicalSubject", "Bag", "People|Jane Doe", "Places|Paris", "People|John Roe"
)
MS_KEYWORDS = keywords("MicrosoftPhoto", "LastKeywordXMP", "Bag", "People/Jane Doe", "Paris")
NOT_PEOPLE = keywords(
    "digiKam", "TagsList", "Seq", "Places/Paris", "Peoples Park/Bench", "Things/People"
) + keywords("dc", "subject", "Bag", "People/Jane Doe")  # dc:subject is flat: not read

R = Region


def boxes(regions: tuple[Region, ...]) -> list[tuple[float, ...]]:
    return [tuple(round(v, 9) for v in (r.x, r.y, r.w, r.h)) for r in regions]


# (id, body, face_regions, regions, name digests, person_keywords, schemas)
SCHEMAS: list[tuple[str, str, int, tuple[Region, ...], set[str], int, tuple[str, ...]]] = [
    (
        "mwg-attributes",
        MWG_ATTRIBUTES,
        2,
        (R(0.4, 0.25, 0.2, 0.3), R(0.2, 0.2, 0.1, 0.1)),  # centre -> top-left
        {JANE, JOHN},
        0,
        ("mwg-regions",),
    ),
    ("mwg-elements", MWG_ELEMENTS, 1, (R(0.4, 0.25, 0.2, 0.3),), {JANE}, 0, ("mwg-regions",)),
    (
        "mwg-nested-description",
        MWG_NESTED_DESCRIPTION,
        1,
        (R(0.4, 0.25, 0.2, 0.3),),
        {JANE},
        0,
        ("mwg-regions",),
    ),
    ("mwg-pixel-unit-no-box", MWG_PIXEL_UNIT, 1, (), set(), 0, ("mwg-regions",)),
    (
        "microsoft-people",
        MICROSOFT,
        2,
        (R(0.1, 0.2, 0.3, 0.4), R(0.5, 0.5, 0.25, 0.25)),
        {JANE, JOHN},
        0,
        ("microsoft-people",),
    ),
    ("acdsee", ACDSEE, 1, (), {JANE}, 0, ("acdsee-regions",)),
    ("iptc-person-in-image", IPTC_PERSON, 0, (), {JANE, JOHN}, 0, ("iptc-person-in-image",)),
    ("iptc-region-human", IPTC_REGIONS, 2, (), set(), 0, ("iptc-regions",)),
    ("digikam-tags", DIGIKAM, 0, (), {JANE}, 1, ("digikam-tags",)),
    ("lightroom-hierarchical", LIGHTROOM, 0, (), {JANE, JOHN}, 2, ("lightroom-keywords",)),
    ("microsoft-last-keyword", MS_KEYWORDS, 0, (), {JANE}, 1, ("microsoft-keywords",)),
    (
        "everything-at-once",
        MWG_ATTRIBUTES + IPTC_PERSON + DIGIKAM + LIGHTROOM,
        2,
        (R(0.4, 0.25, 0.2, 0.3), R(0.2, 0.2, 0.1, 0.1)),
        {JANE, JOHN},
        3,
        ("digikam-tags", "iptc-person-in-image", "lightroom-keywords", "mwg-regions"),
    ),
]


@pytest.mark.parametrize(
    ("body", "faces", "regions", "names", "person_keywords", "schemas"),
    [s[1:] for s in SCHEMAS],
    ids=[s[0] for s in SCHEMAS],
)
def test_schema(
    body: str,
    faces: int,
    regions: tuple[Region, ...],
    names: set[str],
    person_keywords: int,
    schemas: tuple[str, ...],
) -> None:
    tags = read_face_tags(packet(body, xpacket=True), MAX)
    assert tags.face_regions == faces
    assert boxes(tags.regions) == boxes(regions)
    assert set(tags.name_digests) == names
    assert list(tags.name_digests) == sorted(names)
    assert tags.person_keywords == person_keywords
    assert tags.schemas == schemas
    assert (tags.packets, tags.unreadable_packets) == (1, 0)
    assert tags.any
    for name in ("Jane", "Doe", "John", "Roe", "Rex"):
        assert name not in repr(tags)


NEGATIVES: list[tuple[str, str]] = [
    ("empty-description", ""),
    ("not-people-keywords", NOT_PEOPLE),
    (
        "mwg-only-pets-and-focus",
        MWG_ELEMENTS.replace("<mwg-rs:Type>Face</mwg-rs:Type>", "<mwg-rs:Type>Focus</mwg-rs:Type>"),
    ),
    ("mwg-untyped-region", MWG_ATTRIBUTES.replace('mwg-rs:Type="Face"', "")),
    ("acdsee-barcode-only", ACDSEE.replace('acdsee-rs:Type="Face"', 'acdsee-rs:Type="Pet"')),
    (
        "iptc-region-animal-only",
        "<Iptc4xmpExt:ImageRegion><rdf:Bag>"
        + iptc_region("Animal")
        + "</rdf:Bag></Iptc4xmpExt:ImageRegion>",
    ),
    ("iptc-person-empty", "<Iptc4xmpExt:PersonInImage><rdf:Bag/></Iptc4xmpExt:PersonInImage>"),
    ("people-root-without-leaf", keywords("digiKam", "TagsList", "Seq", "People/", "People|")),
    (
        "names-in-plain-description",
        "<dc:creator><rdf:Seq><rdf:li>Jane Doe</rdf:li></rdf:Seq></dc:creator>"
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Jane Doe at the beach</rdf:li>'
        "</rdf:Alt></dc:title>",
    ),
]


@pytest.mark.parametrize("body", [n[1] for n in NEGATIVES], ids=[n[0] for n in NEGATIVES])
def test_hard_negative(body: str) -> None:
    tags = read_face_tags(packet(body), MAX)
    assert tags == FaceTags(0, (), (), 0, (), 1, 0)
    assert not tags.any


def test_no_packet_at_all() -> None:
    assert read_face_tags(encode(no_face(), "JPEG"), MAX) == FaceTags(0, (), (), 0, (), 0, 0)
    assert read_face_tags(b"", MAX) == FaceTags(0, (), (), 0, (), 0, 0)


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jane  Doe", "jane doe"),
        ("JANE DOE", " Jane\tDoe\n"),
        ("Straße", "STRASSE"),  # casefold, not lower
    ],
)
def test_name_digest_normalises(a: str, b: str) -> None:
    assert name_digest(a) == name_digest(b) == digest(b)
    assert len(name_digest(a)) == 16
    assert int(name_digest(a), 16) >= 0  # hexadecimal


def test_name_digest_tells_people_apart() -> None:
    assert name_digest("Jane Doe") != name_digest("Jane Roe")
    # Pinned: digests correlate people across scans and reports, so they never change.
    assert name_digest("Jane Doe") == "ed37d99b1445238a"


def test_same_person_from_several_schemas_is_one_digest() -> None:
    body = (
        MWG_ELEMENTS.replace("Jane Doe", "Jane  Doe")
        + keywords("digiKam", "TagsList", "Seq", "People/jane doe")
        + keywords("lr", "hierarchicalSubject", "Bag", "People|JANE DOE")
        + "<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Jane Doe</rdf:li></rdf:Bag>"
        "</Iptc4xmpExt:PersonInImage>"
    )
    tags = read_face_tags(packet(body), MAX)
    assert tags.name_digests == (JANE,)
    assert (tags.face_regions, tags.person_keywords) == (1, 2)


def test_nested_person_keywords_use_the_leaf() -> None:
    body = keywords("lr", "hierarchicalSubject", "Bag", "People|Family|Jane Doe")
    body += keywords("digiKam", "TagsList", "Seq", "Persons/Work/John Roe")
    tags = read_face_tags(packet(body), MAX)
    assert tags.name_digests == tuple(sorted({JANE, JOHN}))


# --- hostile XML --------------------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x:xmpmeta [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n"
    + packet(
        keywords("digiKam", "TagsList", "Seq", "People/&lol9;")
        + "<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>&lol9;</rdf:li></rdf:Bag>"
        "</Iptc4xmpExt:PersonInImage>"
    )
)

EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x:xmpmeta [\n'
    b' <!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n'
    + packet("<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>&x;</rdf:li></rdf:Bag>"
             "</Iptc4xmpExt:PersonInImage>")
)  # fmt: skip

# A DTD cannot sit inside the packet (XML allows it only before the root), so the bomb is
# also tried where it *would* parse if the packet were read as a whole document.
INLINE_BOMB = b"<x:xmpmeta " + BILLION_LAUGHS.split(b"<x:xmpmeta ", 1)[1]
DTD_IN_PACKET = packet('<!DOCTYPE a [<!ENTITY a "b">]>')

HOSTILE: list[tuple[str, bytes]] = [
    ("billion-laughs", BILLION_LAUGHS),
    ("external-entity", EXTERNAL_ENTITY),
    ("entity-reference-without-dtd", INLINE_BOMB),
    ("dtd-inside-the-packet", DTD_IN_PACKET),
    ("malformed", packet("<dc:subject><rdf:Bag><rdf:li>unclosed</rdf:Bag></dc:subject>")),
    ("mismatched-namespace", packet("<undeclared:thing>1</undeclared:thing>")),
    ("binary-junk", b"<x:xmpmeta \x00\xff\xfe garbage </x:xmpmeta>"),
    ("not-utf8", packet(IPTC_PERSON).replace(b"Jane", b"J\xe9ne")),
]


@pytest.mark.parametrize("data", [h[1] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_packet_is_unreadable_not_expanded(data: bytes) -> None:
    started = time.perf_counter()
    tags = read_face_tags(data, MAX)
    assert time.perf_counter() - started < 0.5
    assert tags == FaceTags(0, (), (), 0, (), 1, 1)
    assert "root:" not in repr(tags)


def test_defusedxml_refuses_entities_even_in_a_whole_document() -> None:
    """The guard behind the slicing: had the DTD been inside what we parse, defusedxml
    refuses it instead of expanding (the same parser read_face_tags uses)."""
    from defusedxml import ElementTree as SafeET
    from defusedxml.common import EntitiesForbidden

    for document in (BILLION_LAUGHS, EXTERNAL_ENTITY):
        with pytest.raises(EntitiesForbidden):
            SafeET.fromstring(document)


def test_unterminated_packet_is_counted_as_unreadable() -> None:
    data = packet(IPTC_PERSON)
    cut = data[: data.index(b"</rdf:RDF>")]
    assert read_face_tags(cut, MAX) == FaceTags(0, (), (), 0, (), 1, 1)


def test_packet_larger_than_the_limit_is_counted_as_unreadable() -> None:
    """A limit is never a silent "nothing found": the packet is counted, and unreadable."""
    big = packet(IPTC_PERSON + "<dc:description>" + "x" * 10_000 + "</dc:description>")
    assert read_face_tags(big, len(big)).name_digests == tuple(sorted({JANE, JOHN}))
    assert read_face_tags(big, len(big) - 1) == FaceTags(0, (), (), 0, (), 1, 1)


def test_unreadable_packet_does_not_hide_a_readable_one() -> None:
    data = packet("<broken>") + b"\x00" * 10 + packet(IPTC_PERSON)
    tags = read_face_tags(data, MAX)
    assert (tags.packets, tags.unreadable_packets) == (2, 1)
    assert tags.name_digests == tuple(sorted({JANE, JOHN}))


def test_several_packets_are_merged() -> None:
    data = b"".join(
        (
            b"junk before",
            packet(MWG_ATTRIBUTES),
            b"\x00\x01binary between\xff",
            packet(DIGIKAM),
            packet(MICROSOFT, xpacket=True),
        )
    )
    tags = read_face_tags(data, MAX)
    assert tags.packets == 3
    assert tags.unreadable_packets == 0
    assert tags.face_regions == 4
    assert len(tags.regions) == 4
    assert tags.name_digests == tuple(sorted({JANE, JOHN}))
    assert tags.person_keywords == 1
    assert tags.schemas == ("digikam-tags", "microsoft-people", "mwg-regions")


# --- embedded in real image files ---------------------------------------------------------------


def png_with_xmp(im: Image.Image, xmp: bytes) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"), zip=False)
    return encode(im, "PNG", pnginfo=info)


def jpeg_extended_xmp(im: Image.Image, main: bytes, extended: bytes) -> bytes:
    """A JPEG with Adobe's Extended XMP: the part over 64 KiB is split across APP1 segments,
    each starting with a 75-byte header (signature, GUID, full length, offset)."""
    base = encode(im, "JPEG", xmp=main)
    guid = (
        hashlib.md5(extended).hexdigest().upper().encode()
    )  # the GUID is an MD5, as the spec says
    segments = b""
    for offset in range(0, len(extended), 65000):
        chunk = extended[offset : offset + 65000]
        body = (
            b"http://ns.adobe.com/xmp/extension/\x00"
            + guid
            + struct.pack(">II", len(extended), offset)
            + chunk
        )
        segments += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    sos = base.index(b"\xff\xda")
    return base[:sos] + segments + base[sos:]


CONTAINERS = {
    "jpeg": lambda im, xmp: encode(im, "JPEG", xmp=xmp),
    "png-itxt": png_with_xmp,
    "webp": lambda im, xmp: encode(im, "WEBP", xmp=xmp),
    "tiff-tag-700": lambda im, xmp: encode(im, "TIFF", tiffinfo={700: xmp}),
}


@pytest.mark.parametrize("container", CONTAINERS)
def test_embedded_in_a_real_image(container: str) -> None:
    xmp = packet(MWG_ATTRIBUTES + LIGHTROOM, xpacket=True)
    data = CONTAINERS[container](no_face(), xmp)
    assert xmp in data  # stored verbatim, as the XMP spec requires
    tags = read_face_tags(data, MAX)
    assert tags.face_regions == 2
    assert boxes(tags.regions) == boxes((R(0.4, 0.25, 0.2, 0.3), R(0.2, 0.2, 0.1, 0.1)))
    assert tags.name_digests == tuple(sorted({JANE, JOHN}))
    assert (tags.packets, tags.unreadable_packets) == (1, 0)
    # Pillow reads the same packet back: we looked at the right bytes.
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["xmp"] == xmp


def test_jpeg_extended_xmp_is_read_whole() -> None:
    """Phones store depth maps in Extended XMP: hundreds of KiB split across APP1 segments.
    The split packet must not make the photo unreadable (and tags in it must count)."""
    main = packet('<xmpNote:HasExtendedXMP xmlns:xmpNote="http://ns.adobe.com/xmp/note/">'
                  "0123</xmpNote:HasExtendedXMP>")  # fmt: skip
    depth = "A" * 200_000  # stands in for a base64 depth map
    extended = packet(IPTC_PERSON + f"<dc:description>{depth}</dc:description>")
    data = jpeg_extended_xmp(no_face(), main, extended)
    assert data.count(b"http://ns.adobe.com/xmp/extension/") == 4
    tags = read_face_tags(data, MAX)
    assert tags.unreadable_packets == 0
    assert tags.packets == 2
    assert tags.name_digests == tuple(sorted({JANE, JOHN}))


# --- coordinates that are not coordinates ----------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", "0x10", "", "half"])
def test_non_finite_mwg_area_gives_a_region_without_a_box(value: str) -> None:
    body = MWG_ATTRIBUTES.replace('stArea:x="0.5"', f'stArea:x="{value}"')
    tags = read_face_tags(packet(body), MAX)
    assert tags.face_regions == 2
    assert boxes(tags.regions) == boxes((R(0.2, 0.2, 0.1, 0.1),))  # only John's is usable


@pytest.mark.parametrize("rectangle", ["nan, 0.2, 0.3, 0.4", "0.1, inf, 0.3, 0.4", "0.1, 0.2"])
def test_non_finite_microsoft_rectangle_gives_a_region_without_a_box(rectangle: str) -> None:
    body = MICROSOFT.replace("0.1, 0.2, 0.3, 0.4", rectangle)
    tags = read_face_tags(packet(body), MAX)
    assert tags.face_regions == 2
    assert boxes(tags.regions) == boxes((R(0.5, 0.5, 0.25, 0.25),))


def test_area_near_the_edge_is_returned_as_written() -> None:
    """The parser reports what the file says (a centre at 5 % with 20 % width starts at
    -5 %); clipping to the image is the detector's job."""
    body = MWG_ELEMENTS.replace("<stArea:x>0.5</stArea:x>", "<stArea:x>0.05</stArea:x>")
    tags = read_face_tags(packet(body), MAX)
    assert boxes(tags.regions) == boxes((R(-0.05, 0.25, 0.2, 0.3),))


# -- added with the lead's review: optional wrappers and keyword hierarchies ----------------


def _bare(body: str) -> bytes:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'{body}</rdf:RDF><?xpacket end="r"?>'
    ).encode()


def test_bare_rdf_without_the_xmpmeta_wrapper_is_read() -> None:
    body = (
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        "<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Ann Example</rdf:li></rdf:Bag>"
        "</Iptc4xmpExt:PersonInImage></rdf:Description>"
    )
    tags = read_face_tags(b"junk" + _bare(body) + b"junk", 1 << 20)
    assert tags.name_digests == (name_digest("Ann Example"),)


def test_old_xapmeta_wrapper_is_read() -> None:
    body = (
        b'<x:xapmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:lr="http://ns.adobe.com/lightroom/1.0/"><lr:hierarchicalSubject><rdf:Bag>'
        b"<rdf:li>People|Ann Example</rdf:li></rdf:Bag></lr:hierarchicalSubject>"
        b"</rdf:Description></rdf:RDF></x:xapmeta>"
    )
    tags = read_face_tags(body, 1 << 20)
    assert tags.person_keywords == 1


def test_group_nodes_of_a_keyword_hierarchy_are_not_people() -> None:
    items = "".join(
        f"<rdf:li>{k}</rdf:li>"
        for k in ("People|Family", "People|Family|Ann Example", "People|Bob Example")
    )
    body = (
        '<rdf:Description xmlns:lr="http://ns.adobe.com/lightroom/1.0/">'
        f"<lr:hierarchicalSubject><rdf:Bag>{items}</rdf:Bag></lr:hierarchicalSubject>"
        "</rdf:Description>"
    )
    tags = read_face_tags(_bare(body), 1 << 20)
    assert tags.person_keywords == 2
    assert set(tags.name_digests) == {name_digest("Ann Example"), name_digest("Bob Example")}
