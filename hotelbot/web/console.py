"""The attendant console: static files under /app/, and / sending browsers there.

The console is a set of ES modules that speak only the public API and the
Socket.IO events. Every file comes from the package (or the executable), so a
front desk with no internet still gets a working page.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from quart import Blueprint, Response, redirect, send_file
from werkzeug.security import safe_join

from hotelbot.errors import NotFound
from hotelbot.web.guards import runtime

logger = logging.getLogger(__name__)

blueprint = Blueprint("console", __name__)

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
SOCKET_CLIENT = CONSOLE_DIR / "vendor" / "socket.io.esm.min.js"

# The language the page starts in before a user logs in; after login the user's own setting wins.
LANGUAGE_MARK = 'lang="pt-BR"'

# Content types of the console's files, independent of the host's mime.types.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}


def check_assets() -> None:
    """Log an error when the build step that copies the Socket.IO client was not run."""
    if not SOCKET_CLIENT.is_file():
        logger.error("Console asset %s is missing; run `make console` before serving or packaging",
                     SOCKET_CLIENT.name)


@blueprint.get("/")
async def root() -> Response:
    return redirect("/app/", 302)


@blueprint.get("/app")
async def app_without_slash() -> Response:
    return redirect("/app/", 301)


@blueprint.get("/app/")
async def index() -> Response:
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    language = runtime().settings.language
    page = page.replace(LANGUAGE_MARK, f'lang="{"en" if language == "en" else "pt-BR"}"', 1)
    return Response(page, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@blueprint.get("/app/<path:asset>")
async def asset_file(asset: str) -> Response:
    """Serve one console file. Raise NotFound for a path outside the console folder, a missing file or a hidden one.

    A file is hidden when its name or the name of any folder on its path starts with a dot.
    """
    path = safe_join(str(CONSOLE_DIR), asset)
    hidden = any(part.startswith(".") for part in Path(asset).parts)
    if path is None or hidden or not Path(path).is_file():
        raise NotFound()

    suffix = Path(path).suffix
    mimetype = CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = await send_file(path, mimetype=mimetype.split(";")[0], conditional=True)
    response.headers["Content-Type"] = mimetype
    # Revalidated on every load (ETag), so an upgraded executable is picked up at once. send_file also sets
    # Expires from Quart's default max age (12 hours), which would contradict no-cache for HTTP/1.0 caches.
    response.headers["Cache-Control"] = "no-cache"
    response.headers.remove("Expires")
    return response
