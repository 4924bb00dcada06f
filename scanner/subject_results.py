"""The results of a subject search and of a breach triage (scanner.subject): matches, counts,
estimates.

Reporters (scanner.reporters.subject_*, triage_*) are pure functions of these objects, as
the scan reporters are of a ScanResult. Distances, confidences, counts, boxes relative to
the image, dates, countries and locations — never a pixel, a descriptor or a name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from scanner.model import (
    EvidenceKind,
    ExitCode,
    FaceBox,
    ItemContext,
    Location,
    ScanResult,
    VectorRef,
)

MAX_HITS = 20  # stored vectors within the tolerance named per store (nearest first)


@dataclass(frozen=True)
class StoredHit:
    """One stored vector within the tolerance — or a face in an image stored in a database
    row —: which one (a database row by its key and its own date, or a file's vector by the
    label beside it and its path) and its distance."""

    ref: VectorRef
    distance: float


@dataclass(frozen=True)
class SubjectMatch:
    """One place where the person's face is (a face in an image) or is stored (templates)."""

    location: Location
    kind: EvidenceKind  # face_image or face_embedding
    distance: float  # to the nearest probe (face_recognition's face_distance)
    confidence: float  # 0..1, see scanner.subject.match.confidence
    detector: str
    box: FaceBox | None = None  # the face, relative to the upright image
    where: str | None = None  # the vector set inside the item ("known_encodings", "t.col")
    within: int = 0  # stored vectors within the tolerance
    compared: int = 0  # stored vectors compared
    count: int = 0  # stored vectors the set holds
    app: str | None = None
    sha256: str | None = None
    context: ItemContext = field(default_factory=ItemContext)
    # which stored vectors (nearest first, at most MAX_HITS; `within` counts them all) or
    # which database row's image: a row's key and date, or a label and path
    hits: tuple[StoredHit, ...] = ()


@dataclass(frozen=True)
class NotCompared:
    """Face data that the probe could not be compared with, or only in part: never dropped."""

    location: Location
    kind: EvidenceKind
    reason: str
    where: str | None = None
    count: int = 0  # faces or vectors not compared (0: unknown)
    blocking: bool = True  # makes the search incomplete (exit 3): the person may be there


@dataclass(frozen=True)
class SubjectResult:
    """A subject search: where the person's face was found, and what could not be searched."""

    scan: ScanResult  # the scan underneath (targets, problems, settings, times)
    tolerance: float
    probe_photos: int
    matches: tuple[SubjectMatch, ...]
    not_compared: tuple[NotCompared, ...]
    faces_compared: int  # faces in images (files, members, database rows)
    stores_compared: int  # sets of stored 128-d dlib vectors compared
    vectors_compared: int
    nearest: float | None  # the smallest distance seen anywhere (a match or not)

    @property
    def found(self) -> bool:
        return bool(self.matches)

    @property
    def incomplete(self) -> bool:
        return self.scan.incomplete or any(n.blocking for n in self.not_compared)

    @property
    def exit_code(self) -> ExitCode:
        """0: found nowhere and everything was compared; 1: found; 3: not everything could be
        searched (unless allowed). 3 wins over 1, as for a scan."""
        if self.incomplete and not self.scan.allow_incomplete:
            return ExitCode.INCOMPLETE
        return ExitCode.FINDINGS if self.found else ExitCode.CLEAN


@dataclass(frozen=True)
class PeopleEstimate:
    """Distinct people among the faces (and complete stored dlib templates), clustered."""

    estimate: int
    low: int
    high: int
    clustered: int  # descriptors clustered (faces + stored templates)
    threshold: float  # the clustering threshold of the estimate
    sweep: tuple[float, float]  # thresholds whose counts give the range
    not_clustered: int = 0  # faces/templates that could not be clustered (upper bound added)
    method: str = "dlib.chinese_whispers_clustering; cannot-link: faces of one image"


@dataclass(frozen=True)
class Count:
    """A labelled count (a country, an application, a model family)."""

    label: str
    count: int


@dataclass(frozen=True)
class TriageItem:
    """The triage's figures for one item with face data: every row of a report and every
    total come from these, so they add up."""

    location: Location
    faces: int  # faces in the file or archive member (every face searched for); 0 for columns
    faces_lower_bound: bool  # the faces could not all be searched for: at least `faces`
    image_rows: int  # database columns: estimated rows holding face images
    templates: int  # stored face templates (vectors)
    labelled: int  # templates or face-image rows stored with a person's name or label


@dataclass(frozen=True)
class TriageResult:
    """A breach summary: what kinds of face data, how much, about how many people, where."""

    scan: ScanResult
    files_with_faces: int  # files and archive members with face images
    faces: int  # faces in them (every face searched for)
    database_image_rows: int  # estimated rows of face images in database columns
    template_stores: int  # files/columns holding face templates
    templates: int  # stored vectors in them
    tagged_items: int  # items whose metadata tags faces or names people
    named_people: int  # distinct people named in face tags (by digest)
    people: PeopleEstimate
    families: tuple[Count, ...]  # templates by model family
    countries: tuple[Count, ...]  # items with face data by country (region) of their places
    applications: tuple[Count, ...]  # items by application recognised
    oldest: datetime | None
    newest: datetime | None
    unreadable: int  # items that could not be examined (incomplete scan)
    figures: tuple[TriageItem, ...]  # one per item of `scan.items`, in that order
    labelled: int  # templates/rows stored with a name or label beside them (sum of items)
    labelled_stores: int  # the stores (files, columns) holding them

    @property
    def faces_lower_bound(self) -> bool:
        """`faces` is a lower bound: an item's faces could not all be searched for, or items
        could not be examined at all (they may hold more)."""
        return self.unreadable > 0 or any(f.faces_lower_bound for f in self.figures)

    @property
    def records(self) -> int:
        """Approximate records of personal data: face images, database rows, templates and
        tagged files."""
        return self.files_with_faces + self.database_image_rows + self.templates + self.tagged_items

    @property
    def exit_code(self) -> ExitCode:
        """As a scan: 1 when face data was found, 3 when incomplete."""
        return self.scan.exit_code
