"""The quarantine vault: a directory the user names (created 0700) that never holds face
data in the clear.

    VAULT            the marker: format version, when it was made
    master.key       the vault master key (32 bytes, 0600): wraps every item's own key
    salt             the salt of the log's hashes (people and file names)
    objects/<sha256> one encrypted object per item, named by the SHA-256 of its encrypted
                     bytes (content-addressed: two items never collide, whatever their names;
                     a damaged object no longer matches its name)
    keys/<item>      the item's own AES-256-GCM key, wrapped (AES-GCM) by the master key;
                     a batch's items (scanner/remediation/batch.py) share one file, a
                     `KEYS_MAGIC` header then one slot per item (its id, the wrapped key),
                     under one name per item (hard links): a key is destroyed by zeroing
                     its slot in place, and the file goes with its last name
    manifest/<item>  where the item came from and why (JSON), see `Entry`
    journal/<item>   the state of an action under way (scanner/remediation/moves.py)
    erasures/<item>  the erasure record of a purged item
    tmp/             objects being written

The master key is kept in the vault, so the vault opens without a secret to type: whoever can
read the vault directory can read its items. What the encryption buys is that objects copied
out without their keys (a backup of objects/, a stray file) are unreadable, and that purging
an item destroys its key first (crypto-erasure), after which its object is noise even if a
copy survives. Keep the vault 0700 on a disk the organisation controls; docs/remediation.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from scanner.errors import FaceauditError
from scanner.remediation.fsops import (
    CHUNK,
    DIR_FLAGS,
    Refused,
    atomic_write,
    parent_dir,
    unlink_if,
    write_all,
)

FORMAT = 1
MAGIC = b"FAVAULT1"
SUBDIRS = ("objects", "keys", "manifest", "journal", "erasures", "tmp")
NONCE = 12
TAG = 16
KEYS_MAGIC = b"FAKEYS1\n"  # a batch's shared key file
ID_LEN = 16  # an item's id: 16 hex digits
SLOT = ID_LEN + NONCE + 32 + TAG  # an item's id, then its key's wrapping nonce and wrapped key


class VaultError(FaceauditError):
    """The vault cannot be used (not a vault, unreadable, read-only, a damaged object)."""


class Vault:
    """An open vault: a descriptor of its directory and of each subdirectory."""

    def __init__(self, path: Path, fds: dict[str, int], master: bytes, salt: bytes) -> None:
        self.path = path
        self._fds = fds
        self._master = master
        self.salt = salt

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> Vault:
        path = Path(os.path.realpath(path))  # as named; no link is followed after this
        fds: dict[str, int] = {}
        try:
            with parent_dir(str(path / "x"), create=create) as root:
                fds["."] = os.dup(root)
            root = fds["."]
            # one run at a time: a run's recovery must never roll back another's action under
            # way (released when the process ends, however it ends)
            fcntl.flock(root, fcntl.LOCK_EX)
            marker = _read(root, "VAULT")
            if marker is None:
                os.chmod(root, 0o700)
                if not create:
                    raise VaultError(f"{path} is not a vault")
                if os.listdir(root):
                    raise VaultError(f"{path} is not empty and not a vault")
                for name in SUBDIRS:
                    os.mkdir(name, 0o700, dir_fd=root)
                atomic_write(root, "master.key", secrets.token_bytes(32))
                atomic_write(root, "salt", secrets.token_bytes(32))
                created = datetime.now(timezone.utc).isoformat()
                atomic_write(root, "VAULT", _json({"format": FORMAT, "created": created}))
                marker = _read(root, "VAULT")
            doc = json.loads(marker or b"{}")
            if doc.get("format") != FORMAT:
                raise VaultError(f"{path}: vault format {doc.get('format')} is not {FORMAT}")
            for name in SUBDIRS:
                fds[name] = os.open(name, DIR_FLAGS, dir_fd=root)
            master = _read(root, "master.key")
            salt = _read(root, "salt")
            if master is None or len(master) != 32 or salt is None:
                raise VaultError(f"{path}: the master key or the salt is missing")
        except (OSError, ValueError, Refused) as exc:
            for fd in fds.values():
                os.close(fd)
            raise VaultError(f"cannot use the vault {path}: {exc}") from None
        except VaultError:
            for fd in fds.values():
                os.close(fd)
            raise
        return cls(path, fds, master, salt)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fd(self, name: str) -> int:
        return self._fds[name]

    # -- objects and keys ---------------------------------------------------------------------

    def new_keys(self, items: Sequence[str]) -> dict[str, bytes]:
        """New keys for a batch's items, wrapped into one shared file (not yet synced) under
        one name per item, keys/<item> (see the module's docstring)."""
        keys = {item: secrets.token_bytes(32) for item in items}
        if not items:
            return keys
        slots = []
        for item, key in keys.items():
            if len(item.encode()) != ID_LEN:
                raise VaultError(f"an item id of {ID_LEN} characters was expected: {item}")
            wrap_nonce = secrets.token_bytes(NONCE)
            wrapped = AESGCM(self._master).encrypt(wrap_nonce, key, item.encode())
            slots.append(item.encode() + wrap_nonce + wrapped)
        first, *rest = items
        _write_new(self.fd("keys"), first, KEYS_MAGIC + b"".join(slots))
        for item in rest:
            os.link(first, item, src_dir_fd=self.fd("keys"), dst_dir_fd=self.fd("keys"))
        return keys

    def encrypt_from(self, item: str, src: int, key: bytes | None = None) -> tuple[str, int, str]:
        """Copy the open file `src` into tmp/<item>.part, encrypted under `key` (one of
        `new_keys`) or a new key (wrapped into keys/<item>); not yet synced. Returns the
        plaintext's SHA-256 and size, and the SHA-256 of the encrypted bytes (the object's
        name)."""
        if key is None:
            key = secrets.token_bytes(32)
            wrap_nonce = secrets.token_bytes(NONCE)
            wrapped = AESGCM(self._master).encrypt(wrap_nonce, key, item.encode())
            _write_new(self.fd("keys"), item, wrap_nonce + wrapped)
        nonce = secrets.token_bytes(NONCE)
        enc = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(item.encode())
        plain, sealed = hashlib.sha256(), hashlib.sha256()
        size = 0
        out = os.open(
            f"{item}.part",
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
            0o600,
            dir_fd=self.fd("tmp"),
        )
        try:
            head = MAGIC + nonce
            write_all(out, head)
            sealed.update(head)
            while chunk := os.pread(src, CHUNK, size):
                size += len(chunk)
                plain.update(chunk)
                data = enc.update(chunk)
                write_all(out, data)
                sealed.update(data)
            tail = enc.finalize() + enc.tag
            write_all(out, tail)
            sealed.update(tail)
        finally:
            os.close(out)
        return plain.hexdigest(), size, sealed.hexdigest()

    def seal(self, item: str, name: str) -> None:
        """Make tmp/<item>.part durable as objects/<name>, with its key."""
        tmp, objects = self.fd("tmp"), self.fd("objects")
        fd = os.open(f"{item}.part", os.O_RDONLY | os.O_CLOEXEC, dir_fd=tmp)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fd = os.open(item, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd("keys"))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.fsync(self.fd("keys"))
        os.rename(f"{item}.part", name, src_dir_fd=tmp, dst_dir_fd=objects)
        os.fsync(objects)
        os.fsync(tmp)

    def seal_many(self, items: Sequence[tuple[str, str]]) -> None:
        """`seal` for many (item, object name) pairs: each object and key fsynced, each
        renamed into objects/, then each of the three directories fsynced once."""
        tmp, keys, objects = self.fd("tmp"), self.fd("keys"), self.fd("objects")
        synced: set[tuple[int, int]] = set()  # a batch's shared key file is fsynced once
        for item, _ in items:
            for name, where in ((f"{item}.part", tmp), (item, keys)):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=where)
                try:
                    st = os.fstat(fd)
                    if (st.st_dev, st.st_ino) not in synced:
                        os.fsync(fd)
                        synced.add((st.st_dev, st.st_ino))
                finally:
                    os.close(fd)
        os.fsync(keys)
        for item, name in items:
            os.rename(f"{item}.part", name, src_dir_fd=tmp, dst_dir_fd=objects)
        os.fsync(objects)
        os.fsync(tmp)

    def has_object(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd("objects"), follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def has_key(self, item: str) -> bool:
        try:
            os.stat(item, dir_fd=self.fd("keys"), follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def decrypt(self, item: str, name: str, out: int | None) -> tuple[str, int]:
        """Decrypt objects/<name> (into `out` when given); the plaintext's SHA-256 and size.
        Raises VaultError when the object or its key is damaged or missing."""
        wrapped = _wrapped(_read(self.fd("keys"), item), item)
        if wrapped is None:
            raise VaultError(f"the key of {item} is gone")
        try:
            key = AESGCM(self._master).decrypt(wrapped[:NONCE], wrapped[NONCE:], item.encode())
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd("objects"))
        except FileNotFoundError:
            raise VaultError(f"the object of {item} is gone") from None
        except Exception as exc:
            raise VaultError(f"the key of {item} cannot be unwrapped ({exc!r})") from None
        try:
            total = os.fstat(fd).st_size
            head = os.pread(fd, len(MAGIC) + NONCE, 0)
            if total < len(head) + TAG or not head.startswith(MAGIC):
                raise VaultError(f"the object of {item} is damaged")
            tag = os.pread(fd, TAG, total - TAG)
            dec = Cipher(algorithms.AES(key), modes.GCM(head[len(MAGIC) :], tag)).decryptor()
            dec.authenticate_additional_data(item.encode())
            plain, sealed = hashlib.sha256(), hashlib.sha256(head)
            offset, end, size = len(head), total - TAG, 0
            while offset < end:
                chunk = os.pread(fd, min(CHUNK, end - offset), offset)
                if not chunk:
                    raise VaultError(f"the object of {item} is truncated")
                offset += len(chunk)
                sealed.update(chunk)
                data = dec.update(chunk)
                plain.update(data)
                size += len(data)
                if out is not None:
                    write_all(out, data)
            sealed.update(tag)
            try:
                dec.finalize()
            except Exception:
                raise VaultError(f"the object of {item} fails its authentication") from None
            if sealed.hexdigest() != name:
                raise VaultError(f"the object of {item} does not match its name")
        finally:
            os.close(fd)
        return plain.hexdigest(), size

    def destroy_key(self, item: str) -> None:
        """Overwrite the wrapped key (its slot in a shared file), sync, unlink its name,
        sync the directory."""
        self.destroy_keys([item])

    def destroy_keys(self, items: Sequence[str]) -> None:
        """Overwrite each item's wrapped key in place (a shared file: only its slot) and
        fsync each key file once; then unlink each name and fsync the directory once."""
        keys = self.fd("keys")
        open_files: dict[tuple[int, int], int] = {}
        try:
            for item in items:
                try:
                    fd = os.open(item, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=keys)
                except FileNotFoundError:
                    continue
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) in open_files:
                    os.close(fd)
                    fd = open_files[st.st_dev, st.st_ino]
                else:
                    open_files[st.st_dev, st.st_ino] = fd
                raw = os.pread(fd, st.st_size, 0)
                at = _slot(raw, item)
                if raw.startswith(KEYS_MAGIC):
                    if at is not None:
                        os.pwrite(fd, bytes(SLOT), at)
                else:
                    os.pwrite(fd, bytes(len(raw)), 0)
            for fd in open_files.values():
                os.fsync(fd)
        finally:
            for fd in open_files.values():
                os.close(fd)
        for item in items:
            unlink_if(keys, item)
        os.fsync(keys)

    def destroy_objects(self, names: Sequence[str]) -> None:
        for name in names:
            unlink_if(self.fd("objects"), name)
        os.fsync(self.fd("objects"))

    def destroy_object(self, name: str | None) -> None:
        if name:
            unlink_if(self.fd("objects"), name)
            os.fsync(self.fd("objects"))

    def drop_part(self, item: str) -> None:
        unlink_if(self.fd("tmp"), f"{item}.part")

    # -- manifest, journal, erasure records ---------------------------------------------------

    def put(self, where: str, item: str, doc: dict[str, Any]) -> None:
        atomic_write(self.fd(where), item, _json(doc))

    def put_many(self, where: str, docs: Mapping[str, dict[str, Any]]) -> None:
        """`put` for many: each file written whole and fsynced, the directory fsynced once."""
        for item, doc in docs.items():
            atomic_write(self.fd(where), item, _json(doc), sync_dir=False)
        os.fsync(self.fd(where))

    def get(self, where: str, item: str) -> dict[str, Any] | None:
        raw = _read(self.fd(where), item)
        if raw is None:
            return None
        doc: dict[str, Any] = json.loads(raw)
        return doc

    def drop(self, where: str, item: str) -> None:
        unlink_if(self.fd(where), item)
        os.fsync(self.fd(where))

    def names(self, where: str) -> list[str]:
        return sorted(n for n in os.listdir(self.fd(where)) if not n.startswith("."))

    def entries(self) -> Iterator[dict[str, Any]]:
        for name in self.names("manifest"):
            doc = self.get("manifest", name)
            if doc is not None:
                yield doc


def _json(doc: object) -> bytes:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False).encode(
        "utf-8", "surrogateescape"
    )


def _slot(raw: bytes, item: str) -> int | None:
    """Where the item's slot is in a shared key file (None: not there, or not shared)."""
    if not raw.startswith(KEYS_MAGIC):
        return None
    want = item.encode()
    for at in range(len(KEYS_MAGIC), len(raw) - SLOT + 1, SLOT):
        if raw[at : at + ID_LEN] == want:
            return at
    return None


def _wrapped(raw: bytes | None, item: str) -> bytes | None:
    """The item's wrapped key (nonce and sealed key) from its key file's bytes."""
    if raw is None or not raw.startswith(KEYS_MAGIC):
        return raw
    at = _slot(raw, item)
    return None if at is None else raw[at + ID_LEN : at + SLOT]


def _read(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_new(dir_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
