"""JSON and JSON Lines: every layout applications and tutorials use, paths that never name a
person, and the documents Python's json mishandles (deep nesting, huge integers, NaN, size)."""

from __future__ import annotations

import json
import time

import pytest
from embedding_samples import dlib_descriptors, model_like
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.embeddings import jsonvec
from scanner.embeddings.vecsets import Findings
from scanner.embeddings.vectors import VectorSet
from scanner.model import ProblemReason


def parse(doc: object | str, names: tuple[str, ...] = ("f.json",)) -> Findings:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return jsonvec.analyse_json(text.encode(), names)


def only(found: Findings) -> VectorSet:
    assert found.problems == [], found.problems
    assert len(found.sets) == 1, [s.where for s in found.sets]
    return found.sets[0]


def lists(n: int, d: int = 128) -> list[list[float]]:
    vs = dlib_descriptors() if d == 128 else model_like(n, d, 1)
    return [v.tolist() for v in vs[:n]]


@pytest.mark.parametrize(
    ("doc", "where", "count", "labels"),
    [
        # sprkgoyal/Face-Recognizer: {name: [[128 floats], ...]}
        (lambda: {"ada": lists(3), "grace": lists(2)}, "$.*[*]", 5, 5),
        # {name: [128 floats]}
        (lambda: {f"person{i}": v for i, v in enumerate(lists(4))}, "$.*", 4, 4),
        # face_recognition tutorials: parallel lists
        (lambda: {"encodings": lists(6), "names": [f"p{i}" for i in range(6)]},
         "$.encodings[*]", 6, 6),
        # DeepFace find() cache rows as JSON records
        (lambda: [{"identity": f"db/p{i}.jpg", "embedding": v} for i, v in enumerate(lists(7))],
         "$[*].embedding", 7, 7),
        # PhotoPrism-like: a JSON string holding the JSON array
        (lambda: [{"uid": i, "embedding_json": json.dumps(v)} for i, v in enumerate(lists(4))],
         "$[*].embedding_json", 4, 0),
        (lambda: {"model": "ArcFace", "data": {"vectors": lists(9, 512)}},
         "$.data.vectors[*]", 9, 0),
        (lambda: lists(1)[0], "$", 1, 0),
    ],
)  # fmt: skip
def test_layouts(doc: object, where: str, count: int, labels: int) -> None:
    s = only(parse(doc()))  # type: ignore[operator]
    assert (s.where, s.count, s.labels) == (where, count, labels)
    assert s.sample.shape == (count, s.dims)


def test_person_keys_are_labels_never_names() -> None:
    s = only(parse({"Jane Doe": lists(2), "John Roe": lists(1)}))
    assert s.where == "$.*[*]" and not any("Doe" in n or "Roe" in n for n in s.names)


def test_fields_of_different_kinds_are_not_merged_into_a_gallery() -> None:
    found = parse({"face_embedding": lists(1)[0], "text_embedding": lists(1)[0]})
    assert sorted(s.where for s in found.sets) == ["$.face_embedding", "$.text_embedding"]


def test_json_lines() -> None:
    text = "\n".join(json.dumps({"name": f"p{i}", "emb": v}) for i, v in enumerate(lists(8)))
    found = parse(text + "\n\n")
    s = only(found)
    assert (s.where, s.count, s.labels) == ("$[*].emb", 8, 8)
    assert dict(found.notes)["json_documents"] == 8


def test_integers_and_booleans() -> None:
    s = only(parse({"codes": list(range(128))}))
    assert s.integers is True
    assert parse({"flags": [True, False] * 64}).sets == []


def test_duplicate_keys_are_irrelevant() -> None:
    v = json.dumps(lists(1)[0])
    s = only(parse(f'{{"e": {v}, "e": {v}}}'))
    assert s.count == 1


# -- hostile documents ----------------------------------------------------------------------


def test_depth_100000_refused_without_recursion() -> None:
    started = time.monotonic()
    found = parse("[" * 100_000 + "]" * 100_000)
    assert time.monotonic() - started < 5
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.DECODE_ERROR and "nested 100000 levels deep" in detail


def test_deep_document_still_searched_as_text() -> None:
    v = ", ".join(map(repr, lists(1)[0]))
    found = parse('{"a": ' * 70 + f'{{"embedding": [{v}]}}' + "}" * 70)
    assert "nested 72 levels deep" in found.problems[0][1]
    (s,) = found.sets
    assert (s.where, s.dims) == ("embedding", 128)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    s = only(parse({"note": "[" * 500, "embedding": lists(1)[0]}))
    assert s.where == "$.embedding"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"n": ' + "9" * 5000 + "}", "an integer of 5000 digits"),
        ('{"v": [NaN, 1.0]}', "NaN is not JSON"),
        ('{"v": [Infinity]}', "Infinity is not JSON"),
        ('{"v": [-Infinity]}', "-Infinity is not JSON"),
        ('{"v": [1, 2', "invalid JSON"),
        ("\xff\xfe{}", "not UTF-8"),
    ],
)
def test_refused_documents(text: str, why: str) -> None:
    found = jsonvec.analyse_json(text.encode("latin-1"), ())
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.DECODE_ERROR and why in detail
    assert found.sets == []


def test_70_mib_document_not_parsed_but_searched() -> None:
    rows = ", ".join(json.dumps(v) for v in lists(20))
    text = '{"note": "' + "x" * (70 * 1024 * 1024) + '", "embeddings": [' + rows + "]}"
    started = time.monotonic()
    found = jsonvec.analyse_json(text.encode(), ("big.json",))
    assert time.monotonic() - started < 30
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.OVERSIZE and "not parsed" in detail
    (s,) = found.sets
    assert (s.count, s.dims, s.where) == (20, 128, "embeddings")


def reference_depth(text: str) -> int:
    """The same measure, one character at a time (slow, obviously right)."""
    depth = deepest = run = 0
    inside = False
    for ch in text:
        if ch == '"' and run % 2 == 0:
            inside = not inside
        elif not inside and ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif not inside and ch in "]}":
            depth -= 1
        run = run + 1 if ch == "\\" else 0
    return deepest


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='[]{}"\\ a', max_size=120), st.sampled_from([3, 7, 64, 1 << 20]))
def test_nesting_depth_matches_a_character_walk(tail: str, chunk: int) -> None:
    text = "[" * (jsonvec.MAX_DEPTH + 1) + tail  # past the shortcut for shallow documents
    original = jsonvec._CHUNK
    jsonvec._CHUNK = chunk  # chunk borders inside escapes and strings
    try:
        assert jsonvec.nesting_depth(text) == reference_depth(text)
    finally:
        jsonvec._CHUNK = original


def test_unterminated_escaped_strings_are_linear() -> None:
    """`"\\"\\"…`: a string pattern would restart at every quote (quadratic). Four times the
    input must cost about four times the CPU, not sixteen (a ratio of CPU times, not a
    deadline: it holds on a loaded machine)."""

    def cost(n: int) -> float:
        started = time.process_time()
        found = parse("[" * 70 + '"\\"' * n)
        assert "nested 70 levels deep" in found.problems[0][1]
        return time.process_time() - started

    small = min(cost(400_000) for _ in range(2))
    assert cost(1_600_000) < 8 * max(small, 0.01)
