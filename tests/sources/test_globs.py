"""Include/exclude globs: a table of patterns against relative paths, and PathFilter semantics."""

from __future__ import annotations

import pytest

from scanner.sources.globs import Glob, PathFilter

# (pattern, relative path, matches?) — positives and the hard negatives next to them.
CASES: list[tuple[str, str, bool]] = [
    # a base-name pattern matches the last component at any depth, and only that component
    ("*.jpg", "a.jpg", True),
    ("*.jpg", "x/y/a.jpg", True),
    ("*.jpg", "a.jpeg", False),
    ("*.jpg", "a.JPG", False),  # case-sensitive, like the filesystems it runs on
    ("*.jpg", "a.jpg.txt", False),
    ("*.jpg", "dir.jpg/readme", False),
    ("*.jpg", ".jpg", True),
    ("node_modules", "node_modules", True),
    ("node_modules", "web/app/node_modules", True),
    ("node_modules", "node_modules_old", False),
    ("node_modules", "my_node_modules", False),
    ("node_modules", "node_modules/lib.js", False),  # the directory is pruned, not its files
    # a pattern with a slash is anchored at the scan root and matches the whole path
    ("photos/*.png", "photos/a.png", True),
    ("photos/*.png", "x/photos/a.png", False),
    ("photos/*.png", "photos/sub/a.png", False),  # `*` never crosses a slash
    ("photos/*.png", "photos.png", False),
    ("photos/2020", "photos/2020", True),
    ("photos/2020", "photos/2020/a.jpg", False),
    # `**` leading: zero or more directories in front
    ("**/*.png", "a.png", True),
    ("**/*.png", "x/y/z/a.png", True),
    ("**/*.png", "x/a.jpg", False),
    ("**/cache", "cache", True),
    ("**/cache", "a/b/cache", True),
    ("**/cache", "a/b/cachex", False),
    ("**/cache", "a/xcache", False),
    # `**` in the middle: zero or more directories between
    ("photos/**/x.png", "photos/x.png", True),
    ("photos/**/x.png", "photos/a/b/c/x.png", True),
    ("photos/**/x.png", "other/photos/a/x.png", False),
    ("photos/**/x.png", "photosx/a/x.png", False),
    ("photos/**/x.png", "photos/a/x.png.bak", False),
    # `**` trailing: everything below, but not the directory itself
    ("photos/**", "photos/a", True),
    ("photos/**", "photos/a/b/c.jpg", True),
    ("photos/**", "photos", False),
    ("photos/**", "photosx/a", False),
    ("**", "anything/at/all", True),
    # `?` is exactly one character, never a slash
    ("?.jpg", "a.jpg", True),
    ("?.jpg", "ab.jpg", False),
    ("?.jpg", ".jpg", False),
    ("a?b/c", "a/b/c", False),
    ("a?b/c", "axb/c", True),
    # character classes, ranges and negation
    ("img[0-9].jpg", "img5.jpg", True),
    ("img[0-9].jpg", "imgx.jpg", False),
    ("img[0-9].jpg", "img10.jpg", False),
    ("img[!0-9].jpg", "imgx.jpg", True),
    ("img[!0-9].jpg", "img5.jpg", False),
    ("[ab]*.jpg", "b1.jpg", True),
    ("[ab]*.jpg", "c1.jpg", False),
    ("[]]x", "]x", True),  # a `]` first in the class is a member, not the end
    ("[!]]x", "ax", True),
    ("[!]]x", "]x", False),
    ("[a\\]x", "\\x", True),  # a backslash in a class is literal
    ("[unclosed", "[unclosed", True),  # an unclosed bracket is a literal character
    # regex metacharacters in names are literal
    ("a+b(1).jpg", "a+b(1).jpg", True),
    ("a+b(1).jpg", "aab1.jpg", False),
    ("$x^.jpg", "$x^.jpg", True),
    # `./` and a leading `/` anchor the pattern at the scan root
    ("./photos/*.png", "photos/a.png", True),
    ("./photos/*.png", "x/photos/a.png", False),
    ("./*.jpg", "a.jpg", True),
    ("./*.jpg", "x/a.jpg", False),
    ("/secret", "secret", True),
    ("/secret", "x/secret", False),
    # a trailing `/` names a directory: the same match without the slash
    ("build/", "build", True),
    ("build/", "src/build", True),
    ("build/", "builds", False),
    ("photos/private/", "photos/private", True),
    ("photos/private/", "x/photos/private", False),
    # surrounding whitespace is not part of the pattern
    ("  *.png  ", "a.png", True),
    # names from hostile filesystems: newlines and undecodable bytes still match
    ("*.jpg", "evil\nname.jpg", True),
    ("evil*", "evil\nname.jpg", True),
    ("*.jpg", "caf\udce9.jpg", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), CASES)
def test_glob_table(pattern: str, path: str, expected: bool) -> None:
    assert Glob.compile(pattern).matches(path) is expected


@pytest.mark.parametrize(
    ("pattern", "anchored"),
    [
        ("*.jpg", False),
        ("node_modules", False),
        ("build/", False),
        ("photos/*.png", True),
        ("**/*.png", True),
        ("./x", True),
        ("/x", True),
    ],
)
def test_anchoring(pattern: str, anchored: bool) -> None:
    glob = Glob.compile(pattern)
    assert glob.anchored is anchored
    assert glob.pattern == pattern  # the user's text is kept for messages


@pytest.mark.parametrize("pattern", ["", "   ", "\t", "./", "/", "//"])
def test_empty_pattern_is_rejected(pattern: str) -> None:
    with pytest.raises(ValueError, match="empty glob pattern"):
        Glob.compile(pattern)


def test_empty_pattern_is_rejected_by_the_filter_too() -> None:
    with pytest.raises(ValueError, match="empty glob pattern"):
        PathFilter.build(("*.jpg",), ("",))


def test_no_include_means_every_file() -> None:
    f = PathFilter.build((), ())
    assert f.includes_file("a/b/anything.bin")
    assert not f.excludes("a/b/anything.bin")


def test_include_applies_to_files_only() -> None:
    """An include pattern selects files; it never keeps the walker out of a directory."""
    f = PathFilter.build(("*.jpg",), ())
    assert f.includes_file("photos/a.jpg")
    assert not f.includes_file("photos/a.png")
    # a directory is only pruned by `excludes`, which include patterns do not feed
    assert not f.excludes("photos")
    assert not f.excludes("photos/a.png")


def test_exclude_prunes_directories_and_files() -> None:
    f = PathFilter.build((), ("node_modules", "*.tmp", "photos/private"))
    assert f.excludes("node_modules")
    assert f.excludes("web/node_modules")
    assert f.excludes("a/b.tmp")
    assert f.excludes("photos/private")
    assert not f.excludes("archive/photos/private")
    assert not f.excludes("photos/public")


def test_several_includes_are_alternatives() -> None:
    f = PathFilter.build(("*.jpg", "raw/**"), ())
    assert f.includes_file("x/a.jpg")
    assert f.includes_file("raw/2020/a.cr2")
    assert not f.includes_file("x/a.cr2")
