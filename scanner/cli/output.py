"""Where the CLI's report goes: stdout or a file, without surprises.

- A regular file is replaced atomically (complete or untouched) and keeps its permissions
  (a new one gets the umask's); a FIFO, device or /dev/stdout is written through, never
  replaced; a symlink is followed.
- stdout: JSON is always UTF-8; console text uses the terminal's encoding with escapes for
  what it cannot show; a closed pipe (`| head`) ends quietly.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path


def check_destination(path: Path) -> str | None:
    """Why a report could not be written there, before any scanning starts (None: fine)."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        return f"{path} is a directory"
    parent = target.parent
    if not parent.is_dir():
        return f"the directory {parent} does not exist"
    if not target.exists() and not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create files in {parent}"
    return None


def write_report(path: Path, text: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    _replace_atomically(Path(os.path.realpath(path)), text, mode)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _replace_atomically(path: Path, text: str, existing_mode: int | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        perms = stat.S_IMODE(existing_mode) if existing_mode is not None else 0o666 & ~_umask()
        os.fchmod(fd, perms)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_stdout(text: str, *, utf8: bool) -> None:
    encoding = "utf-8" if utf8 else (sys.stdout.encoding or "utf-8")
    data = text.encode(encoding, "backslashreplace")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop writing, and keep Python from complaining
        # about the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
