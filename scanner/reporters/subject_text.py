"""Sentences shared by the Markdown and HTML forms of the subject and triage reports, so both
say the same thing. Plain text: each format escapes it for itself."""

from __future__ import annotations

from scanner.model import EvidenceKind, ItemContext
from scanner.reporters.findings import ALL_IN_JSON, iso
from scanner.subject_results import (
    PeopleEstimate,
    StoredHit,
    SubjectMatch,
    SubjectResult,
    TriageResult,
)

MAX_ROWS = 2_000  # rows listed per table in Markdown and HTML (JSON lists all)
HITS_SHOWN = 5  # stored vectors named per match in Markdown and HTML (JSON: up to 20)

HOW_TO_READ = (
    "Each face found and each stored face template of the same kind (128-d dlib / "
    "face_recognition descriptors) was compared with the probe photo(s): the distance is the "
    "Euclidean distance between the two descriptors (face_recognition's face_distance); at "
    "or below the tolerance it is a match. The confidence is a logistic function of the "
    "distance (0.5 at 0.6, 0.92 at 0.5, 0.08 at 0.7), an indication and not a probability. "
    "Stored templates of other models (other sizes, or 128-d vectors whose norms are not "
    "dlib's) cannot be compared and are listed as not compared, never left out."
)
PRIVACY = (
    "The probe photo(s) and every descriptor existed only in the memory of the processes "
    "that searched; none was written to a report, a cache, the state database, a log or a "
    "temporary file. This report holds locations, distances and counts only."
)

FOOTNOTE = (
    "Faces were counted by searching every face of every image, as scan --count-faces "
    'does ("at least" where a search could not finish, or items could not be examined); '
    "every total is the sum of the rows. Distinct people by clustering the faces' 128-d "
    "descriptors in memory (never written anywhere); two faces of one image are never "
    "counted as one person."
)


def verdict(result: SubjectResult) -> str:
    places = len({m.location for m in result.matches})
    if result.found:
        n = len(result.matches)
        head = f"FOUND: the person's face is in {places} location(s) ({n} match(es))"
    else:
        head = "NOT FOUND: no face or stored template within the tolerance"
    if result.incomplete:
        head += "; the search is INCOMPLETE: some face data could not be compared or scanned"
    return head + f" (exit code {int(result.exit_code)})."


def searched(result: SubjectResult) -> str:
    scan = result.scan
    nearest = f"{result.nearest:.3f}" if result.nearest is not None else "none"
    return (
        f"{scan.stats.items_scanned} items scanned ({scan.stats.reused} unchanged since the "
        f"last scan and known to hold no face data); {result.faces_compared} faces and "
        f"{result.vectors_compared} stored templates in {result.stores_compared} store(s) "
        f"compared with {result.probe_photos} probe photo(s) at tolerance "
        f"{result.tolerance:g}; nearest distance seen: {nearest}."
    )


def what(m: SubjectMatch) -> str:
    if m.kind is EvidenceKind.FACE_EMBEDDING:
        text = (
            f"stored face template(s): {m.within} of {m.compared} compared vectors within the "
            f"tolerance ({m.count} stored) in {m.where}"
        )
        if m.hits:
            shown = m.hits[:HITS_SHOWN]
            text += ": " + "; ".join(hit_text(h) for h in shown)
            if m.within > len(shown):
                text += f"; and {m.within - len(shown)} more"
        return text
    if m.box is not None:
        b = m.box
        frame = f", frame {b.frame}" if b.frame else ""
        turned = f", turned {b.rotation}°" if b.rotation else ""
        return (
            f"face in the image at x={b.x:.2f} y={b.y:.2f} w={b.w:.2f} h={b.h:.2f} (relative)"
            f"{frame}{turned}"
        )
    text = "face in an image stored in this database column"
    return text + (f": {hit_text(m.hits[0])}" if m.hits else "")


def hit_text(h: StoredHit) -> str:
    """`row id=7 (created_at 2025-03-04 10:00:00) at 0.012`, `label 'ada' at encodings #2 at
    0.301`."""
    who = h.ref.display or "a vector"
    dated = f" ({h.ref.date_column} {h.ref.date})" if h.ref.date is not None else ""
    return f"{who}{dated} at {h.distance:.3f}"


def match_when(m: SubjectMatch) -> str:
    """When the match was stored: the matching row's own date when its table has a date
    column (the nearest such row); never the table's oldest row for a matching row without
    one; else the item's date (a file's)."""
    dated = next((h for h in m.hits if h.ref.date is not None), None)
    if dated is not None:
        return f"{dated.ref.date} ({dated.ref.date_column} of the matching row)"
    if any(h.ref.row is not None for h in m.hits):
        return "unknown (the matching row has no date column)"
    return when(m.context)


def when(c: ItemContext) -> str:
    if c.created is None:
        return ""
    source = f" ({c.created_source})" if c.created_source else ""
    return iso(c.created)[:10] + source


def places(c: ItemContext) -> str:
    return ", ".join(sorted({p.region or p.country for p in c.places}))


def people(p: PeopleEstimate) -> str:
    if not p.clustered and not p.not_clustered:
        return "no face to count"
    text = (
        f"about {p.estimate} (range {p.low}–{p.high}): {p.clustered} faces and stored dlib "
        f"templates clustered with dlib's Chinese whispers at {p.threshold:g} (two faces of "
        f"one image never taken for one person); the range is the count at {p.sweep[1]:g} "
        f"and at {p.sweep[0]:g}"
    )
    if p.not_clustered:
        text += (
            f", plus up to {p.not_clustered} faces or templates that could not be clustered "
            "(other models, unreadable faces, rows not sampled), each counted as a possible "
            "further person"
        )
    return text


def faces(t: TriageResult) -> str:
    """The faces in files, said to be a lower bound when it is one."""
    return f"at least {t.faces}" if t.faces_lower_bound else str(t.faces)


def named(t: TriageResult) -> str:
    """Who is named: distinct names in face tags, and templates or image rows stored with a
    name or label (one per record: the same person may carry several)."""
    who = "person" if t.named_people == 1 else "people"
    text = f"{t.named_people} distinct {who} named in face tags"
    if t.labelled:
        text += (
            f"; {t.labelled} templates or face-image rows stored with a person's name or "
            f"label beside them, in {t.labelled_stores} store(s) (at most {t.labelled} "
            "people: one label per record)"
        )
    return text


def summary_rows(t: TriageResult) -> list[tuple[str, str]]:
    """The summary table: each figure is the sum of the items' rows (TriageResult.figures)."""
    return [
        ("Files with faces", str(t.files_with_faces)),
        ("Faces in them", faces(t)),
        ("Face images in database rows (estimated)", str(t.database_image_rows)),
        ("Face-template stores", str(t.template_stores)),
        ("Face templates", str(t.templates)),
        ("Templates and image rows stored with a name or label", str(t.labelled)),
        ("Items with face tags", str(t.tagged_items)),
        ("Distinct people named in tags", str(t.named_people)),
        (
            "Distinct people (estimate)",
            f"{t.people.estimate} ({t.people.low}–{t.people.high})",
        ),
        ("Items that could not be examined", str(t.unreadable)),
    ]


ITEM_COLUMNS = ("Location", "Kind", "Faces", "Image rows", "Templates", "Named", "Date", "Places")
ITEM_NUMBERS = {2, 3, 4, 5}  # the columns that hold counts (right-aligned)


def item_rows(t: TriageResult, max_rows: int = MAX_ROWS) -> list[tuple[str, ...]]:
    """The items with face data, one row each, with the figures the totals add up."""
    out: list[tuple[str, ...]] = []
    for item, f in zip(t.scan.items[:max_rows], t.figures[:max_rows], strict=True):
        out.append(
            (
                item.location.display,
                ", ".join(sorted({e.kind.value for e in item.evidence})),
                f"at least {f.faces}" if f.faces_lower_bound else str(f.faces),
                str(f.image_rows),
                str(f.templates),
                str(f.labelled),
                when(item.context),
                ", ".join(item.context.countries),
            )
        )
    return out


def rest(t: TriageResult, max_rows: int = MAX_ROWS) -> str:
    """What the rows beyond `max_rows` hold, so the listed rows and the rest add up."""
    more = t.figures[max_rows:]
    if not more:
        return ""
    return (
        f"… and {len(more)} more items with {sum(f.faces for f in more)} faces, "
        f"{sum(f.image_rows for f in more)} image rows, {sum(f.templates for f in more)} "
        f"templates and {sum(f.labelled for f in more)} named ({ALL_IN_JSON})."
    )


def categories(t: TriageResult) -> list[tuple[str, str]]:
    """GDPR Art 33(3)(a): categories of data and of records, with approximate numbers."""
    out = []
    if t.files_with_faces:
        out.append(
            (
                "Photographs showing faces (personal data; biometric data if processed to "
                "identify, Art 9)",
                f"{t.files_with_faces} files, {faces(t)} faces",
            ),
        )
    if t.database_image_rows:
        out.append(("Face images stored in databases", f"about {t.database_image_rows} rows"))
    if t.templates or t.template_stores:
        out.append(
            (
                "Face templates (biometric data for unique identification, Art 9)",
                f"{t.templates} templates in {t.template_stores} stores",
            ),
        )
    if t.labelled:
        out.append(
            (
                "Names or labels stored with templates or face images (one per record)",
                f"{t.labelled} records in {t.labelled_stores} store(s)",
            ),
        )
    if t.tagged_items:
        out.append(
            (
                "Face tags naming people (names kept as digests)",
                f"{items(t.tagged_items)}, {t.named_people} distinct name(s)",
            ),
        )
    return out


def items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def date_range(t: TriageResult) -> str:
    if t.oldest is None and t.newest is None:
        return "unknown"
    oldest = iso(t.oldest)[:10] if t.oldest else "?"
    newest = iso(t.newest)[:10] if t.newest else "?"
    return f"{oldest} to {newest}"
