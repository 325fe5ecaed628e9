"""The Graph API client for one hotel group: sends, media, templates, read receipts.

Exceptions::

    GraphError                 Meta answered with its error envelope
    └── GraphUnavailable       Meta could not be reached, or answered 5xx or 429:
                               the same request may succeed later

Every call uses the tenant's bearer token, the configured base URL and
version, and the shared client's timeouts. Tokens never reach a log line.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import httpx

from hotelbot.storage.tenants import Tenant
from hotelbot.whatsapp.errors import RETRYABLE_CODES

logger = logging.getLogger(__name__)


class GraphError(Exception):
    """Meta rejected a request; carries Meta's code, title and details."""

    def __init__(self, status: int, code: int | None, title: str | None, details: str | None, retry_after: float | None = None) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.details = details
        self.retry_after = retry_after
        super().__init__(f"Graph API error {code} (HTTP {status}): {title}")

    def as_error(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "details": self.details}

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status == 429 or self.code in RETRYABLE_CODES


class GraphUnavailable(GraphError):
    """Meta could not be reached or responded 5xx/429; retry later."""


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    url: str
    mime_type: str | None
    sha256: str | None
    file_size: int | None


def _error_from(response: httpx.Response) -> GraphError:
    try:
        envelope = response.json().get("error", {})
    except (ValueError, AttributeError):
        envelope = {}
    if not isinstance(envelope, dict):
        envelope = {}
    retry_after = None
    if response.headers.get("Retry-After", "").isdigit():
        retry_after = float(response.headers["Retry-After"])
    code = envelope.get("code") if isinstance(envelope.get("code"), int) else None
    details = envelope.get("error_data", {}).get("details") if isinstance(envelope.get("error_data"), dict) else None
    args = (response.status_code, code, envelope.get("message") or envelope.get("title"), details, retry_after)
    if response.status_code >= 500 or response.status_code == 429:
        return GraphUnavailable(*args)
    return GraphError(*args)


class GraphClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, version: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/" + version.strip("/")

    def _headers(self, tenant: Tenant) -> dict[str, str]:
        return {"Authorization": f"Bearer {tenant.access_token}"}

    async def _request(self, tenant: Tenant, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self._base}/{path.lstrip('/')}"
        try:
            response = await self._http.request(method, url, headers=self._headers(tenant), **kwargs)
        except httpx.HTTPError as exc:
            logger.warning("Graph API %s %s unreachable for tenant %s: %s", method, path, tenant.id, type(exc).__name__)
            raise GraphUnavailable(0, None, f"unreachable: {type(exc).__name__}", None) from None
        if response.status_code >= 400:
            error = _error_from(response)
            logger.warning("Graph API %s %s failed for tenant %s: HTTP %d code %s", method, path, tenant.id, response.status_code, error.code)
            raise error
        try:
            return response.json()
        except ValueError:
            raise GraphUnavailable(response.status_code, None, "invalid JSON from the Graph API", None) from None

    async def send_message(self, tenant: Tenant, body: dict[str, Any]) -> str:
        """Send a message body (``messaging_product`` added); return its wamid."""
        payload = {"messaging_product": "whatsapp", **body}
        result = await self._request(tenant, "POST", f"{tenant.phone_number_id}/messages", json=payload)
        try:
            return result["messages"][0]["id"]
        except (KeyError, IndexError, TypeError):
            raise GraphUnavailable(200, None, "send response without a message id", None) from None

    async def mark_read(self, tenant: Tenant, wamid: str) -> None:
        await self._request(
            tenant, "POST", f"{tenant.phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )

    async def get_media(self, tenant: Tenant, media_id: str) -> MediaInfo:
        """Return the temporary URL and facts of a media id (the URL expires in minutes)."""
        result = await self._request(tenant, "GET", media_id)
        size = result.get("file_size")
        return MediaInfo(
            url=result["url"],
            mime_type=result.get("mime_type"),
            sha256=result.get("sha256"),
            file_size=int(size) if isinstance(size, (int, str)) and str(size).isdigit() else None,
        )

    def stream(self, tenant: Tenant, url: str, timeout: float) -> Any:
        """Open a streamed GET of a temporary media URL with the tenant's token."""
        return self._http.stream("GET", url, headers=self._headers(tenant), timeout=httpx.Timeout(timeout, connect=10.0))

    async def upload_media(self, tenant: Tenant, filename: str, content: bytes, mime_type: str) -> str:
        result = await self._request(
            tenant, "POST", f"{tenant.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        return result["id"]

    async def list_templates(self, tenant: Tenant) -> list[dict[str, Any]]:
        result = await self._request(
            tenant, "GET", f"{tenant.waba_id}/message_templates",
            params={"status": "APPROVED", "limit": 200, "fields": "name,language,status,category,components"},
        )
        return result.get("data", [])
