"""Media rules without I/O: content types, extensions, names, ranges, ETags, time limits."""

from __future__ import annotations

import hashlib

import pytest

from hotelbot.domain import media as rules
from tests.support.media import jpeg, ogg_opus, sha256_base64


@pytest.mark.parametrize(("raw", "expected"), [
    ("audio/ogg; codecs=opus", "audio/ogg; codecs=opus"),
    ("Audio/OGG; Codecs=\"opus\"", "audio/ogg; codecs=opus"),
    ("IMAGE/JPEG", "image/jpeg"),
    ("application/pdf;", "application/pdf"),
    ("text/plain; charset=UTF-8", "text/plain; charset=UTF-8"),
    ("image/jpeg\r\nX-Evil: 1", "application/octet-stream"),
    ("text/plain; charset=\"a\r\nb\"", "text/plain"),
    ("jpeg", "application/octet-stream"),
    ("", "application/octet-stream"),
    (None, "application/octet-stream"),
])
def test_content_type_normalized(raw, expected):
    assert rules.normalize_content_type(raw) == expected


@pytest.mark.parametrize(("content_type", "extension"), [
    ("image/jpeg", ".jpg"),
    ("IMAGE/JPEG", ".jpg"),
    ("audio/ogg; codecs=opus", ".ogg"),
    ("image/webp", ".webp"),
    ("application/pdf", ".pdf"),
    ("video/3gpp", ".3gp"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    ("application/x-hotelbot-unknown", ".bin"),
    ("not a type", ".bin"),
])
def test_extension_for_content_type(content_type, extension):
    assert rules.extension_for(content_type) == extension


@pytest.mark.parametrize(("raw", "expected"), [
    ("receipt.pdf", "receipt.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ana\\recibo.pdf", "recibo.pdf"),
    ("nota\x00fiscal.pdf", "notafiscal.pdf"),
    ("fatura\u202egpj.exe", "faturagpj.exe"),
    (".htaccess", "htaccess"),
    ("...", "fallback.bin"),
    ("", "fallback.bin"),
    (None, "fallback.bin"),
    ("São Paulo — recibo.pdf", "São Paulo — recibo.pdf"),
])
def test_display_name_never_a_path(raw, expected):
    assert rules.display_name(raw, "fallback.bin") == expected


def test_content_disposition_encodes_utf8_name():
    header = rules.content_disposition("attachment", 'Recibo "São Paulo".pdf')
    assert header == "attachment; filename=\"Recibo _Sao Paulo_.pdf\"; filename*=UTF-8''Recibo%20%22S%C3%A3o%20Paulo%22.pdf"


@pytest.mark.parametrize("file_id", ["0123456789abcdef0123456789abcdef.jpg", "ffffffffffffffffffffffffffffffff.bin"])
def test_file_id_accepted(file_id):
    assert rules.is_file_id(file_id)


@pytest.mark.parametrize("file_id", [
    "..", "../secrets.json", "0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF.jpg",
    "0123456789abcdef0123456789abcdef.jpg/..", "0123456789abcdef0123456789abcdef.j\x00g", "/etc/passwd",
    "0123456789abcdef0123456789abcdef.jpg\n",
])
def test_file_id_rejected(file_id):
    assert not rules.is_file_id(file_id)


def test_sha256_matches_base64_and_hex():
    content = jpeg()
    digest = hashlib.sha256(content).digest()
    assert rules.sha256_matches(digest, sha256_base64(content))
    assert rules.sha256_matches(digest, digest.hex().upper())
    assert not rules.sha256_matches(digest, sha256_base64(ogg_opus()))
    assert not rules.sha256_matches(digest, "not base64 !")


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-99", (0, 99)),
    ("bytes=100-199", (100, 199)),
    ("bytes=900-", (900, 999)),
    ("bytes=-10", (990, 999)),
    ("bytes=-5000", (0, 999)),
    ("bytes=990-5000", (990, 999)),
    ("BYTES = 5-5", (5, 5)),
])
def test_range_parsed(header, expected):
    byte_range = rules.parse_range(header, 1000)
    assert (byte_range.start, byte_range.end) == expected


@pytest.mark.parametrize("header", [
    "bytes=1000-", "bytes=5-1", "bytes=abc", "bytes=-0", "bytes=0-1,5-6", "items=0-1", "bytes=", "bytes=-",
    "bytes=١-٢", "bytes=0x10-20",
])
def test_range_not_satisfiable(header):
    with pytest.raises(rules.RangeNotSatisfiable):
        rules.parse_range(header, 1000)


def test_no_range_header_means_whole_file():
    assert rules.parse_range(None, 1000) is None


def test_etag_comparison():
    etag = rules.etag_for("ab" * 32)
    assert etag == '"' + "ab" * 32 + '"'
    assert rules.etag_matches(etag, etag)
    assert rules.etag_matches(f'"other", W/{etag}', etag)
    assert rules.etag_matches("*", etag)
    assert not rules.etag_matches('"other"', etag)
    assert not rules.etag_matches(None, etag)


def test_time_limit_scales_with_size():
    limit = rules.SIZE_LIMITS["DOCUMENT"]
    assert rules.download_time_limit(0, limit, 60.0, 16384.0) == 60.0
    assert rules.download_time_limit(16384 * 100, limit, 60.0, 16384.0) == 160.0
    assert rules.download_time_limit(None, limit, 60.0, 16384.0) == 60.0 + limit / 16384.0
    assert rules.download_time_limit(10 * limit, limit, 60.0, 16384.0) == 60.0 + limit / 16384.0


def test_size_limits_per_type():
    assert rules.SIZE_LIMITS == {
        "IMAGE": 5 * 1024 * 1024,
        "STICKER": 500 * 1024,
        "AUDIO": 16 * 1024 * 1024,
        "VIDEO": 16 * 1024 * 1024,
        "DOCUMENT": 100 * 1024 * 1024,
    }
