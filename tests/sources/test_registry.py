"""The source registry: the only place schemes are listed, and what it says about each."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.config import SampleLimits
from scanner.errors import ConfigError
from scanner.sources import (
    SOURCES,
    display,
    holds_registers,
    is_source_uri,
    module_for,
    read_keys,
    scheme_of,
)
from scanner.sources.keys import KeyRead, KeysUnreadable


@pytest.mark.parametrize(
    ("target", "scheme"),
    [
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("MySQL://h/db", "mysql"),
        ("sqlite:///tmp/a.db", "sqlite"),
        ("photos/2024", ""),
        (Path("postgresql://looks/like/a/uri"), ""),  # a Path is always a path
    ],
)
def test_scheme_of(target: str | Path, scheme: str) -> None:
    assert scheme_of(target) == scheme


def test_every_built_in_scheme_loads_a_module_with_the_interface() -> None:
    for scheme in SOURCES:
        module = module_for(f"{scheme}://h/db")
        assert callable(module.open_source) and callable(module.display), scheme


def test_an_unknown_scheme_is_a_configuration_error() -> None:
    assert not is_source_uri("ftp://files.example/x")
    with pytest.raises(ConfigError, match=r"no source reads ftp:// targets"):
        module_for("ftp://files.example/x")


def test_display_never_shows_credentials() -> None:
    shown = display("postgresql://auditor:s3cret@db.example:5432/immich?sslmode=require")
    assert shown == "postgresql://db.example:5432/immich"
    assert display(Path("/data/photos")) == "/data/photos"


def test_which_sources_hold_registers() -> None:
    assert holds_registers("sqlite:///srv/hr.db")
    assert holds_registers("postgresql://db.example/hr")
    assert not holds_registers("mysql://db.example/hr")  # no read_rows: not a register store
    assert not holds_registers("ftp://files.example/hr.csv")


def test_subject_keys_of_a_source_that_cannot_read_them() -> None:
    with pytest.raises(KeysUnreadable, match=r"no source reads ftp:// targets"):
        read_keys(KeyRead("ftp://x/y", "t", "c", "k"), SampleLimits())
