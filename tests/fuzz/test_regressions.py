"""Every crash the fuzzers and the hostile corpus found, as a small input that reproduced it.

Each input was reduced by hand from what the fuzzer wrote; each test names the fix. The same
inputs are seeds of the harnesses (make_seeds.py), so mutations keep exploring around them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from helpers import zip_with_empty_name

from scanner.config import Limits
from scanner.embeddings import textvec
from scanner.model import ContentType, FileLocation, MemberLocation, Problem
from scanner.policy import yamlsource
from scanner.policy.loader import PolicyErrors, load_policy
from scanner.sniff import sniff
from scanner.sources.archive import ArchiveWalker, Member

ROW = ",".join(["0.5"] * 12)


def test_zip_member_with_an_empty_name() -> None:
    """archive fuzzer: ZipInfo.is_dir() indexes the name's last character, so an empty name
    raised IndexError out of the walker and ended the whole scan (internal error, no report).
    Fixed in sources/archive.py: `_is_dir` on the name, and any unexpected library exception
    fails that archive (archive_corrupt), never the scan."""
    out = list(
        ArchiveWalker(Limits()).expand(
            FileLocation("a.zip"), io.BytesIO(zip_with_empty_name(b"hello")), ContentType.ZIP
        )
    )
    assert out == [
        Member(MemberLocation(FileLocation("a.zip"), ("",)), b"hello", ContentType.TEXT, None)
    ]


def test_an_unexpected_library_error_fails_the_archive_only() -> None:
    class Exploding(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            raise KeyError("a parser bug")

    exploding = Exploding(bytes(100))  # not empty: an empty stream is refused unread
    (problem,) = ArchiveWalker(Limits()).expand(FileLocation("b.zip"), exploding, ContentType.ZIP)
    assert isinstance(problem, Problem) and problem.reason.value == "archive_corrupt"
    assert "unexpected KeyError" in problem.detail


@pytest.mark.parametrize(
    "text",
    [
        # csv fuzzer: a first data row (no header) with a non-number in a column that is
        # numeric below it: ValueError converting the column. Fixed in textvec._csv_sets: the
        # first row must be numeric too when it is not a header.
        "\n".join(["0.5,n/a," + ",".join(["0.5"] * 10)] + [ROW] * 5),
        # csv fuzzer: a blank-but-not-empty cell (" ") counts as missing, but was converted
        # as " ": ValueError. Fixed: cells are stripped before conversion.
        "\n".join([ROW] + ["0.5, ," + ",".join(["0.5"] * 10)] * 5),
    ],
    ids=["first-row-not-numeric", "whitespace-cell"],
)
def test_csv_columns_that_only_look_numeric(text: str) -> None:
    found = textvec.analyse_csv(text, ())
    assert found.problems == []
    assert [vs.count for vs in found.sets] == [6]


def test_an_empty_quoted_key_before_numbers() -> None:
    """json/text fuzzer: `'' = [...]` made the name finder index an empty string (IndexError:
    a detector error, and the vectors after it were never classified). Fixed in
    textvec._nearest_name."""
    found = textvec.analyse_text("'' = [" + ", ".join(["0.5"] * 64) + "]", ())
    assert [vs.count for vs in found.sets] == [1]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # policy fuzzer: PyYAML checks characters when its loader is built, outside the
        # try block: ReaderError escaped as an internal error (exit 3, not 2).
        ("schema_version: 1\nname: \x02\n", "unacceptable character"),
        # policy fuzzer: PyYAML's parser recurses per nesting level: RecursionError.
        ("schema_version: 1\nname: " + "[" * 5000 + "\n", "nested too deeply"),
    ],
    ids=["control-character", "deep-nesting"],
)
def test_yaml_the_reader_refuses_is_a_policy_error(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(yamlsource.YamlError, match=words):
        yamlsource.parse(text)
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyErrors) as info:
        load_policy(path)
    assert words in str(info.value.errors[0])


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_policy_that_extends_a_device_or_fifo_is_refused_unread(
    tmp_path: Path, target: str
) -> None:
    """hostile corpus: `extends: [/dev/zero]` read forever (memory until killed), a FIFO
    blocked. Fixed: yamlsource.read_bounded refuses what is not a regular file, and reads
    at most the size limit (policies, waivers and baselines)."""
    if target == "fifo":
        os.mkfifo(tmp_path / "pipe.yaml")
        target = "pipe.yaml"
    path = tmp_path / "p.yaml"
    path.write_text(f"schema_version: 1\nname: p\nextends: [{target}]\n", encoding="utf-8")
    with pytest.raises(PolicyErrors) as info:
        load_policy(path)
    assert "not a regular file" in str(info.value.errors[0])


def test_latin1_text_is_still_text() -> None:
    """hostile corpus: a CSV or JSON file in Latin-1/cp1252 (an Excel export with accented
    names) was sniffed as unknown binary and never examined: a silent miss. Fixed in
    sniff._sniff_text: undecodable text is read as Latin-1 and judged printable or not."""
    csv = "name;v1;v2;v3\ncafé;0.1;0.2;0.3\nzoë;0.4;0.5;0.6\n".encode("latin-1")
    assert sniff(csv) is ContentType.CSV
    assert sniff('{"name": "Zoë", "v": [0.5]}'.encode("cp1252")) is ContentType.JSON
    assert sniff(bytes(range(1, 256)) * 16) is ContentType.UNKNOWN  # binary stays binary
