"""Real small media files made in the tests, and webhooks that carry them."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import struct
import time
from typing import Any

import httpx
from PIL import Image

from tests.support.fakes import load_fixture


def jpeg(size: int = 32, color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png(size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (10, 80, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def webp(size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (size, size), (255, 0, 120, 200)).save(buffer, format="WEBP")
    return buffer.getvalue()


def pdf() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 60), (255, 255, 255)).save(buffer, format="PDF")
    return buffer.getvalue()


def mp4() -> bytes:
    """An MP4 ``ftyp`` box followed by an empty ``mdat``: the container's real framing, no frames."""
    ftyp = b"ftypisom" + struct.pack(">I", 512) + b"isomiso2mp41"
    return struct.pack(">I", 8 + len(ftyp)) + ftyp + struct.pack(">I", 8) + b"mdat"


def _ogg_crc(data: bytes) -> int:
    """CRC-32 as Ogg computes it: polynomial 0x04C11DB7, no reflection, initial value 0."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, sequence: int, granule: int, header_type: int, serial: int = 0x484F5445) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = b"OggS" + bytes([0, header_type]) + struct.pack("<qIII", granule, serial, sequence, 0)
    page = header + bytes([len(lacing)]) + bytes(lacing) + packet
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus(frames: int = 50) -> bytes:
    """A mono Ogg Opus voice note of ``frames`` 20 ms silent frames (one second by default)."""
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    vendor = b"hotelbot tests"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [_ogg_page(head, 0, 0, 0x02), _ogg_page(tags, 1, 0, 0x00)]
    # TOC 0xF8: CELT full band, 20 ms, mono, one frame; 0xFF 0xFE encodes silence.
    for index in range(frames):
        last = index == frames - 1
        pages.append(_ogg_page(b"\xf8\xff\xfe", index + 2, 312 + 960 * (index + 1), 0x04 if last else 0x00))
    return b"".join(pages)


def sha256_base64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha256(content).digest()).decode()


def media_webhook(fixture: str, media_id: str, content: bytes, wamid: str, **fields: Any) -> dict:
    """Return the fixture's webhook with its media id, sha256 and wamid replaced (and ``fields`` set)."""
    payload = copy.deepcopy(load_fixture(fixture))
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = wamid
    message["timestamp"] = str(int(time.time()))
    body = message[message["type"]]
    body.update({"id": media_id, "sha256": sha256_base64(content), **fields})
    return payload


def text_webhook(wamid: str, body: str = "Olá, preciso de ajuda", phone_number_id: str | None = None) -> dict:
    payload = copy.deepcopy(load_fixture("inbound-text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    if phone_number_id:
        value["metadata"]["phone_number_id"] = phone_number_id
    message = value["messages"][0]
    message["id"] = wamid
    message["timestamp"] = str(int(time.time()))
    message["text"]["body"] = body
    return payload



def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login_sync(base_url: str, email: str, password: str) -> str:
    response = httpx.post(base_url + "/auth/login", json={"email": email, "password": password}, timeout=10)
    response.raise_for_status()
    return response.json()["accessToken"]
