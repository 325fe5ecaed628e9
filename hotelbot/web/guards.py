"""Who may call a route: attendants with a JWT, N8N with an API key.

``require_user`` puts the principal in ``g.principal`` and sets the request's
language to the user's; ``require_api_key`` puts the tenant id in
``g.tenant_id``. A route declares its policy with these decorators and its
body never checks credentials itself.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from quart import current_app, g, request

from hotelbot.errors import Forbidden, Unauthorized
from hotelbot.i18n import current_language
from hotelbot.services import auth as auth_service
from hotelbot.storage import tenants as tenant_store

logger = logging.getLogger(__name__)


def runtime() -> Any:
    return current_app.extensions["hotelbot"]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_user(*roles: str) -> Callable:
    """Require a valid access token of an active session, and one of ``roles`` when given."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise Unauthorized()
            principal = await auth_service.authenticate(runtime(), token)
            g.principal = principal
            current_language.set(principal["language"])
            if roles and principal["role"] not in roles:
                raise Forbidden()
            return await view(*args, **kwargs)

        return wrapper

    return decorator


def require_api_key(view: Callable) -> Callable:
    """Require the ``X-API-Key`` of a tenant; the key is compared by its SHA-256 hash."""

    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        api_key = request.headers.get("X-API-Key", "")
        if not api_key or len(api_key) > 200:
            raise Unauthorized("Missing or invalid API key.")
        async with runtime().db.read() as connection:
            tenant_id = await tenant_store.select_tenant_id_by_api_key(connection, api_key)
        if tenant_id is None:
            logger.warning("N8N call with an unknown API key from %s", request.remote_addr)
            raise Unauthorized("Missing or invalid API key.")
        g.tenant_id = tenant_id
        return await view(*args, **kwargs)

    return wrapper
