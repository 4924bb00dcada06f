"""Bytes that are not a local file (an object version, a table's erased values) into the
vault and back, through the vault's own calls (encrypt, seal, decrypt): the plaintext only
ever sits in an anonymous memory file (memfd), never on a disk in the clear.

Each part is a vault item of its own for its key (`keys/<part>`) and object; a manifest
entry of an object or of rows lists its parts (`parts`), and purge destroys each of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from scanner.remediation.fsops import write_all
from scanner.remediation.vault import Vault, VaultError


@contextlib.contextmanager
def _memfd(name: str) -> Iterator[int]:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def stash(vault: Vault, part: str, data: bytes) -> dict[str, Any]:
    """Encrypt `data` into the vault as the part `part`, make it durable and verify it by
    decrypting it again. Returns the part's record (its name, object, SHA-256, MD5, size)."""
    with _memfd(f"faceaudit-{part}") as fd:
        write_all(fd, data)
        digest, size, obj = vault.encrypt_from(part, fd)
    vault.seal(part, obj)
    if vault.decrypt(part, obj, None) != (digest, size):
        raise VaultError(f"the vault's copy of {part} does not verify")
    if digest != hashlib.sha256(data).hexdigest():
        raise VaultError(f"{part} changed while it was copied")
    return {
        "part": part,
        "object": obj,
        "sha256": digest,
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "size": size,
    }


def unstash(vault: Vault, part: Mapping[str, Any]) -> bytes:
    """A part's bytes, decrypted and checked against its SHA-256."""
    with _memfd(f"faceaudit-{part['part']}") as fd:
        digest, size = vault.decrypt(str(part["part"]), str(part["object"]), fd)
        if digest != part["sha256"]:
            raise VaultError(f"{part['part']} does not decrypt to its SHA-256")
        return os.pread(fd, size, 0)


def drop_parts(vault: Vault, parts: list[Mapping[str, Any]]) -> None:
    """Destroy parts: each key first, then its object (and a half-written one)."""
    for part in parts:
        name = str(part["part"])
        vault.drop_part(name)
        vault.destroy_key(name)
        vault.destroy_object(part.get("object"))


def parts_of(vid: str, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The (key, object) parts of a manifest entry: a file's one, or an object's or rows'
    list."""
    parts = entry.get("parts")
    if isinstance(parts, list):
        return [dict(p) for p in parts]
    return [{"part": vid, "object": entry.get("object")}]
