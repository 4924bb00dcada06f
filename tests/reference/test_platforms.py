"""Platform table: hosts and download-name schemes, positives and hard negatives."""

from __future__ import annotations

import pytest

from scanner.reference.platforms import HOSTS, NAME_PATTERNS, platform_of_host, platform_of_name


@pytest.mark.parametrize(
    ("host", "platform"),
    [
        ("www.instagram.com", "instagram"),
        ("scontent-lhr8-1.cdninstagram.com", "instagram"),
        ("instagram.flhr4-1.fna.fbcdn.net", "facebook"),
        ("scontent.xx.fbcdn.net", "facebook"),
        ("m.facebook.com", "facebook"),
        ("pbs.twimg.com", "x"),
        ("x.com", "x"),
        ("twitter.com", "x"),
        ("p16-sign-va.tiktokcdn.com", "tiktok"),
        ("www.tiktok.com", "tiktok"),
        ("media.licdn.com", "linkedin"),
        ("www.linkedin.com", "linkedin"),
        ("vk.com", "vk"),
        ("sun9-74.userapi.com", "vk"),
        ("i.pinimg.com", "pinterest"),
        ("live.staticflickr.com", "flickr"),
        ("i.redd.it", "reddit"),
        ("preview.redd.it", "reddit"),
        ("WWW.INSTAGRAM.COM.", "instagram"),  # case and the root dot do not matter
    ],
)
def test_hosts_name_their_platform(host: str, platform: str) -> None:
    assert platform_of_host(host) == platform


@pytest.mark.parametrize(
    "host",
    [
        "notinstagram.com",  # a suffix match needs a dot boundary
        "instagram.com.evil.example",
        "fbcdn.net.example.org",
        "example.com",
        "photos.google.com",
        "box.com",  # ends in "x.com" without the dot
        "tco.example",
        "",
        "localhost",
    ],
)
def test_other_hosts_name_none(host: str) -> None:
    assert platform_of_host(host) is None


def test_every_host_entry_is_lower_case_and_unique() -> None:
    suffixes = [h for h, _ in HOSTS]
    assert suffixes == [s.lower() for s in suffixes]
    assert len(set(suffixes)) == len(suffixes)


@pytest.mark.parametrize(
    ("name", "platform"),
    [
        ("123456789_1234567890123456_1234567890123456789_n.jpg", "meta"),
        ("441234567_18012345678901234_1234567890123456789_n.webp", "meta"),
        ("123456789_1234567890123456_1234567890123456789_n (1).jpg", "meta"),
        ("10151234567890123_1234567890_n.jpg", "meta"),
        ("received_1234567890123456.jpeg", "facebook"),
        ("IMG-20240101-WA0001.jpg", "whatsapp"),
        ("VID-20231231-WA0012.mp4", "whatsapp"),
        ("photo_2024-01-01_12-00-00.jpg", "telegram"),
        ("photo_2024-01-01_12-00-00 (2).jpg", "telegram"),
        ("signal-2024-01-01-120000.jpg", "signal"),
        ("signal-2024-01-01-120000_001.jpeg", "signal"),
        ("F1abcDEFghiJKLm.jpg_large", "x"),
        ("GabcDEF12hiJ-Lm.jpg:orig", "x"),
        ("F1abcDEFghiJKLm?format=jpg&name=large", "x"),
        ("tos-maliva-avt-0068_0123456789abcdef0123456789abcdef~c5_720x720.jpeg", "tiktok"),
        ("abc123~tplv-photomode-image.jpeg", "tiktok"),
        ("snaptik_7234567890123456789.mp4", "tiktok"),
        ("profile-displayphoto-shrink_800_800.jpg", "linkedin"),
        ("x_1a2b3c4d.jpg", "vk"),
        ("Snapchat-1234567890.jpg", "snapchat"),
        ("archive/photos/IMG-20240101-WA0001.jpg", "whatsapp"),  # the last component counts
    ],
)
def test_download_names_name_their_platform(name: str, platform: str) -> None:
    found = platform_of_name(name)
    assert found is not None and found.platform == platform


@pytest.mark.parametrize(
    "name",
    [
        "IMG_1234.JPG",  # cameras and phones
        "DSC01234.jpg",
        "DSCN0001.JPG",
        "20240101_120000.jpg",  # Samsung
        "IMG_20240101_120000.jpg",  # Android camera
        "PXL_20240101_120000123.jpg",  # Pixel
        "Screenshot_20240101-120000.png",
        "photo.jpg",
        "photo_2024-01-01.jpg",  # a date alone is not Telegram's scheme
        "1234567890.jpg",
        "123456789_1234567890.jpg",  # two ids without the size letter
        "abcdefghijklmno.jpg",  # 15 characters without Twitter's size suffix
        "F1abcDEFghiJKLm.jpg",  # a real Twitter id saved plainly: deliberately not claimed
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9.jpg",  # md5 names (Pinterest, and many tools)
        "IMG-20240101-0001.jpg",  # no -WA
        "x_1a2b3c4d5.jpg",  # nine hex digits
        "profile.jpg",
        "received.jpg",
        "signal.jpg",
    ],
)
def test_camera_and_ordinary_names_are_not_social(name: str) -> None:
    assert platform_of_name(name) is None


def test_every_pattern_documents_its_false_positive_risk() -> None:
    assert all(p.false_positives and p.label for p in NAME_PATTERNS)
