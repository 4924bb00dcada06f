"""The scan's vocabulary: frozen value types shared by every layer.

Nothing here imports another faceaudit module. Evidence never carries a biometric payload:
counts, relative box geometry, digests and locations only — never pixels or vectors.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar

ScalarValue = str | int | float | bool


class Severity(enum.IntEnum):
    """Ordered severities; `--fail-on` compares against them."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


class EvidenceKind(str, enum.Enum):
    """What kind of biometric evidence an item holds. Values are part of the JSON contract."""

    FACE_IMAGE = "face_image"  # pixels that show at least one human face
    FACE_TAGGED = "face_tagged"  # metadata that marks face regions or names people
    FACE_EMBEDDING = "face_embedding"  # stored face templates: vectors from a face model
    EXECUTABLE_CODE = "executable_code"  # a security finding: a pickle that imports code

    @property
    def severity(self) -> Severity:
        return _KIND_SEVERITY[self]


_KIND_SEVERITY: Mapping[EvidenceKind, Severity] = {
    EvidenceKind.FACE_IMAGE: Severity.HIGH,
    EvidenceKind.FACE_TAGGED: Severity.MEDIUM,
    EvidenceKind.FACE_EMBEDDING: Severity.CRITICAL,
    EvidenceKind.EXECUTABLE_CODE: Severity.CRITICAL,
}


class ContentType(str, enum.Enum):
    """What the bytes are, decided by magic bytes (never by the file name)."""

    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    BMP = "bmp"
    TIFF = "tiff"
    WEBP = "webp"
    HEIF = "heif"
    AVIF = "avif"
    PSD = "psd"
    PNM = "pnm"
    JPEG2000 = "jpeg2000"
    XMP = "xmp"  # an XMP sidecar (digiKam, Lightroom, darktable write person tags there)
    ZIP = "zip"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZLIB = "zlib"  # a raw zlib stream (joblib's default compression)
    SEVEN_ZIP = "7z"
    RAR = "rar"
    POSTSCRIPT = "postscript"
    PDF = "pdf"
    OOXML = "ooxml"  # Office Open XML: docx, xlsx, pptx (a zip with [Content_Types].xml)
    OPENDOCUMENT = "opendocument"  # odt, ods, odp (a zip whose first member is `mimetype`)
    OLE = "ole"  # an OLE compound file: legacy doc, xls, ppt (and Outlook msg)
    # stores of vectors (face templates) and tables
    NPY = "npy"
    PICKLE = "pickle"
    JSON = "json"
    CSV = "csv"
    TEXT = "text"  # other text: YAML, SQL dumps, source files with embedded arrays
    PARQUET = "parquet"
    ARROW = "arrow"
    HDF5 = "hdf5"
    SQLITE = "sqlite"
    DB_COLUMN = "db_column"  # not bytes: a column sampled from a database
    # mail (scanner.expand_mail) and video (scanner.expand_video)
    EMAIL = "email"  # one RFC 5322 message (.eml, a Maildir file)
    MBOX = "mbox"  # messages after "From " lines
    OUTLOOK_PST = "outlook_pst"  # reported by type, not opened
    VIDEO = "video"  # MP4/QuickTime, Matroska/WebM, AVI: decoded through PyAV
    UNKNOWN = "unknown"

    @property
    def is_vector_store(self) -> bool:
        """Formats whose content may hold vectors (face templates)."""
        return self in _VECTOR_TYPES

    @property
    def is_image(self) -> bool:
        return self in _IMAGE_TYPES

    @property
    def is_archive(self) -> bool:
        return self in _ARCHIVE_TYPES


_IMAGE_TYPES = frozenset(
    {
        ContentType.JPEG,
        ContentType.PNG,
        ContentType.GIF,
        ContentType.BMP,
        ContentType.TIFF,
        ContentType.WEBP,
        ContentType.HEIF,
        ContentType.AVIF,
        ContentType.PSD,
        ContentType.PNM,
        ContentType.JPEG2000,
    }
)
_VECTOR_TYPES = frozenset(
    {
        ContentType.NPY,
        ContentType.PICKLE,
        ContentType.JSON,
        ContentType.CSV,
        ContentType.TEXT,
        ContentType.PARQUET,
        ContentType.ARROW,
        ContentType.HDF5,
    }
)
_ARCHIVE_TYPES = frozenset(
    {
        ContentType.ZIP,
        ContentType.TAR,
        ContentType.GZIP,
        ContentType.BZIP2,
        ContentType.XZ,
        ContentType.ZLIB,
        ContentType.OOXML,  # office documents are zips: their media folders are walked
        ContentType.OPENDOCUMENT,
    }
)


class ProblemReason(str, enum.Enum):
    """Why an item was skipped or failed. `incomplete` reasons make the scan incomplete (exit 3)."""

    # the filesystem
    UNREADABLE_DIRECTORY = "unreadable_directory"
    UNREADABLE_FILE = "unreadable_file"
    MISSING_TARGET = "missing_target"
    SYMLINK_NOT_FOLLOWED = "symlink_not_followed"
    SPECIAL_FILE = "special_file"
    DIRECTORY_CYCLE = "directory_cycle"
    OVERSIZE = "oversize"
    CHANGED_DURING_SCAN = "changed_during_scan"
    # content
    DECODE_ERROR = "decode_error"
    PIXEL_LIMIT = "pixel_limit"
    PAGE_LIMIT = "page_limit"
    DISGUISED_CONTENT = "disguised_content"
    UNSUPPORTED_CONTAINER = "unsupported_container"
    UNSUPPORTED_ENCODING = "unsupported_encoding"  # a PDF picture in an encoding not decoded
    ENCRYPTED_DOCUMENT = "encrypted_document"  # a PDF that opens only with a password
    # archives
    ARCHIVE_CORRUPT = "archive_corrupt"
    ARCHIVE_DEPTH = "archive_depth"
    ARCHIVE_ENTRIES = "archive_entries"
    ARCHIVE_SIZE = "archive_size"
    ARCHIVE_RATIO = "archive_ratio"
    ARCHIVE_OVERLAP = "archive_overlap"
    ENCRYPTED_MEMBER = "encrypted_member"
    ARCHIVE_LINK = "archive_link"
    # the worker
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    WORKER_CRASHED = "worker_crashed"
    DETECTOR_ERROR = "detector_error"
    DETECTOR_UNAVAILABLE = "detector_unavailable"
    INTERRUPTED = "interrupted"
    # databases
    DATABASE_UNREADABLE = "database_unreadable"  # cannot connect/open, or a table cannot be read
    QUERY_TIMEOUT = "query_timeout"  # a statement hit its deadline (a hostile view, a huge table)
    VALUE_TOO_LARGE = "value_too_large"  # a value over the size limit was not fetched
    VIEW_NOT_READ = "view_not_read"  # views are not read by default (base tables are)
    INDEX_NOT_READ = "index_not_read"  # an index (FTS, R*Tree) whose rows are scanned elsewhere
    VIRTUAL_TABLE_NOT_READ = "virtual_table_not_read"  # its module is never loaded
    VIEWS_READ = "views_read"  # --read-views: the views' own code ran (a warning)
    DATABASE_ROLE_WRITABLE = "database_role_writable"  # the scanning role could write
    # object stores
    ARCHIVED_OBJECT = "archived_object"  # Glacier / Deep Archive / Archive tier: never restored
    # the state database (scan --state)
    STATE_NOT_SAVED = "state_not_saved"  # a full disk or an I/O error: results not recorded

    @property
    def incomplete(self) -> bool:
        """True when the item may hold evidence that the scan could not look at."""
        return self not in _COMPLETE_REASONS


# Reasons that are reported but do not hide data: a link that is not followed points at
# something outside the tree (or that is scanned under its own name); a FIFO, socket or
# device is not stored data; a directory cycle is scanned once; a view stores nothing (its
# base tables are scanned); the two database warnings say how a scan ran, not what it missed.
_COMPLETE_REASONS = frozenset(
    {
        ProblemReason.SYMLINK_NOT_FOLLOWED,
        ProblemReason.SPECIAL_FILE,
        ProblemReason.DIRECTORY_CYCLE,
        ProblemReason.ARCHIVE_LINK,
        ProblemReason.VIEW_NOT_READ,
        ProblemReason.INDEX_NOT_READ,
        ProblemReason.VIEWS_READ,
        ProblemReason.DATABASE_ROLE_WRITABLE,
    }
)


class Location:
    """Where an item lives: one of FileLocation, MemberLocation, DatabaseLocation,
    ObjectLocation or ScanLocation (a tagged union: `kind` says which).

    `display` is what people read, as the target was typed (`share/a.jpg`, `./a.jpg`,
    `/srv/share/a.jpg`); the state database keys files by it. `identity` is what finding
    fingerprints and baselines hash: a file's path relative to the directory the scan names
    identities from (its `Anchor`: the scan target, or `--root`), so it does not depend on
    the current directory, on `./` or on absolute or relative spelling (a database location
    is `<database>#<schema>.<table>.<column>`). Nothing parses them back: the fields say what
    the parts are. Locations of every kind sort together, by (path, members).
    """

    __slots__ = ()
    kind: ClassVar[str]

    @property
    def path(self) -> str:
        raise NotImplementedError

    @property
    def members(self) -> tuple[str, ...]:
        return ()

    @property
    def display(self) -> str:
        """`archive.zip!/dir/member.jpg`, nested as `a.zip!/b.tar!/c.jpg`."""
        return "!/".join((self.path, *self.members))

    @property
    def identity(self) -> str:
        """What fingerprints hash: independent of how the target was spelled."""
        return self.display

    @property
    def artifact(self) -> FileLocation | ObjectLocation | None:
        """The file or object that holds this location (an archive for its members, a
        SQLite file for its columns); None for a database server's."""
        return None

    @property
    def depth(self) -> int:
        return len(self.members)

    @property
    def sort_key(self) -> tuple[str, tuple[str, ...]]:
        return (self.path, self.members)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Location):
            return NotImplemented
        return self.sort_key < other.sort_key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Location):
            return NotImplemented
        return self.sort_key <= other.sort_key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Location):
            return NotImplemented
        return self.sort_key > other.sort_key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Location):
            return NotImplemented
        return self.sort_key >= other.sort_key

    def child(self, member: str) -> MemberLocation:
        """A member of this file (or of this member: nested archives)."""
        raise TypeError(f"a {self.kind} location holds no archive members")


@dataclass(frozen=True)
class Anchor:
    """Where a file is relative to the directory its identity is named from: the scan
    target it was found under (a file target: its folder), or `--root` when given."""

    root: str  # that directory, absolute and resolved ("/srv/share", "/home/ci/work/repo")
    path: str  # the file inside it, '/'-separated, never empty ("Marketing/a.jpg")


@dataclass(frozen=True, eq=True)
class FileLocation(Location):
    """A file, by its path as reached from the scan target (display form; undecodable bytes
    are kept as surrogate escapes), and where it is relative to the identity root (`anchor`;
    None when no scan found it, e.g. a library caller's location: its identity is then its
    display). The anchor is not part of equality: within a scan a path has one anchor."""

    file: str
    anchor: Anchor | None = field(default=None, compare=False)
    kind: ClassVar[str] = "file"

    @property
    def path(self) -> str:
        return self.file

    @property
    def identity(self) -> str:
        return self.anchor.path if self.anchor is not None else self.file

    @property
    def artifact(self) -> FileLocation:
        return self

    def child(self, member: str) -> MemberLocation:
        return MemberLocation(self, (member,))


@dataclass(frozen=True, eq=True)
class ObjectLocation(Location):
    """An object in a store (`s3://bucket/key`), with its version when the store keeps
    versions. The version is part of what the object is, not of where people look for it:
    it is in `version`, not in the display."""

    store: str  # "s3://bucket", "gs://bucket", "az://account/container"
    key: str
    version: str | None = None
    kind: ClassVar[str] = "object"

    @property
    def path(self) -> str:
        return f"{self.store}/{self.key}"

    @property
    def artifact(self) -> ObjectLocation:
        return self

    def child(self, member: str) -> MemberLocation:
        return MemberLocation(self, (member,))


@dataclass(frozen=True, eq=True)
class MemberLocation(Location):
    """A member of an archive; `names` are nested: ("inner.tar", "photos/a.jpg")."""

    container: FileLocation | ObjectLocation
    names: tuple[str, ...]
    kind: ClassVar[str] = "member"

    @property
    def path(self) -> str:
        return self.container.path

    @property
    def members(self) -> tuple[str, ...]:
        return self.names

    @property
    def identity(self) -> str:
        return "!/".join((self.container.identity, *self.names))

    @property
    def artifact(self) -> FileLocation | ObjectLocation:
        return self.container

    def child(self, member: str) -> MemberLocation:
        return MemberLocation(self.container, (*self.names, member))


@dataclass(frozen=True, eq=True)
class DatabaseRef:
    """A database, as locations name it (credentials never appear)."""

    display: str  # "sqlite:///srv/kyc.db", "sqlite://data/app.db", "a.zip!/app.db",
    #               "postgresql://db:5432/immich", "mysql://db:3306/photoprism"
    scheme: str  # "sqlite", "postgresql", "mysql"; "" for a database inside an archive
    name: str  # the file's name ("kyc.db"), or the server database's ("immich")
    file: str | None = None  # a SQLite database's file, as displayed (None: a server)
    # A SQLite database's file (or archive member, or object) as a location: its identity
    # names the database. Not part of equality (the display already is).
    at: FileLocation | MemberLocation | ObjectLocation | None = field(default=None, compare=False)
    # A server's database as identified: the display with the host's spelling normalised
    # (case; loopback names). None: the display.
    key: str | None = field(default=None, compare=False)

    @property
    def identity(self) -> str:
        if self.at is not None:
            return self.at.identity
        return self.key if self.key is not None else self.display


@dataclass(frozen=True, eq=True)
class DatabaseLocation(Location):
    """A database, one of its relations, or one of their columns."""

    database: DatabaseRef
    schema: str | None = None  # PostgreSQL's schema ("public"); None where there are none
    table: str | None = None
    column: str | None = None
    kind: ClassVar[str] = "database"

    @property
    def relation(self) -> str | None:
        """The relation as the database qualifies it: "public.face_search", "faces"."""
        if self.table is None:
            return None
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in self.parts_of if p is not None)

    @property
    def parts_of(self) -> tuple[str | None, str | None, str | None]:
        return (self.schema, self.table, self.column)

    @property
    def path(self) -> str:
        if self.table is None:
            return self.database.display
        return f"{self.database.display}#{'.'.join(self.parts)}"

    @property
    def identity(self) -> str:
        if self.table is None:
            return self.database.identity
        return f"{self.database.identity}#{'.'.join(self.parts)}"

    @property
    def artifact(self) -> FileLocation | ObjectLocation | None:
        at = self.database.at
        return at.artifact if at is not None else None


@dataclass(frozen=True, eq=True)
class ScanLocation(Location):
    """The scan as a whole (an interruption, a limit on the whole run)."""

    kind: ClassVar[str] = "scan"

    @property
    def path(self) -> str:
        return "<scan>"


@dataclass(frozen=True)
class FaceBox:
    """One face: geometry relative to the upright image (0..1), never pixels."""

    x: float
    y: float
    w: float
    h: float
    confidence: float
    method: str  # e.g. "yunet", "dlib-hog"
    rotation: int = 0  # degrees the image had to be turned for the face to be upright
    verified_by: str | None = None  # a second model that confirmed a borderline face
    frame: int = 0  # frame (GIF/WebP) or page (TIFF) index


@dataclass(frozen=True)
class Evidence:
    """What a detector saw in one item. Carries counts and geometry, never a payload."""

    kind: EvidenceKind
    detector: str  # stable public id, e.g. "face.yunet"
    confidence: float
    faces: int = 0
    boxes: tuple[FaceBox, ...] = ()
    details: tuple[tuple[str, ScalarValue], ...] = ()
    reasons: tuple[str, ...] = ()  # why the detector decided so (embeddings, security)

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    def detail(self, key: str) -> ScalarValue | None:
        for k, v in self.details:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class Problem:
    """An item (or directory) that was skipped or could not be scanned, with the reason."""

    location: Location
    reason: ProblemReason
    detail: str

    @property
    def incomplete(self) -> bool:
        return self.reason.incomplete


@dataclass(frozen=True)
class Provenance:
    """Where an item came from, as recorded by what downloaded or published it.

    `value` is a host name or a short label, never a full URL with its query (which may carry
    personal data); `platform` names a social platform when one is recognised.
    """

    source: str  # "xattr:user.xdg.origin.url", "zone-identifier", "xmp:photoshop:Source", …
    value: str  # e.g. "scontent.cdninstagram.com", "Facebook download name"
    platform: str | None = None  # "instagram", "facebook", "x", "tiktok", "linkedin", …


@dataclass(frozen=True)
class Place:
    """A jurisdiction the data's subject is linked to. Coordinates are never kept."""

    country: str  # ISO 3166-1 alpha-2, upper case ("GB", "FR", "US")
    source: str  # "exif-gps", "column:<name>", "store-region"
    region: str | None = None  # ISO 3166-2 subdivision when known ("US-IL", "US-TX")
    count: int = 1  # rows or faces linked to this place (database columns: rows sampled)


@dataclass(frozen=True)
class MailDomain:
    """The domain of a sender or recipient of the message an item was attached to.

    Only the part after "@", in lower case (IDNA for non-ASCII); never the local part, the
    display name or the whole address."""

    header: str  # "from", "to", "cc"
    domain: str  # e.g. "corp.example"


@dataclass(frozen=True)
class ItemContext:
    """What is known about an item beyond its detectors: age, provenance, jurisdiction.

    Added by scanner.context after detection; read by the policy engine. Times are UTC.
    """

    created: datetime | None = None  # capture: EXIF DateTimeOriginal, a row's timestamp, mtime
    created_source: str | None = None  # "exif:DateTimeOriginal", "mtime", "column:created_at …"
    newest: datetime | None = None  # a database column: the newest row's timestamp
    provenance: tuple[Provenance, ...] = ()
    places: tuple[Place, ...] = ()
    mail_domains: tuple[MailDomain, ...] = ()  # a mail attachment's From/To/Cc domains

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(sorted({p.platform for p in self.provenance if p.platform}))

    @property
    def countries(self) -> tuple[str, ...]:
        return tuple(sorted({p.country for p in self.places}))


@dataclass(frozen=True)
class ItemResult:
    """The outcome of scanning one item."""

    location: Location
    content_type: ContentType
    size: int
    sha256: str | None
    mtime_ns: int | None = None
    evidence: tuple[Evidence, ...] = ()
    problems: tuple[Problem, ...] = ()
    # Facts about how the item was examined (e.g. frames checked, the smallest face that the
    # working resolution could reveal), so an inventory says what "no face" was based on.
    notes: tuple[tuple[str, ScalarValue], ...] = ()
    context: ItemContext = field(default_factory=ItemContext)

    @property
    def has_evidence(self) -> bool:
        return bool(self.evidence)

    @property
    def primary(self) -> Evidence | None:
        """The most severe, then most confident, evidence."""
        if not self.evidence:
            return None
        return max(self.evidence, key=lambda e: (e.severity, e.faces, e.confidence))


@dataclass(frozen=True)
class RowKey:
    """A database row: its primary key's (column, value) pairs, values as text, or for a
    SQLite table without one `(("rowid", "7"),)`; empty when the table has neither (then
    the subject's id names the row)."""

    parts: tuple[tuple[str, str], ...] = ()

    @property
    def display(self) -> str:
        return ", ".join(f"{column}={value}" for column, value in self.parts)


@dataclass(frozen=True)
class RowFinding:
    """One row behind a finding: its key, whose row it is (the subject id the register is
    joined on) and why it breaks the rule ("expired", "missing", "withdrawn" …)."""

    key: RowKey
    subject: str
    reason: str


MAX_LABEL_CHARS = 120  # a label or a key value longer than this is cut (with "…")


def cut(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class VectorRef:
    """Which stored vector: a database row (its key, and the value of the table's first date
    column in that row), or a vector in a file by the label stored beside it (the name or
    image path a pickle or JSON gallery keeps with each vector) and its path in the file.
    Never a value of the vector."""

    row: RowKey | None = None
    label: str | None = None
    path: str | None = None  # in the file: `$.people[3].embedding`; a pickle: `encodings #4`
    date: str | None = None  # the row's own date, as stored (text)
    date_column: str | None = None

    @property
    def display(self) -> str:
        """`row id=7`, `label 'alice' at $.names[2]`, `$.alice`, or "" (unknown)."""
        if self.row is not None and self.row.parts:
            return f"row {self.row.display}"
        if self.label is not None:
            return f"label {self.label!r}" + (f" at {self.path}" if self.path else "")
        return self.path or ""


MAX_FINDING_ROWS = 10_000  # rows a finding lists; the rest are counted (and in the digest)


@dataclass(frozen=True)
class FindingRows:
    """The rows behind a column-level finding, bounded: the first MAX_FINDING_ROWS in order
    of (reason, subject, key), how many there are in all, and a digest over every one of
    them (the finding's fingerprint covers exactly the rows it saw). Never a value of the
    row's face data."""

    rows: tuple[RowFinding, ...]
    total: int
    digest: str  # sha256 (hex) over the sorted (key, subject, reason) of every row

    @property
    def more(self) -> int:
        """Rows counted but not listed."""
        return self.total - len(self.rows)

    @classmethod
    def of(cls, rows: Iterable[RowFinding], limit: int = MAX_FINDING_ROWS) -> FindingRows:
        ordered = sorted(set(rows), key=lambda r: (r.reason, r.subject, r.key.parts))
        h = hashlib.sha256()
        for r in ordered:
            record = [r.reason, r.subject, [list(p) for p in r.key.parts]]
            h.update(json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogateescape"))
            h.update(b"\n")
        return cls(tuple(ordered[:limit]), len(ordered), h.hexdigest())


class Disposition(str, enum.Enum):
    """What the CI gate makes of a finding. Values are part of the JSON contract."""

    OPEN = "open"  # fails the gate at or above --fail-on
    WAIVED = "waived"  # a current waiver (reason, owner, expiry) suppresses it
    BASELINE = "baseline"  # already in the baseline report: known, does not fail
    HELD = "held"  # an active legal hold keeps the item: reported, never due for deletion


@dataclass(frozen=True)
class HeldBy:
    """The legal hold that keeps a finding's item: its case, why, who answers for it, and
    the days it runs (the end included; none: until lifted). docs/policies.md#legal-holds"""

    case: str
    reason: str
    owner: str
    start: date
    end: date | None = None


@dataclass(frozen=True)
class Finding:
    """A policy violation: one rule broken by one item (a file, a member or a database column).

    Findings carry facts (counts, ages, dates, the store, the basis), never a payload. The
    fingerprint is built from what does not drift between runs (rule id, location, content
    digest), never from times, line numbers or row offsets.
    """

    rule_id: str  # stable, e.g. "GDPR-5-1-E-RETENTION"
    severity: Severity
    title: str  # the rule's one-line title
    message: str  # this violation, with its facts ("kept 412 days; the store allows 30 days")
    location: Location
    kind: EvidenceKind  # the evidence the finding is about
    citations: tuple[str, ...]  # "GDPR Art 5(1)(e)", "740 ILCS 14/15(a)"
    remediation: str
    pack: str  # the law pack or policy that defines the rule ("gdpr", "bipa", "example-org")
    fingerprint: str  # 32 hex
    store: str | None = None  # the declared store the item belongs to, if any
    facts: tuple[tuple[str, ScalarValue], ...] = ()  # age_days, retention, basis, country …
    disposition: Disposition = Disposition.OPEN
    justification: str | None = None  # the waiver's reason, owner and expiry; or why it expired
    help_uri: str | None = None  # where the law can be read
    # The fingerprint baselines of format 1 hold (before identities were relative to the
    # scan root: the location as displayed); such baselines and waivers match it too.
    legacy_fingerprint: str | None = None
    rows: FindingRows | None = None  # a database column's rows behind the finding (bounded)
    held_by: HeldBy | None = None  # the legal hold that keeps the item (disposition HELD)

    def fact(self, key: str) -> ScalarValue | None:
        for k, v in self.facts:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class StoreInfo:
    """A declared store as reports show it: who answers for it, why and on what basis it keeps
    face data, and for how long."""

    id: str
    owner: str | None = None
    purpose: str | None = None
    legal_basis: tuple[str, ...] = ()  # basis ids (scanner/policy/bases.py) or `x-…`
    retention: str | None = None  # an ISO 8601 period, e.g. "P2Y"
    retention_from: str | None = None  # creation, last_interaction or end_of_purpose


@dataclass(frozen=True)
class DueFinding:
    """A finding a rule will raise from `deadline` on: the item does not break the rule yet
    (it falls due within `scan --due-within`). Its finding states what will be broken."""

    finding: Finding
    deadline: date  # the last day the item may be kept


class ActionStatus(str, enum.Enum):
    """How urgent an action is. Values are part of the JSON contract."""

    OVERDUE = "overdue"  # a dated deadline has passed (e.g. retention ran out)
    NOW = "now"  # a violation without a dated deadline: act now (deadline: evaluation day)
    DUE = "due"  # nothing is broken yet; it will be after the deadline


@dataclass(frozen=True)
class Action:
    """What to do about one item (or store), by whom and by when: the open or baselined
    findings and the due findings of rules that ask the same thing of it — e.g. GDPR's and UK
    GDPR's retention rules — grouped into one action that cites them all."""

    status: ActionStatus
    deadline: date
    location: Location
    store: str | None
    owner: str | None  # the store's declared owner
    title: str
    remediation: str
    severity: Severity  # the most severe of its rules
    rule_ids: tuple[str, ...]
    packs: tuple[str, ...]
    citations: tuple[str, ...]
    fingerprints: tuple[str, ...]  # of its findings (and due findings)
    known: bool = False  # every finding it groups is in the baseline


@dataclass(frozen=True)
class PolicyInfo:
    """Which policy a scan was judged against (reports cite it; baselines compare it)."""

    name: str
    files: tuple[str, ...]  # the policy file and every pack it extends, in load order
    digest: str  # sha256 over the loaded files: a changed policy is visible
    packs: tuple[str, ...]  # pack names ("gdpr", "bipa", …)
    stores: tuple[str, ...]  # declared store ids
    rules: tuple[str, ...]  # enabled rule ids
    evaluated_at: datetime  # the clock the rules were evaluated against (UTC)
    expired_waivers: tuple[str, ...] = ()  # "fingerprint: reason (owner, expired 2026-01-31)"
    unused_waivers: tuple[str, ...] = ()  # waivers that matched nothing (stale)
    store_details: tuple[StoreInfo, ...] = ()  # the declared stores, in declaration order
    due_within: str | None = None  # `scan --due-within` as an ISO 8601 period
    item_stores: tuple[tuple[Location, str], ...] = ()  # the declared store of each item in one

    def store(self, store_id: str | None) -> StoreInfo | None:
        return next((s for s in self.store_details if s.id == store_id), None)

    def store_of(self, location: Location) -> str | None:
        return next((s for loc, s in self.item_stores if loc == location), None)


# What the report's protections say when no worker was started (nothing was opened): the
# keys a confined worker reports (scanner.sandbox.Confinement.metadata). Here, not in
# scanner.pool, so that a scan that starts no worker need not import the pool.
SANDBOX_KEYS = (
    "sandbox.landlock",
    "sandbox.no_new_privs",
    "sandbox.core_dumps",
    "sandbox.max_file_bytes",
    "sandbox.problems",
    "sandbox.syscalls",
)
NOT_STARTED = tuple(
    (key, "not needed: no worker was started (no item needed opening)") for key in SANDBOX_KEYS
)


@dataclass(frozen=True)
class ScanStats:
    """Counters the engine keeps while scanning (items with evidence are in ScanResult.items)."""

    items_scanned: int = 0
    bytes_read: int = 0
    directories: int = 0
    excluded: int = 0
    hardlinks: int = 0
    archive_members: int = 0
    by_content_type: tuple[tuple[str, int], ...] = ()
    atime_preserved: bool = True
    reused: int = 0  # files and database columns whose last results were reused (state)
    # Pages of documents (PDFs) whose pictures were looked at, of how many there were (not
    # counted for a document whose last results were reused from the state).
    pages_examined: int = 0
    pages_total: int = 0
    # Mail and video counters: mail_messages, mail_parts, video_files, video_frames_examined,
    # video_frames (in the streams, as declared) — what was examined of how much.
    media: tuple[tuple[str, int], ...] = ()


class ExitCode(enum.IntEnum):
    """Documented exit codes. Precedence when several apply: 2, then 3, then 1."""

    CLEAN = 0
    FINDINGS = 1
    USAGE = 2
    INCOMPLETE = 3


@dataclass(frozen=True)
class TrendPoint:
    """One recorded scan of the same targets under the same policy (from the state's history):
    counts only."""

    scan_id: int
    started_at: str  # ISO 8601, as recorded
    findings_open: int
    new_findings: int
    resolved_findings: int
    items_with_evidence: int
    faces: int
    embeddings: int
    incomplete: bool


@dataclass(frozen=True)
class ScanResult:
    """Everything a reporter needs. Reporters are pure functions of this object."""

    tool_version: str
    models: tuple[tuple[str, str], ...]
    started_at: datetime
    finished_at: datetime
    targets: tuple[str, ...]
    settings: tuple[tuple[str, ScalarValue], ...]
    items: tuple[ItemResult, ...]  # items that hold evidence
    problems: tuple[Problem, ...]  # every skipped or failed item, including those in `items`
    stats: ScanStats = field(default_factory=ScanStats)
    interrupted: bool = False
    fail_on: Severity | None = Severity.LOW
    allow_incomplete: bool = False
    findings: tuple[Finding, ...] = ()  # policy violations (empty without a policy)
    policy: PolicyInfo | None = None  # None: no policy; evidence itself is judged by --fail-on
    trend: tuple[TrendPoint, ...] = ()  # earlier scans of these targets, then this one (state)
    # What the processes that opened the scanned content ran under (scanner.sandbox), e.g.
    # ("sandbox.landlock", "abi 7: writes confined to the private directory; TCP denied").
    protections: tuple[tuple[str, str], ...] = ()
    # Findings that fall due within --due-within (not yet broken), soonest first; and what to
    # do, by whom and by when, about every open or baselined finding and every due one.
    due: tuple[DueFinding, ...] = ()
    actions: tuple[Action, ...] = ()
    # archives and mailboxes this scan opened, each with the members it counted in it (a
    # nested container is one of its own): the report's `containers`, which a remediation
    # plan reads to act on a container only when every member examined is a finding
    containers: tuple[tuple[Location, int], ...] = ()

    @property
    def incomplete(self) -> bool:
        return self.interrupted or any(p.incomplete for p in self.problems)

    @property
    def faces(self) -> int:
        return sum(
            max((e.faces for e in i.evidence if e.kind is EvidenceKind.FACE_IMAGE), default=0)
            for i in self.items
        )

    def failing_findings(self) -> tuple[Finding, ...]:
        """Open findings at or above --fail-on (with a policy)."""
        if self.fail_on is None:
            return ()
        threshold = self.fail_on
        return tuple(
            f
            for f in self.findings
            if f.disposition is Disposition.OPEN and f.severity >= threshold
        )

    def failing_evidence(self) -> tuple[ItemResult, ...]:
        if self.fail_on is None or self.policy is not None:
            return ()
        threshold = self.fail_on
        return tuple(i for i in self.items if any(e.severity >= threshold for e in i.evidence))

    @property
    def exit_code(self) -> ExitCode:
        if self.incomplete and not self.allow_incomplete:
            return ExitCode.INCOMPLETE
        if self.failing_evidence() or self.failing_findings():
            return ExitCode.FINDINGS
        if self.policy is not None and self.policy.expired_waivers and self.fail_on is not None:
            return ExitCode.FINDINGS  # an expired waiver fails the gate, whatever it waived
        return ExitCode.CLEAN
