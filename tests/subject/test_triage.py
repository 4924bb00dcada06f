"""`triage` adds up: every face counted (as `scan --count-faces` counts them), the summary
equal to the sum of its rows in every format, two faces of one photo never one person, and
templates stored with names or labels counted as named — on real photos and real stores.

Group photos are built in a temporary folder by pasting real single-face photos of the
development set (read in place) onto one canvas; the development set's own group photos and
its labelled face_recognition pickle are scanned where they are.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from db_helpers import dlib_descriptors
from PIL import Image
from subject_helpers import sample_faces, sample_scan

from scanner.config import DetectionSettings, ScanConfig
from scanner.engine import run_scan
from scanner.model import EvidenceKind, ItemResult
from scanner.reporters import triage_html, triage_markdown
from scanner.reporters.subject_formats import SubjectFormat, render_triage
from scanner.subject import clustering
from scanner.subject.clustering import NO_GROUP, cluster, estimate_people
from scanner.subject.compare import FaceSearch
from scanner.subject.spec import ItemFaces
from scanner.subject.triage import summarise, triage
from scanner.subject_results import TriageResult

PARTY = ("alfred_molina", "bill_nunn", "j_k_simmons", "james_franco", "obama")
GROUP_PHOTOS = (  # the development set's group photos, with the faces --count-faces finds
    "facenet_pytorch_data/multiface.jpg",
    "insightface_images/t1.jpg",
    "dlib_examples/faces/2007_007763.jpg",
)
NUMBER = re.compile(r"\d+")
PIPE = re.compile(r"(?<!\\)\|")  # a cell boundary (not an escaped pipe)


# -- building real photos ------------------------------------------------------------------


def _single_faces(devset: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    with open(devset / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["kind"] == "face_image" and r["faces"] == "1" and r["identity"]:
                out.setdefault(r["identity"], []).append(devset / r["path"])
    return out


def _group_photo(photos: list[Path], out: Path, tile: int = 320) -> Path:
    """One photo of len(photos) people: each real single-face photo pasted side by side."""
    canvas = Image.new("RGB", (tile * len(photos) + 40 * (len(photos) + 1), tile + 80))
    canvas.paste((120, 110, 100), (0, 0, *canvas.size))
    for n, path in enumerate(photos):
        with Image.open(path) as im:
            face = im.convert("RGB")
        face.thumbnail((tile, tile))
        canvas.paste(face, (40 + n * (tile + 40), 40))
    canvas.save(out, quality=92)
    return out


@pytest.fixture(scope="module")
def party(devset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """party.jpg: five different people; twins.jpg: two photos of one person, side by side."""
    folder = tmp_path_factory.mktemp("party")
    singles = _single_faces(devset)
    return {
        "party": _group_photo([singles[p][0] for p in PARTY], folder / "party.jpg"),
        "twins": _group_photo(singles["John_Salley"][:2], folder / "twins.jpg"),
    }


@pytest.fixture(scope="module")
def group_triage(devset: Path, party: dict[str, Path]) -> TriageResult:
    targets = (party["party"], party["twins"], *(devset / p for p in GROUP_PHOTOS))
    return triage(ScanConfig(targets=targets, workers=0))


def _figures(t: TriageResult) -> dict[str, int]:
    return {
        i.location.path.rsplit("/", 1)[-1]: f.faces
        for i, f in zip(t.scan.items, t.figures, strict=True)
    }


def _descriptors(photo: Path) -> np.ndarray:
    """Every face's descriptor in `photo`, computed by the workers' own search (in memory)."""
    got: list[ItemFaces] = []

    def keep(result: ItemResult, faces: object) -> None:
        assert isinstance(faces, ItemFaces)
        got.append(faces)

    search = FaceSearch(np.empty((0, 128)), keep_descriptors=True)
    run_scan(ScanConfig(targets=(photo,), workers=0), hook=search, on_extra=keep)
    assert len(got) == 1 and got[0].descriptors is not None
    return got[0].descriptors


# -- the sums, read back from each format --------------------------------------------------

SUMMED = {  # summary row -> the item column it sums
    "Faces in them": "Faces",
    "Face images in database rows (estimated)": "Image rows",
    "Face templates": "Templates",
    "Templates and image rows stored with a name or label": "Named",
}


def _md_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in PIPE.split(line.strip()[1:-1])]
            if not all(set(c) <= set("-:") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _number(cell: str) -> int:
    found = NUMBER.search(cell)
    assert found, cell
    return int(found.group())


def _sums(tables: list[list[list[str]]]) -> tuple[dict[str, int], dict[str, int]]:
    """(summary figure by row name, sum of each item column) of a report's tables."""
    summary = next(t for t in tables if any(r[0] == "Faces in them" for r in t))
    items = next(t for t in tables if t[0][:3] == ["Location", "Kind", "Faces"])
    head, rows = items[0], items[1:]
    figures = {r[0]: _number(r[1]) for r in summary if r[0] in SUMMED}
    sums = {col: sum(_number(r[head.index(col)]) for r in rows) for col in SUMMED.values()}
    return figures, sums


def assert_adds_up(t: TriageResult) -> None:
    md = render_triage(t, SubjectFormat.MARKDOWN)
    parser = _Tables()
    parser.feed(render_triage(t, SubjectFormat.HTML))
    for tables in (_md_tables(md), parser.tables):
        figures, sums = _sums(tables)
        assert {SUMMED[k]: v for k, v in figures.items()} == sums
        assert figures["Faces in them"] == t.faces
    doc = json.loads(render_triage(t, SubjectFormat.JSON))
    for key, item_key in (
        ("faces", "faces"),
        ("database_image_rows", "image_rows"),
        ("templates", "templates"),
        ("labelled", "labelled"),
    ):
        assert doc["summary"][key] == sum(i[item_key] for i in doc["items"]), key
    assert doc["summary"]["files_with_faces"] == sum(1 for i in doc["items"] if i["faces"])
    assert doc["summary"]["faces"] == t.faces
    if t.files_with_faces:
        lower = "at least " if t.faces_lower_bound else ""
        assert f"{t.files_with_faces} files, {lower}{t.faces} faces" in md


# -- the tests -----------------------------------------------------------------------------


def test_the_summary_is_the_sum_of_its_rows_in_every_format(group_triage: TriageResult) -> None:
    assert_adds_up(group_triage)
    # and on the hand-built sample: database columns, stores, a face that was not described
    assert_adds_up(summarise(sample_scan(), sample_faces(sample_scan())))


def test_rows_beyond_the_listed_ones_are_summed_in_a_line(group_triage: TriageResult) -> None:
    listed = group_triage.figures[:2]
    more = group_triage.figures[2:]
    line = f"… and {len(more)} more items with {sum(f.faces for f in more)} faces"
    md = triage_markdown.render(group_triage, max_rows=2)
    assert line in md and str(sum(f.faces for f in listed) + sum(f.faces for f in more)) in md
    assert line in triage_html.render(group_triage, max_rows=2)


def test_a_group_photo_counts_every_face(
    group_triage: TriageResult, party: dict[str, Path], devset: Path
) -> None:
    rows = _figures(group_triage)
    assert rows["party.jpg"] == len(PARTY)  # five people pasted, five faces counted
    assert rows["twins.jpg"] == 2
    # the same number as `scan --count-faces`, photo by photo; the plain scan stops early
    targets = (party["party"], party["twins"], *(devset / p for p in GROUP_PHOTOS))
    exact = run_scan(
        ScanConfig(targets=targets, workers=0, detection=DetectionSettings(count_faces=True))
    )
    counted = {
        i.location.path.rsplit("/", 1)[-1]: max(
            e.faces for e in i.evidence if e.kind is EvidenceKind.FACE_IMAGE
        )
        for i in exact.items
    }
    assert rows == counted
    assert group_triage.faces == sum(counted.values())
    assert not group_triage.faces_lower_bound
    quick = run_scan(ScanConfig(targets=(party["party"],), workers=0))
    assert quick.items[0].evidence[0].faces < len(PARTY)  # what the rows used to show


def test_a_count_that_is_a_lower_bound_says_so(group_triage: TriageResult) -> None:
    # the worker's search of every face did not come back for one photo (a failed hook)
    scan = group_triage.scan
    quick = run_scan(
        ScanConfig(targets=tuple(Path(i.location.path) for i in scan.items), workers=0)
    )
    t = summarise(quick, {})
    assert t.faces_lower_bound and any(f.faces_lower_bound for f in t.figures)
    md = render_triage(t, SubjectFormat.MARKDOWN)
    assert f"| Faces in them | at least {t.faces} |" in md
    doc = json.loads(render_triage(t, SubjectFormat.JSON))
    assert doc["summary"]["faces_lower_bound"] is True
    assert_adds_up(t)


def test_two_faces_of_one_photo_are_never_one_person(party: dict[str, Path], devset: Path) -> None:
    # 2007_007763.jpg: seven children (the manifest's count; the detector finds all seven)
    # whose descriptors are close (dlib's descriptors separate children poorly): clustered
    # alone, five of them were one person.
    # twins.jpg: two photos of one man pasted side by side (0.25 apart): a photo shows a
    # person once, so his two faces count two — the constraint's price for collages.
    group = devset / "dlib_examples" / "faces" / "2007_007763.jpg"
    t = triage(ScanConfig(targets=(group, party["twins"]), workers=0))
    assert t.faces == 9
    assert (t.people.estimate, t.people.low) == (9, 9)


def test_cannot_link_with_real_descriptors(party: dict[str, Path]) -> None:
    faces = _descriptors(party["twins"])
    assert faces.shape == (2, 128)
    assert float(np.linalg.norm(faces[0] - faces[1])) < 0.5  # the same man: close
    assert estimate_people(faces).estimate == 1  # without the constraint: one person
    split = estimate_people(faces, groups=[7, 7])
    assert (split.estimate, split.low, split.high) == (2, 2, 2)
    labels = cluster(faces, 0.6, np.array([7, 7]))
    assert labels[0] != labels[1]
    # faces of two different photos may still be one person; no group: no constraint
    assert estimate_people(faces, groups=[1, 2]).estimate == 1
    assert estimate_people(faces, groups=[NO_GROUP, NO_GROUP]).estimate == 1


def _apart(rows: np.ndarray, n: int) -> np.ndarray:
    """n of `rows` (real descriptors of different faces) at least 0.75 from each other."""
    kept: list[np.ndarray] = []
    for r in rows:
        if all(np.linalg.norm(r - k) > 0.75 for k in kept):
            kept.append(r)
    assert len(kept) >= n
    return np.array(kept[:n])


def test_cannot_link_splits_a_merged_cluster_without_merging_others() -> None:
    rows = _apart(dlib_descriptors(24), 5)
    pairs = np.vstack([rows, rows + 0.01])  # each person seen twice: 5 people, 10 faces
    assert estimate_people(pairs).estimate == 5
    # one photo holds person 0 twice: 6 counted; every other person is still one
    groups = [5, *[NO_GROUP] * 4, 5, *[NO_GROUP] * 4]
    assert estimate_people(pairs, groups=groups).estimate == 6
    with pytest.raises(ValueError):
        estimate_people(pairs, groups=[1, 2])


def test_a_cluster_too_large_to_cluster_again_counts_the_fewest_people_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _apart(dlib_descriptors(24), 5)
    pairs = np.vstack([rows, rows + 0.01, rows + 0.02])  # 5 people, each seen 3 times
    monkeypatch.setattr(clustering, "SPLIT_MAX", 1)
    groups = [5, *[NO_GROUP] * 4, 5, *[NO_GROUP] * 4, 5, *[NO_GROUP] * 4]
    assert estimate_people(pairs, groups=groups).estimate == 5 + 2  # person 0 three times


def test_named_counts_from_a_labelled_pickle_and_name_columns(devset: Path, tmp_path: Path) -> None:
    pickle_path = devset / "actor_recognition" / "encodings" / "encodings.pickle"
    db = tmp_path / "gate.db"
    vectors = dlib_descriptors(6)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE visitors (id INTEGER PRIMARY KEY, full_name TEXT, "
            "face_encoding BLOB, created_at TEXT)"
        )
        conn.execute("CREATE TABLE badges (id INTEGER PRIMARY KEY, face_encoding BLOB)")
        conn.execute("CREATE TABLE members (id INTEGER PRIMARY KEY, surname TEXT, photo BLOB)")
        for n, photo in enumerate(_single_faces(devset)["John_Savage"][:3]):
            conn.execute(
                "INSERT INTO members VALUES (?, ?, ?)", (n, f"Zyxwv{n}", photo.read_bytes())
            )
        for n, vec in enumerate(vectors):
            conn.execute(
                "INSERT INTO visitors VALUES (?, ?, ?, '2024-01-01')",
                (n, f"Visitor Zyxwv{n}", vec.astype("<f8").tobytes()),
            )
            conn.execute("INSERT INTO badges VALUES (?, ?)", (n, vec.astype("<f8").tobytes()))
    conn.close()
    gallery = devset / "sprkgoyal_face_recognizer" / "encodings.json"  # {name: [vectors]}
    t = triage(ScanConfig(targets=(pickle_path, gallery, db), workers=0))
    by_where = {
        i.location.display.rsplit("#", 1)[-1].rsplit("/", 1)[-1]: f
        for i, f in zip(t.scan.items, t.figures, strict=True)
    }
    assert by_where["encodings.pickle"].templates == 102
    assert by_where["encodings.pickle"].labelled == 102  # one name per encoding
    assert by_where["visitors.face_encoding"].labelled == 6  # a full_name column beside
    assert by_where["badges.face_encoding"].templates == 6
    assert by_where["badges.face_encoding"].labelled == 0  # no name in that table
    assert by_where["members.photo"].image_rows == 3  # face images, a surname beside them
    assert by_where["members.photo"].labelled == 3
    assert (by_where["encodings.json"].templates, by_where["encodings.json"].labelled) == (5, 5)
    assert (t.labelled, t.labelled_stores, t.named_people) == (116, 4, 0)
    for fmt in SubjectFormat:
        text = render_triage(t, fmt)
        assert "Zyxwv" not in text  # counts only: never a name
    md = render_triage(t, SubjectFormat.MARKDOWN)
    assert "116 templates or face-image rows stored with a person's name or label" in md
    assert json.loads(render_triage(t, SubjectFormat.JSON))["summary"]["labelled"] == 116
    assert_adds_up(t)
