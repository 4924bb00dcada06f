"""Stream wrappers for reading archives in-stream with hard bounds.

Each wrapper enforces its bounds and raises LimitHit with the reason to report: the expansion
ratio of a compressed stream, the total it may produce, the size of a single read and what a
tar's headers may take.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import IO, cast

from scanner.errors import FaceauditError
from scanner.model import ContentType, ProblemReason

RATIO_FLOOR = 1024 * 1024  # small members may legitimately compress very well


class LimitHit(FaceauditError):
    def __init__(self, reason: ProblemReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Reader(io.RawIOBase):
    """A readable raw stream defined by its read()."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def decompressor(ct: ContentType, stream: IO[bytes]) -> IO[bytes]:
    if ct is ContentType.ZLIB:
        return cast(IO[bytes], io.BufferedReader(ZlibReader(stream)))
    if ct is ContentType.GZIP:
        return cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))
    if ct is ContentType.BZIP2:
        return cast(IO[bytes], bz2.BZ2File(stream))
    return cast(IO[bytes], lzma.LZMAFile(stream))


class ZlibReader(_Reader):
    """A raw zlib stream (joblib's compression), decompressed as it is read."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.engine = zlib.decompressobj()
        self.pending = b""

    def read(self, n: int = -1) -> bytes:
        want = n if n >= 0 else 1 << 62
        while len(self.pending) < want and not self.engine.eof:
            # Input zlib could not take in the last call (capped output) comes first.
            data = self.engine.unconsumed_tail or self.inner.read(1 << 16)
            if not data:
                break
            self.pending += self.engine.decompress(data, want - len(self.pending))
        out, self.pending = self.pending[:want], self.pending[want:]
        return out


HEADER_FIELD_BYTES = 64 * 1024


class CountingReader(_Reader):
    """Counts compressed bytes consumed, for the expansion ratio of single streams.

    gzip reads a member's name and comment a byte at a time until a NUL, each byte a Python
    call: a 20 MB name took 6.5 s, a few gigabytes would stall the scan for hours. A run of
    more than HEADER_FIELD_BYTES one-byte reads is refused as a corrupt gzip header.
    """

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0
        self.byte_run = 0

    def read(self, n: int = -1) -> bytes:
        self.byte_run = self.byte_run + 1 if n == 1 else 0
        if self.byte_run > HEADER_FIELD_BYTES:
            raise gzip.BadGzipFile(
                f"a header field (a name or comment) runs past {HEADER_FIELD_BYTES:,} bytes"
            )
        data = self.inner.read(n)
        self.count += len(data)
        return data


class RatioGuard(_Reader):
    """Stops a compressed stream that expands beyond the allowed ratio (a bomb)."""

    def __init__(
        self, plain: IO[bytes], consumed: CountingReader, ratio: float, max_total: int
    ) -> None:
        self.plain = plain
        self.consumed = consumed
        self.ratio = ratio
        self.max_total = max_total
        self.produced = 0

    def read(self, n: int = -1) -> bytes:
        data = self.plain.read(n)
        self.produced += len(data)
        if self.produced > RATIO_FLOOR and self.produced > self.consumed.count * self.ratio:
            raise LimitHit(
                ProblemReason.ARCHIVE_RATIO,
                f"expands more than {self.ratio:g}:1; not read further",
            )
        if self.produced > self.max_total:  # also what tarfile skips or buffers (r| mode)
            raise LimitHit(
                ProblemReason.ARCHIVE_SIZE,
                f"more than {self.max_total} bytes decompressed; the rest was not read",
            )
        return data


class TarReads:
    """What tarfile reads from, with two bounds.

    While `headers` is set (tarfile parsing an entry's headers: header blocks, pax records,
    GNU long names), reads spend a budget, and a read larger than what is left is refused
    before it is made: tarfile reads a pax record or a long name in one read() of the size
    its header declares, and keeps it. Any single read larger than `cap` is refused too.
    Both are ARCHIVE_SIZE. Seeking is passed through (random-access mode).
    """

    def __init__(self, inner: IO[bytes], cap: int, header_budget: int) -> None:
        self.inner = inner
        self.cap = cap
        self.header_budget = header_budget
        self.header_left = header_budget
        self.headers = True  # tarfile.open reads the first entry's headers

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0 or n > self.cap:
            raise LimitHit(
                ProblemReason.ARCHIVE_SIZE,
                f"an entry needs a single read of more than {self.cap} bytes; not read",
            )
        if not self.headers:
            return self.inner.read(n)
        if n > self.header_left:
            raise LimitHit(
                ProblemReason.ARCHIVE_SIZE,
                f"its headers (pax records, long names) pass {self.header_budget:,} bytes; "
                "the rest was not read",
            )
        data = self.inner.read(n)
        self.header_left -= len(data)
        return data

    def seekable(self) -> bool:
        return self.inner.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()


class Prefixed(_Reader):
    """A stream with already-read bytes put back in front of it."""

    def __init__(self, prefix: bytes, rest: RatioGuard) -> None:
        self.prefix = prefix
        self.rest = rest
        self.produced = 0

    def read(self, n: int = -1) -> bytes:
        if self.prefix:
            if n < 0 or n >= len(self.prefix):
                out, self.prefix = self.prefix, b""
                if n < 0:
                    out += self.rest.read()
                elif n > len(out):
                    out += self.rest.read(n - len(out))
            else:
                out, self.prefix = self.prefix[:n], self.prefix[n:]
        else:
            out = self.rest.read(n)
        self.produced += len(out)
        return out
