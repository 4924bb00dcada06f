"""Mail as a container: an RFC 5322 message (`.eml`, a Maildir's message files) or an mbox,
whose image attachments and inline images become items of their own,
`box.mbox!/msg-<Message-ID or number>/photo.jpg`.

Runs in a worker like every expander (scanner.expand registers it by content type). The
message is parsed with the standard library (`email`, policy.default); nothing in it is
run, rendered or fetched (no remote images, no scripts). The archive limits bound it: parts
(`archive_max_entries`, counted with the messages), decoded bytes (`archive_max_total_bytes`,
and `max_file_bytes` for one message), nesting of attached messages (`archive_max_depth`).
A part's type is sniffed from its decoded bytes, never taken from its header or name. The
message's Date is each part's time (its age for retention), like a tar member's mtime.
The domains of its From, To and Cc addresses are each part's context (`mail_domains`): the
part after "@" only, never a local part, a display name or a whole address; at most
`MAX_MAIL_DOMAINS` per message, from the first `_MAX_HEADER` characters of each header.
"""

from __future__ import annotations

import collections
import email
import email.utils
import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage, Message
from typing import IO, Protocol

from scanner.config import Limits
from scanner.errors import FaceauditError
from scanner.model import (
    ContentType,
    FileLocation,
    Location,
    MailDomain,
    MemberLocation,
    ObjectLocation,
    Problem,
    ProblemReason,
)
from scanner.sniff import HEAD_BYTES, sniff
from scanner.sources.base import Reader
from scanner.work import Host, WorkItem, WorkOutcome

_NAME_BAD = re.compile(r"[^A-Za-z0-9._@+=-]+")
_MAX_NAME = 80
_HEADERS = ("from", "to", "cc")
_MAX_HEADER = 4096  # characters of one header read for addresses (a list of thousands is cut)
MAX_MAIL_DOMAINS = 20  # domains kept per message, in header order
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp", "tiff": "tif"}


class MailExaminer(Protocol):
    """What this module needs of the worker (scanner.expand.Examiner has it)."""

    examined_types: frozenset[ContentType]

    @property
    def limits(self) -> Limits: ...

    def examine(
        self, item: WorkItem, data: bytes, atime: bool, reader: Reader | None = None
    ) -> WorkOutcome: ...


class _LimitHit(FaceauditError):
    def __init__(self, reason: ProblemReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Walk:
    """One mail file's budget and what it found."""

    def __init__(self, ex: MailExaminer, host: Host, container: Location) -> None:
        self.ex = ex
        self.host = host
        self.container = container
        self.limits = ex.limits
        self.counts: collections.Counter[str] = collections.Counter()
        self.problems: list[Problem] = []
        self.entries = 0
        self.total = 0
        self.messages = 0
        self.parts = 0
        self.names: set[str] = set()

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.archive_max_entries:
            raise _LimitHit(
                ProblemReason.ARCHIVE_ENTRIES,
                f"more than {self.limits.archive_max_entries} messages and parts; "
                "the rest was not read",
            )

    def spend(self, n: int) -> None:
        self.total += n
        if self.total > self.limits.archive_max_total_bytes:
            raise _LimitHit(
                ProblemReason.ARCHIVE_SIZE,
                f"more than {self.limits.archive_max_total_bytes} decoded bytes; "
                "the rest was not read",
            )

    def message(self, raw: bytes, number: int) -> None:
        """One message: its image parts handed over (or examined here)."""
        self.entry()
        self.messages += 1
        msg = email.message_from_bytes(raw, policy=policy.default)
        folder = self._unique(f"msg-{_message_id(msg) or number}")
        date_ns = _date_ns(msg)
        domains = mail_domains(msg)
        for part in self._leaves(msg, 0, folder):
            self._part(part, folder, date_ns, domains)

    def _leaves(self, msg: Message, depth: int, folder: str) -> Iterator[Message]:
        if not msg.is_multipart():
            yield msg
            return
        nested = msg.get_content_type() == "message/rfc822"
        if nested and depth + 1 > self.limits.archive_max_depth:
            where = self.container.child(folder)
            detail = f"attached messages nested deeper than {self.limits.archive_max_depth}"
            self.problems.append(Problem(where, ProblemReason.ARCHIVE_DEPTH, detail))
            return
        payload = msg.get_payload()
        subparts = payload if isinstance(payload, list) else [payload]
        for sub in subparts:
            if isinstance(sub, Message):
                yield from self._leaves(sub, depth + (1 if nested else 0), folder)

    def _part(
        self, part: Message, folder: str, date_ns: int | None, domains: tuple[MailDomain, ...]
    ) -> None:
        self.entry()
        self.parts += 1
        main = part.get_content_maintype()
        name = part.get_filename()
        if main in ("text", "multipart") and not name:
            return  # the message's text: not an attachment
        encoded = part.get_payload(decode=False)
        if not isinstance(encoded, str):
            return
        if len(encoded) * 3 // 4 > self.limits.max_file_bytes:
            where = self.container.child(f"{folder}/{_clean(name or 'part')}")
            detail = f"a part of about {len(encoded) * 3 // 4} bytes exceeds the file limit"
            self.problems.append(Problem(where, ProblemReason.OVERSIZE, detail))
            return
        try:
            data = part.get_payload(decode=True)
        except (ValueError, TypeError, LookupError) as exc:  # a malformed encoding
            where = self.container.child(f"{folder}/{_clean(name or 'part')}")
            self.problems.append(Problem(where, ProblemReason.DECODE_ERROR, str(exc)[:300]))
            return
        if not isinstance(data, bytes) or not data:
            return
        self.spend(len(data))
        ct = sniff(data[:HEAD_BYTES])
        self.counts[ct.value] += 1
        if ct not in self.ex.examined_types:
            return
        stem = _clean(name) if name else f"part-{self.parts}.{_EXTENSIONS.get(ct.value, 'bin')}"
        location = self.container.child(self._unique(f"{folder}/{stem}"))
        child = WorkItem(0, location, ct, len(data), date_ns, data=data, mail_domains=domains)
        if self.host.offer(len(data)):
            self.host.spawn(child)
            return
        self.host.busy(child.location)
        self.host.partial(self.ex.examine(child, data, True))

    def _unique(self, name: str) -> str:
        """The name, or `photo-2.jpg`, `photo-3.jpg` … when the message had it already."""
        stem, dot, ext = name.rpartition(".")
        if not stem or "/" in ext:
            stem, dot, ext = name, "", ""
        out, n = name, 1
        while out in self.names:
            n += 1
            out = f"{stem}-{n}{dot}{ext}"
        self.names.add(out)
        return out


def expand_mail(
    ex: MailExaminer, item: WorkItem, reader: Reader, host: Host, ct: ContentType
) -> WorkOutcome:
    """An .eml (one message) or an mbox (messages after "From " lines), read in-stream."""
    container = item.location
    assert isinstance(container, (FileLocation, ObjectLocation, MemberLocation))
    walk = _Walk(ex, host, container)
    walk.counts[ct.value] += 1
    try:
        with reader.stream() as stream:
            if ct is ContentType.MBOX:
                for number, raw in enumerate(_mbox_messages(stream, ex.limits), 1):
                    walk.message(raw, number)
            else:
                raw = stream.read(ex.limits.max_file_bytes + 1)
                if len(raw) > ex.limits.max_file_bytes:
                    raise _LimitHit(ProblemReason.OVERSIZE, "the message exceeds the file limit")
                walk.message(raw, 1)
    except _LimitHit as exc:
        walk.problems.append(Problem(container, exc.reason, exc.detail))
    return WorkOutcome(
        item.seq,
        None,
        0,
        reader.atime_preserved,
        problems=tuple(walk.problems),
        content_types=tuple(sorted(walk.counts.items())),
        members=walk.parts,
        media=(("mail_messages", walk.messages), ("mail_parts", walk.parts)),
        container=item.location,
    )


def _mbox_messages(stream: IO[bytes], limits: Limits) -> Iterator[bytes]:
    """Each message of an mbox: the lines between "From " separator lines, unescaped
    (">From " back to "From "), at most max_file_bytes each."""
    lines: list[bytes] = []
    size = 0
    started = False
    for line in stream:
        if line.startswith(b"From "):
            if started:
                yield b"".join(lines)
            lines, size, started = [], 0, True
            continue
        if not started:
            continue
        size += len(line)
        if size > limits.max_file_bytes:
            raise _LimitHit(ProblemReason.OVERSIZE, "a message exceeds the file limit")
        lines.append(line[1:] if line.startswith(b">From ") else line)
    if started:
        yield b"".join(lines)


def _message_id(msg: EmailMessage | Message) -> str | None:
    try:
        value = msg.get("Message-ID")
    except (ValueError, TypeError, IndexError):  # a malformed header
        return None
    if not value:
        return None
    text = _NAME_BAD.sub("_", str(value).strip().strip("<>")).strip("._")
    return text[:_MAX_NAME] or None


def mail_domains(msg: Message) -> tuple[MailDomain, ...]:
    """The domains of the message's From, To and Cc addresses (bounded; see the module's
    docstring). Read from the raw headers: a malformed or hostile header yields fewer
    domains, never an error."""
    found: dict[MailDomain, None] = {}
    for name, raw in msg.raw_items():
        header = name.lower()
        if header not in _HEADERS or not isinstance(raw, str):
            continue
        # Raw 8-bit headers come as surrogate escapes: read them as UTF-8.
        text = raw[:_MAX_HEADER].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        try:
            pairs = email.utils.getaddresses([text])
        except (ValueError, TypeError, IndexError):
            continue
        for _, address in pairs:
            domain = _domain(address)
            if domain is not None:
                found[MailDomain(header, domain)] = None
                if len(found) >= MAX_MAIL_DOMAINS:
                    return tuple(found)
    return tuple(found)


def _domain(address: str) -> str | None:
    """The lower-case domain of `local@domain` (IDNA for a non-ASCII one), or None."""
    _, at, domain = address.rpartition("@")
    domain = domain.strip().strip("[]").rstrip(".").lower()
    if not at or not domain:
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return domain if _DOMAIN.match(domain) else None


def _date_ns(msg: EmailMessage | Message) -> int | None:
    try:
        value = msg.get("Date")
        if not value:
            return None
        when = email.utils.parsedate_to_datetime(str(value))
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 5322 "-0000": the time is UTC, its zone unknown
        from datetime import timezone

        when = when.replace(tzinfo=timezone.utc)
    try:
        return int(when.timestamp() * 1_000_000_000)
    except (OverflowError, OSError, ValueError):
        return None


def _clean(name: str) -> str:
    """A safe member name: no slashes, no control characters, at most 80 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    text = _NAME_BAD.sub("_", base).strip("._") or "part"
    return text[:_MAX_NAME]
