"""A zip archive's members, read through zipfile's own decompression from a bounded index.

`ZipMembers` opens a `zipfile.ZipFile` that lists nothing (whatever the archive's central
directory says) and reads each member with `ZipFile.open(ZipInfo)`, the ZipInfo built from
a zip_index.ZipEntry. See its docstring for what of zipfile this relies on.
"""

from __future__ import annotations

import errno
import zipfile
from types import TracebackType
from typing import IO, cast

from scanner.sources.zip_index import EMPTY_ARCHIVE, LOCATOR_SIZE, ZipEntry, ZipIndex

# Compressed bytes zipfile may hand its bzip2 and LZMA decompressors at a time. It calls them
# without an output limit (deflate gets one), on up to the caller's read size: a bzip2 block
# of some 30-40 bytes expands to up to 46 MB, and a 1.6 KB member (declaring 1,000 bytes, so
# no ratio refusal) made 4 GiB in one call. 32 bytes complete at most two blocks; LZMA
# expands zeros about 7,000 times, so 256 bytes make under 2 MB. (A 20 MB bzip2 member reads
# in 9.7 s instead of 6.3 s.)
_INPUT_PER_CALL = {zipfile.ZIP_BZIP2: 32, zipfile.ZIP_LZMA: 256}


class ZipMembers:
    """Members of an indexed archive, read through zipfile's own decompression.

    The ZipFile is opened on a view of the archive followed by an empty archive's end
    record, so it lists nothing (and reads 42 bytes); the view is then sealed to the real
    bytes. Members are opened with `ZipFile.open(ZipInfo)` and a ZipInfo built from the
    index. What this relies on, all public and unchanged from Python 3.10 to 3.13: a
    ZipFile opened for reading on a seekable file object takes its end record from the end;
    `ZipFile.open` accepts a ZipInfo and reads the member's local header at
    `header_offset`, then `compress_size` bytes, decompressed by `compress_type`, checked
    against `CRC` and `file_size`, with `flag_bits` deciding encryption and data
    descriptors; short reads of the compressed data are read again. ZipFile's own overlap
    check (3.12+) needs its listing and is not used: the walker checks overlaps on the
    index. Members are read one at a time.
    """

    def __init__(self, stream: IO[bytes], index: ZipIndex) -> None:
        self._view = _View(stream, index.file_size)
        self._zip = zipfile.ZipFile(cast(IO[bytes], self._view))
        self._view.seal()
        if self._zip.infolist():  # zipfile found another end record: its search changed
            self._zip.close()
            raise RuntimeError("zipfile listed members of an empty archive")

    def open(self, entry: ZipEntry) -> IO[bytes]:
        self._view.max_read = None  # the local header is read whole
        member = self._zip.open(entry.zipinfo())
        self._view.max_read = _INPUT_PER_CALL.get(entry.method)
        return member

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ZipMembers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _View:
    """A seekable stream's first `size` bytes, followed (until sealed) by 20 zero bytes
    (no ZIP64 locator) and the end record of an empty archive."""

    _TRAILER = bytes(LOCATOR_SIZE) + EMPTY_ARCHIVE

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self._stream = stream
        self._size = size
        self._pos = 0
        self._sealed = False
        self.max_read: int | None = None

    def seal(self) -> None:
        self._sealed = True

    def _end(self) -> int:
        return self._size if self._sealed else self._size + len(self._TRAILER)

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, self._end())[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = base + offset
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        end = self._end()
        if n is None or n < 0:
            if self._pos < self._size:  # zipfile reads only the end record unsized
                raise ValueError("an unbounded read of the archive was refused")
            n = end - self._pos
        n = min(n, end - self._pos, n if self.max_read is None else self.max_read)
        if n <= 0:
            return b""
        data = b""
        if self._pos < self._size:
            self._stream.seek(self._pos)
            data = self._stream.read(min(n, self._size - self._pos))
            self._pos += len(data)
            if self._pos < self._size:  # a short read: the caller reads again
                return data
        if len(data) < n:
            start = self._pos - self._size
            more = self._TRAILER[start : start + n - len(data)]
            self._pos += len(more)
            data += more
        return data
