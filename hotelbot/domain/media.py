"""Rules for guests' and attendants' media files, without I/O.

WhatsApp's size limits per message type, content types and their file
extensions, file names as people see them (never as paths), HTTP Range and
ETag handling for serving stored files, and the time limit of a download.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import mimetypes
import re
import unicodedata
import urllib.parse

MIB = 1024 * 1024

# WhatsApp Cloud API limits per message type. Meta writes them as "5 MB" and
# so on; they are read here as MiB, the more generous reading. A sticker is
# 100 KB when static and 500 KB when animated; 500 KB is applied to both.
SIZE_LIMITS: dict[str, int] = {
    "IMAGE": 5 * MIB,
    "STICKER": 500 * 1024,
    "AUDIO": 16 * MIB,
    "VIDEO": 16 * MIB,
    "DOCUMENT": 100 * MIB,
}
LARGEST_LIMIT = max(SIZE_LIMITS.values())

DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_EXTENSION = ".bin"

# Extensions of the types WhatsApp sends and accepts. Checked before the
# mimetypes module, whose results depend on the host's /etc/mime.types.
EXTENSIONS: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}

# Content types an attendant may send, and the message type each is sent as.
# These are the types the WhatsApp Cloud API accepts for uploaded media
# (image/webp only as a sticker, which attendants do not send).
SENDABLE_TYPES: dict[str, str] = {
    "image/jpeg": "IMAGE",
    "image/png": "IMAGE",
    "audio/aac": "AUDIO",
    "audio/amr": "AUDIO",
    "audio/mpeg": "AUDIO",
    "audio/mp4": "AUDIO",
    "audio/ogg": "AUDIO",
    "video/mp4": "VIDEO",
    "video/3gpp": "VIDEO",
    "text/plain": "DOCUMENT",
    "application/pdf": "DOCUMENT",
    "application/msword": "DOCUMENT",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCUMENT",
    "application/vnd.ms-excel": "DOCUMENT",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "DOCUMENT",
    "application/vnd.ms-powerpoint": "DOCUMENT",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "DOCUMENT",
}

# Types a browser may show in the page; every other file is served as an attachment.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/3gpp"})

_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_PARAMETER_VALUE = re.compile(r"[A-Za-z0-9._+-]{1,64}")
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")
_HEX_ID = re.compile(r"[0-9a-f]{32}")
_FILE_ID = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{1,10}")
_DIGITS = re.compile(r"[0-9]{1,19}")


def normalize_content_type(raw: str | None) -> str:
    """Return ``raw`` as lower-case ``type/subtype`` with its well-formed parameters.

    ``Audio/OGG; Codecs=opus`` becomes ``audio/ogg; codecs=opus``. A missing or
    malformed type becomes ``application/octet-stream``. A parameter that
    could contain anything but a plain token is dropped, so the result is
    safe in a Content-Type header.
    """
    if not raw:
        return DEFAULT_CONTENT_TYPE
    essence, _, parameters = raw.partition(";")
    major, slash, minor = essence.strip().lower().partition("/")
    if not slash or not _TOKEN.fullmatch(major) or not _TOKEN.fullmatch(minor):
        return DEFAULT_CONTENT_TYPE

    kept = [f"{major}/{minor}"]
    for parameter in parameters.split(";"):
        name, equals, value = parameter.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if equals and _TOKEN.fullmatch(name) and _PARAMETER_VALUE.fullmatch(value):
            kept.append(f"{name}={value}")
    return "; ".join(kept)


def essence(content_type: str) -> str:
    """Return the ``type/subtype`` part of a normalized content type."""
    return content_type.partition(";")[0].strip()


def extension_for(content_type: str) -> str:
    """Return a file extension for a content type, ``.bin`` when none is known."""
    base = essence(normalize_content_type(content_type))
    extension = EXTENSIONS.get(base) or mimetypes.guess_extension(base, strict=False) or DEFAULT_EXTENSION
    extension = extension.lower()
    return extension if _EXTENSION.fullmatch(extension) else DEFAULT_EXTENSION


def is_tenant_id(value: str) -> bool:
    return bool(_HEX_ID.fullmatch(value))


def is_file_id(value: str) -> bool:
    """Return whether ``value`` has the form of a stored file's id: 32 hex digits and an extension."""
    return bool(_FILE_ID.fullmatch(value))


def display_name(raw: str | None, fallback: str) -> str:
    """Return a file name fit to show and to offer for download, never to build a path.

    Folders, control and format characters are removed and the length is
    capped; an empty result becomes ``fallback``.
    """
    if not raw:
        return fallback
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(character for character in name if unicodedata.category(character)[0] not in ("C", "Z") or character == " ")
    name = name.strip().lstrip(".")[:200].strip()
    return name or fallback


def content_disposition(disposition: str, filename: str) -> str:
    """Return a Content-Disposition value with an ASCII ``filename`` and the UTF-8 ``filename*``."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r'["\\;]', "_", ascii_name).strip() or "file"
    encoded = urllib.parse.quote(filename, safe="")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


def sha256_matches(digest: bytes, expected: str) -> bool:
    """Return whether ``digest`` equals Meta's sha256, which is base64 (hex is accepted too)."""
    expected = expected.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", expected):
        return digest.hex() == expected.lower()
    try:
        return base64.b64decode(expected, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


def download_time_limit(size: int | None, size_limit: int, base_seconds: float, min_rate: float) -> float:
    """Return the seconds a download of ``size`` bytes may take at ``min_rate`` bytes per second.

    An unknown size counts as the type's limit, so a 100 MiB document on a slow
    line gets the time it needs while a sticker still fails fast.
    """
    expected = min(size, size_limit) if size is not None else size_limit
    return base_seconds + expected / min_rate


@dataclasses.dataclass(frozen=True)
class ByteRange:
    """One satisfiable byte range of a file; ``end`` is inclusive, as in Content-Range."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(ValueError):
    """The Range header is malformed, requests several ranges, or lies outside the file."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Return the single byte range a Range header requests, or None without a header.

    Accepts ``bytes=S-E``, ``bytes=S-`` and ``bytes=-N`` (the last N bytes).
    Raises RangeNotSatisfiable for any other form, for several ranges and for
    a range that starts at or beyond the end of the file.
    """
    if header is None:
        return None
    unit, equals, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not equals or "," in spec:
        raise RangeNotSatisfiable(header)
    first, dash, last = (part.strip() for part in spec.strip().partition("-"))
    if not dash or (first and not _DIGITS.fullmatch(first)) or (last and not _DIGITS.fullmatch(last)):
        raise RangeNotSatisfiable(header)

    if not first:
        if not last or int(last) == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(0, size - int(last)), size - 1)

    start = int(first)
    end = int(last) if last else size - 1
    if end < start or start >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, min(end, size - 1))


def etag_for(sha256_hex: str) -> str:
    """Return the strong ETag of a stored file: its quoted SHA-256."""
    return f'"{sha256_hex}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """Return whether an If-None-Match header names ``etag`` (weak comparison, ``*`` matches)."""
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
