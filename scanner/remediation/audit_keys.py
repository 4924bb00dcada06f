"""The audit log's secrets, kept in a key directory (the quarantine vault's, by default):
the Ed25519 key that signs checkpoints and the salt of each log's subject hashes.

    KEY_DIR/                      0700, owned by the user running faceaudit
      audit-ed25519.key           the private key, PKCS#8 PEM, 0600
      audit-ed25519.pub           the public key, SubjectPublicKeyInfo PEM: copy it elsewhere
      salts/LOG_ID.salt           32 random bytes per log, 0600

Files are created once, atomically (written under a temporary name, synced, then linked to
their name, so a crash never leaves a half-written key and two processes agree on one), and
never follow a symbolic link. A key directory that others can read, or a private key file
with group or other permissions, is refused rather than used. docs/audit.md says what this
protects against and what it does not.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from scanner.errors import FaceauditError

PRIVATE_KEY: Final = "audit-ed25519.key"
PUBLIC_KEY: Final = "audit-ed25519.pub"
SALTS: Final = "salts"
SALT_BYTES: Final = 32
MAX_KEY_FILE: Final = 16 * 1024


class AuditKeyError(FaceauditError):
    """A key directory or key that cannot be used safely; the message names it."""


def ensure_private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can open: created 0700 when missing, refused
    when it is a symbolic link, not ours, or open to the group or others."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot create the key directory: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise AuditKeyError(f"{path}: not a directory (a symbolic link is refused)")
    if st.st_uid != os.geteuid():
        raise AuditKeyError(f"{path}: owned by uid {st.st_uid}, not by this user")
    if st.st_mode & 0o077:
        raise AuditKeyError(
            f"{path}: open to group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"chmod 700 it after checking who read it"
        )
    return path


def _create_once(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` unless it exists; atomic, synced, never through a link."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process made it first: theirs is the one
    finally:
        tmp.unlink()
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _read_secret(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AuditKeyError(f"{path}: not a regular file")
        if st.st_mode & 0o077:
            raise AuditKeyError(
                f"{path}: readable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
            )
        return os.read(fd, MAX_KEY_FILE)
    finally:
        os.close(fd)


def signing_key(key_dir: Path) -> Ed25519PrivateKey:
    """The checkpoint signing key of `key_dir`, created (with its public key) on first use."""
    ensure_private_dir(key_dir)
    path = key_dir / PRIVATE_KEY
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _create_once(path, pem, 0o600)
    try:
        loaded = serialization.load_pem_private_key(_read_secret(path), password=None)
    except ValueError as exc:
        raise AuditKeyError(f"{path}: not a PEM private key: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AuditKeyError(f"{path}: not an Ed25519 key")
    pub = key_dir / PUBLIC_KEY
    if not pub.exists():
        _create_once(pub, public_pem(loaded.public_key()), 0o644)
    return loaded


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file, or from a key directory's `audit-ed25519.pub`."""
    if path.is_dir():
        path = path / PUBLIC_KEY
    try:
        data = path.read_bytes()[:MAX_KEY_FILE]
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot read the public key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise AuditKeyError(f"{path}: not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path}: not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: `ed25519:` and 32 hex of its SHA-256."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def log_salt(key_dir: Path, log_id: str) -> bytes:
    """The secret salt of one log's subject hashes, created on first use."""
    ensure_private_dir(key_dir)
    folder = ensure_private_dir(key_dir / SALTS)
    path = folder / f"{log_id}.salt"
    if not path.exists():
        _create_once(path, secrets.token_bytes(SALT_BYTES), 0o600)
    salt = _read_secret(path)
    if len(salt) != SALT_BYTES:
        raise AuditKeyError(f"{path}: a salt of {len(salt)} bytes, not {SALT_BYTES}")
    return salt
