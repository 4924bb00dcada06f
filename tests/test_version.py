"""scanner.version reads a distribution's version from its metadata's header (start-up): it
must say what importlib.metadata says, for every installed distribution."""

from __future__ import annotations

from importlib.metadata import distributions, version

from scanner.version import distribution_version, tool_version


def test_every_installed_version_is_the_one_importlib_metadata_reads() -> None:
    names = {d.metadata["Name"] for d in distributions() if d.metadata["Name"]}
    assert len(names) > 50
    for name in sorted(names):
        assert distribution_version(name) == version(name), name


def test_faceaudit_and_a_missing_distribution() -> None:
    assert tool_version() == version("faceaudit")
    assert distribution_version("no-such-distribution-faceaudit") == "not installed"
