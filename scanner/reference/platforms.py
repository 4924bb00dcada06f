"""Social platforms, recognised from a host name or from the name a download was saved under.

Two tables, one per kind of clue:

- HOSTS: host suffixes (the site and its CDNs) -> platform id. A host matches a suffix when
  it is that suffix or ends with "." + suffix, so `scontent-lhr8-1.cdninstagram.com` is
  Instagram and `notinstagram.com` is not.
- NAME_PATTERNS: file names that a platform (or its official app) gives the files it serves
  or saves. Only names a camera, a phone gallery or a person would not produce are listed;
  each entry says how likely a false positive is. Names that are only *consistent* with a
  platform are deliberately left out: Twitter/X media ids without their size suffix (15
  random base64url characters: any short hash looks the same), Reddit's `i.redd.it` ids (13
  lower-case base36 characters), Pinterest's md5 names (32 hex digits, as many tools name
  files), YouTube thumbnails (`maxresdefault.jpg`, also used by every video site template).

Platform ids are a public contract (policies match on them): "facebook", "instagram",
"meta" (a Facebook-or-Instagram CDN name: both Meta services use the same scheme), "x",
"tiktok", "linkedin", "vk", "pinterest", "flickr", "reddit", "snapchat", "whatsapp",
"telegram", "signal", "youtube", "tumblr", "odnoklassniki", "weibo", "discord", "threads",
"bluesky".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HOSTS: tuple[tuple[str, str], ...] = (
    ("instagram.com", "instagram"),
    ("cdninstagram.com", "instagram"),
    ("facebook.com", "facebook"),
    ("fb.com", "facebook"),
    ("fbcdn.net", "facebook"),  # serves Instagram media too; the page host says which
    ("fbsbx.com", "facebook"),
    ("messenger.com", "facebook"),
    ("twitter.com", "x"),
    ("x.com", "x"),
    ("twimg.com", "x"),
    ("t.co", "x"),
    ("tiktok.com", "tiktok"),
    ("tiktokcdn.com", "tiktok"),
    ("tiktokcdn-us.com", "tiktok"),
    ("tiktokcdn-eu.com", "tiktok"),
    ("tiktokv.com", "tiktok"),
    ("ibytedtos.com", "tiktok"),
    ("linkedin.com", "linkedin"),
    ("licdn.com", "linkedin"),
    ("vk.com", "vk"),
    ("vk.me", "vk"),
    ("vkontakte.ru", "vk"),
    ("userapi.com", "vk"),  # sun9-1.userapi.com: VK's photo CDN
    ("vkuserphoto.ru", "vk"),
    ("pinterest.com", "pinterest"),
    ("pinimg.com", "pinterest"),
    ("pin.it", "pinterest"),
    ("flickr.com", "flickr"),
    ("staticflickr.com", "flickr"),
    ("flic.kr", "flickr"),
    ("reddit.com", "reddit"),
    ("redd.it", "reddit"),  # i.redd.it, preview.redd.it
    ("redditmedia.com", "reddit"),
    ("snapchat.com", "snapchat"),
    ("sc-cdn.net", "snapchat"),
    ("whatsapp.com", "whatsapp"),
    ("whatsapp.net", "whatsapp"),
    ("telegram.org", "telegram"),
    ("telegram.me", "telegram"),
    ("t.me", "telegram"),
    ("telesco.pe", "telegram"),
    ("youtube.com", "youtube"),
    ("youtu.be", "youtube"),
    ("ytimg.com", "youtube"),
    ("tumblr.com", "tumblr"),
    ("ok.ru", "odnoklassniki"),
    ("mycdn.me", "odnoklassniki"),
    ("weibo.com", "weibo"),
    ("weibo.cn", "weibo"),
    ("sinaimg.cn", "weibo"),
    ("discord.com", "discord"),
    ("discordapp.com", "discord"),
    ("discordapp.net", "discord"),
    ("threads.net", "threads"),
    ("bsky.app", "bluesky"),
    ("bsky.social", "bluesky"),
)

_BY_SUFFIX = dict(HOSTS)


def platform_of_host(host: str) -> str | None:
    """The platform a host belongs to, or None (`www.instagram.com` -> "instagram")."""
    labels = host.strip().rstrip(".").lower().split(".")
    for i in range(len(labels) - 1):
        platform = _BY_SUFFIX.get(".".join(labels[i:]))
        if platform is not None:
            return platform
    return None


@dataclass(frozen=True)
class NamePattern:
    platform: str
    label: str  # what the report says (the name itself is not kept)
    pattern: re.Pattern[str]
    false_positives: str  # how likely an unrelated file carries such a name


_IMAGE_OR_VIDEO = r"\.(?:jpe?g|png|webp|gif|heic|mp4|mov)"
_COPY = r"(?: ?\(\d{1,3}\))?"  # "name (1).jpg": the browser's second copy

NAME_PATTERNS: tuple[NamePattern, ...] = (
    NamePattern(
        "meta",
        "Facebook/Instagram CDN file name",
        # 123456789_1234567890123456_1234567890123456789_n.jpg (three numeric ids, a size
        # letter): the name fbcdn.net and cdninstagram.com serve and browsers save.
        re.compile(rf"^\d{{5,}}_\d{{9,}}_\d{{9,}}_[nostab]{_COPY}{_IMAGE_OR_VIDEO}$", re.I),
        "very low: three long numeric ids and a size letter",
    ),
    NamePattern(
        "meta",
        "Facebook CDN file name (older scheme)",
        # 10151234567890123_1234567890_n.jpg
        re.compile(rf"^\d{{10,}}_\d{{8,}}_[nostab]{_COPY}{_IMAGE_OR_VIDEO}$", re.I),
        "low: two long numeric ids and a size letter",
    ),
    NamePattern(
        "facebook",
        "Facebook Messenger download name",
        re.compile(rf"^received_\d{{15,17}}{_COPY}{_IMAGE_OR_VIDEO}$", re.I),
        "very low",
    ),
    NamePattern(
        "whatsapp",
        "WhatsApp media name",
        # IMG-20240101-WA0001.jpg, VID-20240101-WA0003.mp4
        re.compile(
            r"^(?:IMG|VID|AUD|PTT|STK|DOC|PHOTO|VIDEO)-\d{8}-WA\d{4,}" + _COPY + r"\.\w{2,5}$",
            re.I,
        ),
        "very low: the -WA counter is WhatsApp's own",
    ),
    NamePattern(
        "telegram",
        "Telegram Desktop download name",
        # photo_2024-01-01_12-00-00.jpg
        re.compile(
            r"^(?:photo|video|sticker)_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}"
            + _COPY
            + r"\.(?:jpe?g|png|webp|mp4)$",
            re.I,
        ),
        "low: a date and time joined exactly as Telegram Desktop does",
    ),
    NamePattern(
        "signal",
        "Signal attachment name",
        re.compile(r"^signal-\d{4}-\d{2}-\d{2}-\d{6}(?:_\d{3})?" + _COPY + r"\.\w{2,5}$", re.I),
        "very low",
    ),
    NamePattern(
        "x",
        "Twitter/X media name with its size suffix",
        # F1abcDEFghiJKLm.jpg_large, F1abcDEFghiJKLm.jpg:orig, F1abc…?format=jpg&name=large
        re.compile(
            r"^[A-Za-z0-9_-]{15}(?:\.(?:jpe?g|png|webp)[_:](?:large|orig|medium|small)"
            r"|\?format=(?:jpe?g|png|webp)&name=\w+)$"
        ),
        "very low: the size suffix is Twitter's URL syntax saved into the name",
    ),
    NamePattern(
        "tiktok",
        "TikTok CDN image name",
        # tos-maliva-avt-0068_0123456789abcdef0123456789abcdef~c5_720x720.jpeg, …~tplv-…
        re.compile(r"^tos-[a-z0-9]+-[a-z0-9-]+_[0-9a-f]{16,}|~tplv-[a-z0-9-]+", re.I),
        "very low: ByteDance object-storage names",
    ),
    NamePattern(
        "tiktok",
        "TikTok downloader name",
        re.compile(r"^(?:snaptik|ssstik(?:\.io)?|musicaldown|tiktok)_\d{10,19}\w*\.\w{2,5}$", re.I),
        "low",
    ),
    NamePattern(
        "linkedin",
        "LinkedIn profile photo name",
        re.compile(
            r"^profile-(?:displayphoto|framedphoto|displaybackgroundimage)-shrink_\d+_\d+", re.I
        ),
        "very low",
    ),
    NamePattern(
        "vk",
        "VK photo CDN name (older scheme)",
        # x_1a2b3c4d.jpg: a size letter and eight hex digits
        re.compile(r"^[smxyzwopqr]_[0-9a-f]{8}\.jpg$"),
        "moderate: any tool naming files with a letter and a 32-bit hex id matches",
    ),
    NamePattern(
        "snapchat",
        "Snapchat saved-snap name",
        re.compile(rf"^Snapchat-\d{{6,}}{_COPY}{_IMAGE_OR_VIDEO}$", re.I),
        "very low",
    ),
)


def platform_of_name(name: str) -> NamePattern | None:
    """The pattern a file name (the last path component) matches, or None."""
    base = name.rsplit("/", 1)[-1]
    for entry in NAME_PATTERNS:
        if entry.pattern.search(base):
            return entry
    return None
