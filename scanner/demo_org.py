"""A demo organisation, built on the fly: the policy scenario that `make demo` shows and the
acceptance test checks finding by finding.

Acme Photo Ltd (a French company) keeps:
- `hr/badges/` — staff badge photos under the employment basis, deleted 30 days after the
  employee leaves (`hr/leavers.csv` is the end-of-purpose register); two leavers are past it;
- `marketing/inspiration/` — photos downloaded from social platforms (a Facebook CDN file
  name; an Instagram source in XMP and, where the filesystem allows, the download's
  origin-URL extended attribute), outside every declared store;
- `kyc/kyc.db` — a SQLite KYC database with face templates and a consent register in the
  same file; two customers have withdrawn their consent;
- `backup/2019-laptop.zip` — an old backup holding a face_recognition tutorial pickle;
- `events/` — staff event photos GPS-tagged in London, under a "no UK residents' data" rule;
- `hr/onboarding/` and `hr/recruiting/` — an onboarding PDF whose second page is a scanned
  identity card, and a CV (Word) with a photo: face images inside documents, kept outside
  every declared store;
- `cctv/entrance/` — door-camera recordings in which a person appears mid-way, kept 31 days
  (its own store and an `ACME-CCTV-31D` rule on every face video); one is older than that;
- `mail/hr-inbox.mbox` — HR's mailbox with a new starter's badge photo as an attachment,
  outside every declared store (scanner.demo_media writes the videos and the mailbox).

Images are scikit-image's bundled photos; the KYC templates are generated with the statistics
of dlib descriptors (norm ~1.45, a shared mean direction), never computed from a real person.
Dates are fixed and the policy is evaluated as of AS_OF, so the findings never drift.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import shutil
import sqlite3
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from scanner import demo_documents
from scanner.demo import DemoUnavailable, _skimage_data
from scanner.demo_media import build_media

AS_OF = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
POLICY_FILE = "faceaudit-policy.yaml"
MARKER = ".faceaudit-demo-org"

POLICY = """\
# The demo organisation's policy: its record of processing (stores), its registers, and one
# rule of its own. The law packs it extends are faceaudit's built-in packs.
schema_version: 1
name: acme-photo
title: Acme Photo Ltd — biometric data policy (demo)
extends: [faceaudit-base, gdpr, uk-gdpr, eu-ai-act]

stores:
  - id: hr-badges
    description: Staff badge photos for building access
    paths: ["hr/badges/**"]
    kinds: [face_image]
    purpose: building access control
    legal_basis: [gdpr-9-2-b, uk-gdpr-9-2-b]
    retention: {period: P30D, from: end_of_purpose}
    region: [FR]
    owner: hr@acme.example
    dpia: DPIA-2025-003
    retention_schedule_url: https://acme.example/privacy/retention
    subject: {path_pattern: "badges/(?P<subject>E\\\\d+)\\\\.jpg$"}
    end_of_purpose_register: leavers

  - id: kyc-templates
    description: Face templates for remote identity checks
    databases: ["*kyc.db#customers.face_embedding"]
    kinds: [face_embedding]
    purpose: know-your-customer identity verification
    use: verification
    legal_basis: [gdpr-9-2-a]
    retention: {period: P5Y, from: creation}
    region: [FR]
    owner: compliance@acme.example
    dpia: DPIA-2024-011
    retention_schedule_url: https://acme.example/privacy/retention
    subject: {column: customer_id}
    consent_register: kyc-consents

  - id: staff-events
    description: Photos of staff events
    paths: ["events/**"]
    kinds: [face_image]
    purpose: internal communication
    use: event  # never matched: an Art 6 basis, not an Art 9 condition
    legal_basis: [gdpr-6-1-f, uk-gdpr-6-1-f]
    retention: {period: P2Y, from: creation}
    region: [FR]
    owner: comms@acme.example
    dpia: DPIA-2025-007
    retention_schedule_url: https://acme.example/privacy/retention

  - id: cctv
    description: Entrance door camera recordings
    paths: ["cctv/**"]
    kinds: [face_video]
    purpose: security of the premises
    use: surveillance
    legal_basis: [gdpr-6-1-f, uk-gdpr-6-1-f]
    retention: {period: P31D, from: creation}
    region: [FR]
    owner: facilities@acme.example
    dpia: DPIA-2025-012
    retention_schedule_url: https://acme.example/privacy/cctv

registers:
  - id: leavers
    kind: end_of_purpose
    source: "csv:hr/leavers.csv"
    key_column: employee_id
    time_column: left_on
  - id: kyc-consents
    kind: consent
    source: "sqlite://kyc/kyc.db"
    table: consents
    key_column: customer_id
    granted_column: granted_at
    withdrawn_column: withdrawn_at
    expires_column: expires_at

rules:
  - id: ACME-NO-UK-RESIDENTS
    check: restricted_jurisdiction
    countries: [GB]
    severity: high
    title: Face data of people in the United Kingdom
    description: >-
      Acme may not hold face data of UK residents (a board decision after the ICO's
      enforcement notice against Clearview AI, which ordered it to stop obtaining and to
      delete UK residents' data).
    citations: ["UK GDPR Art 9(1)", "ICO enforcement notice, Clearview AI Inc (May 2022)"]
    remediation: Delete the photos, or move them out of scope with a documented decision.

  - id: ACME-CCTV-31D
    check: retention_exceeded
    kinds: [face_video]
    max_period: P31D
    severity: high
    title: Camera recording with faces kept past 31 days, wherever it is
    description: >-
      Acme's CCTV notice promises that recordings are deleted after 31 days; a copy of a
      recording kept elsewhere (an export for an incident, a laptop) is no exception.
    citations: ["GDPR Art 5(1)(e)", "ICO, Guidance on video surveillance (including CCTV)"]
    remediation: Delete the recording, or record why it is kept (an incident under investigation).
"""

# (employee, left_on): E1003 and E1004 left long before AS_OF; E1002 left 5 days before it.
LEAVERS = [("E1002", "2026-05-27"), ("E1003", "2026-02-02"), ("E1004", "2025-11-20")]
# (customer, granted, withdrawn): C-0105 and C-0106 withdrew their consent.
CONSENTS = [
    ("C-0101", "2024-03-01", None),
    ("C-0102", "2024-03-04", None),
    ("C-0103", "2024-04-11", None),
    ("C-0104", "2024-05-20", None),
    ("C-0105", "2024-06-02", "2025-09-30"),
    ("C-0106", "2024-06-15", "2026-01-12"),
]
FACEBOOK_NAME = "271828182_1234567890123456_9876543210987654321_n.jpg"
INSTAGRAM_URL = "https://scontent.cdninstagram.com/v/t51.2885-15/302345_n.jpg"

_XMP_SOURCE = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
    'photoshop:Source="https://www.instagram.com/p/C4xYz12AbCd/" '
    'photoshop:Credit="Instagram"/></rdf:RDF></x:xmpmeta>'
)


def _stamp(path: Path, when: str) -> None:
    t = datetime.fromisoformat(when).replace(tzinfo=timezone.utc).timestamp()
    os.utime(path, (t, t))


def _jpeg(im: Image.Image, exif: Image.Exif | None = None, xmp: str | None = None) -> bytes:
    buf = io.BytesIO()
    extra: dict[str, object] = {}
    if exif is not None:
        extra["exif"] = exif.tobytes()
    if xmp is not None:
        extra["xmp"] = xmp.encode()
    im.convert("RGB").save(buf, "JPEG", quality=88, **extra)
    return buf.getvalue()


def _exif(taken: str, london: bool = False) -> Image.Exif:
    ex = Image.Exif()
    ex.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    ex.get_ifd(0x8769)[0x9011] = "+00:00"  # OffsetTimeOriginal
    if london:  # Westminster, 51.4994 N 0.1273 W
        ex.get_ifd(0x8825).update({1: "N", 2: (51.0, 29.0, 58.0), 3: "W", 4: (0.0, 7.0, 38.0)})
    return ex


def _templates(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean = np.linspace(-0.1, 0.1, 128) * np.cos(np.arange(128))
    x = mean + rng.normal(scale=0.09, size=(n, 128)) * rng.uniform(0.5, 1.5, size=128)
    out: np.ndarray = x * (1.45 / np.linalg.norm(x, axis=1))[:, None]
    return out


def build_demo_org(root: Path) -> Path:
    """Write the demo organisation under `root` (replacing an earlier one); return its policy."""
    data = _skimage_data()
    if root.exists():
        if not (root / MARKER).exists() and any(root.iterdir()):
            raise DemoUnavailable(f"{root} exists and is not a faceaudit demo; not touching it")
        shutil.rmtree(root)
    for sub in ("hr/badges", "marketing/inspiration", "kyc", "backup", "events", "hr/onboarding"):
        (root / sub).mkdir(parents=True)
    (root / MARKER).write_text("built by `faceaudit demo`; safe to delete\n")
    (root / POLICY_FILE).write_text(POLICY)
    astronaut = Image.open(data / "astronaut.png").convert("RGB")
    portrait = astronaut.crop((100, 0, 400, 300))

    for n, (emp, size) in enumerate(
        [("E1001", 300), ("E1002", 280), ("E1003", 260), ("E1004", 240)]
    ):
        path = root / "hr" / "badges" / f"{emp}.jpg"
        path.write_bytes(_jpeg(portrait.resize((size, size)), _exif(f"2024:0{n + 1}:15 09:00:00")))
        _stamp(path, f"2024-0{n + 1}-15")
    (root / "hr" / "leavers.csv").write_text(
        "employee_id,left_on\n" + "".join(f"{e},{d}\n" for e, d in LEAVERS)
    )

    fb = root / "marketing" / "inspiration" / FACEBOOK_NAME
    fb.write_bytes(_jpeg(astronaut.resize((384, 384))))
    _stamp(fb, "2025-08-03")
    insta = root / "marketing" / "inspiration" / "moodboard-03.jpg"
    insta.write_bytes(_jpeg(astronaut.crop((60, 0, 460, 400)), xmp=_XMP_SOURCE))
    _stamp(insta, "2025-08-03")
    # what browsers record for a download; the XMP source stands in where it is refused
    with contextlib.suppress(OSError):
        os.setxattr(insta, "user.xdg.origin.url", INSTAGRAM_URL.encode())

    db = root / "kyc" / "kyc.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, full_name_hash TEXT, "
            "face_embedding BLOB, created_at TEXT)"
        )
        conn.execute(
            "CREATE TABLE consents (customer_id TEXT, granted_at TEXT, withdrawn_at TEXT, "
            "expires_at TEXT, scope TEXT)"
        )
        for (cid, granted, withdrawn), vec in zip(
            CONSENTS, _templates(len(CONSENTS), 7), strict=True
        ):
            conn.execute(
                "INSERT INTO customers VALUES (?, ?, ?, ?)",
                (cid, f"h{cid}", vec.astype("<f4").tobytes(), f"{granted} 10:00:00"),
            )
            conn.execute(
                "INSERT INTO consents VALUES (?, ?, ?, NULL, 'kyc')", (cid, granted, withdrawn)
            )
    conn.close()
    _stamp(db, "2026-01-12")

    tutorial = {"encodings": list(_templates(5, 11)), "names": ["ada", "ada", "bob", "cy", "cy"]}
    zpath = root / "backup" / "2019-laptop.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("projects/face-door/encodings.pickle", (2019, 5, 4, 12, 0, 0))
        zf.writestr(info, pickle.dumps(tutorial, protocol=4))
        zf.writestr(
            zipfile.ZipInfo("projects/face-door/README.txt", (2019, 5, 4, 12, 0, 0)),
            "door opener experiments\n",
        )
    _stamp(zpath, "2019-05-05")

    for n, crop in enumerate([(60, 0, 460, 400), (0, 0, 512, 512)]):
        path = root / "events" / f"london-offsite-{n + 1}.jpg"
        path.write_bytes(
            _jpeg(astronaut.crop(crop), _exif(f"2026:03:1{n + 2} 15:30:00", london=True))
        )
        _stamp(path, f"2026-03-1{n + 2}")
    _documents(root, portrait)
    build_media(root, portrait, Image.open(data / "coffee.png").convert("RGB"))
    return root / POLICY_FILE


def _documents(root: Path, portrait: Image.Image) -> None:
    """An onboarding PDF with a scanned ID card on its second page; a CV with a photo."""
    page = Image.new("RGB", (827, 1169), (246, 244, 240))  # A4 scanned at 100 dpi
    card = Image.new("RGB", (340, 214), (222, 230, 242))
    card.paste(portrait.resize((120, 120)), (16, 46))
    page.paste(card.rotate(1.5, expand=True, fillcolor=(246, 244, 240)), (90, 120))
    pdf = root / "hr" / "onboarding" / "E1005-onboarding.pdf"
    pdf.write_bytes(
        demo_documents.pdf(
            [
                demo_documents.Page(text="Onboarding form - employee E1005"),
                demo_documents.Page(
                    [demo_documents.Picture(page, x=0, y=0, width=595, quality=75)]
                ),
            ]
        )
    )
    _stamp(pdf, "2026-04-01")
    cv = root / "hr" / "recruiting" / "cv-2026-017.docx"
    cv.parent.mkdir(parents=True)
    cv.write_bytes(demo_documents.docx(portrait.resize((200, 200)), "Curriculum vitae"))
    _stamp(cv, "2026-02-10")
